//go:build !linux && !windows

package atomicfile

import (
	"context"
	"fmt"
	"os"
)

// commit renames tmp over path. Between the last look and the rename
// another program's write can still slip in; Linux closes that gap.
func commit(_ context.Context, tmp, path string, _ fileID, _ bool) (bool, error) {
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("replacing %s: %w", path, err)
	}
	return true, nil
}
