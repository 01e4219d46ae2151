//go:build !cgo

package tray

import (
	"context"
	"log/slog"
)

// uiBuilt reports whether this build has a tray: the macOS tray needs cgo.
const uiBuilt = false

// runUI has no tray to show in a macOS build without cgo (the release
// archives are built so): it follows the status and shows notifications
// through osascript until ctx is done.
func runUI(ctx context.Context, log *slog.Logger, loop func(context.Context, ui)) error {
	return runHeadless(ctx, log, loop)
}
