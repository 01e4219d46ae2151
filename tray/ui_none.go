//go:build !(linux || windows || darwin)

package tray

import (
	"context"
	"fmt"
	"log/slog"
)

// uiBuilt reports whether this build has a tray.
const uiBuilt = false

// runUI cannot show a tray on this system.
func runUI(ctx context.Context, log *slog.Logger, loop func(context.Context, ui)) error {
	return fmt.Errorf("%w: this system has no tray support in this broker", ErrUnavailable)
}
