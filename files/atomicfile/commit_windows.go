package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"
)

// commit renames tmp over path. While another program holds path open
// without FILE_SHARE_DELETE (an editor, an antivirus scanner, the client
// itself), the rename fails at once; it is tried again for a moment
// (renameBackoff), checking each time that nobody wrote path meanwhile.
func commit(ctx context.Context, tmp, path string, base fileID, existed bool) (bool, error) {
	var waited time.Duration
	for attempt := 0; ; attempt++ {
		err := os.Rename(tmp, path)
		if err == nil {
			return true, nil
		}
		var errno syscall.Errno
		if !errors.As(err, &errno) {
			return false, fmt.Errorf("replacing %s: %w", path, err)
		}
		d, again := renameBackoff(uint32(errno), attempt, waited)
		if !again {
			if waited > 0 {
				return false, fmt.Errorf("replacing %s: %w (another program held it open for %s)", path, err, waited.Round(100*time.Millisecond))
			}
			return false, fmt.Errorf("replacing %s: %w", path, err)
		}
		select {
		case <-ctx.Done():
			return false, fmt.Errorf("replacing %s: %w", path, ctx.Err())
		case <-time.After(d):
		}
		waited += d
		if now, ok, err := statID(path); err != nil || ok != existed || now != base {
			return false, err // written meanwhile: redo the edit
		}
	}
}
