//go:build !(linux || windows || (darwin && cgo))

package tray

import (
	"context"
	"fmt"
	"log/slog"
)

// uiBuilt reports whether this build has a tray.
const uiBuilt = false

// runUI cannot show a tray: macOS needs cgo for it.
func runUI(ctx context.Context, log *slog.Logger, loop func(context.Context, ui)) error {
	return fmt.Errorf("%w: this broker was built without cgo, which the macOS tray needs", ErrUnavailable)
}
