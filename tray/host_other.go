//go:build !linux

package tray

import (
	"context"
	"log/slog"
)

// Available reports whether a tray icon can be shown: always on Windows,
// on macOS when built with cgo.
func Available(ctx context.Context) (ok bool, why string) {
	if !uiBuilt {
		return false, "this broker was built without cgo, which the macOS tray needs"
	}
	return true, ""
}

// waitForHost has nothing to wait for: the shell is the tray host.
func waitForHost(ctx context.Context, log *slog.Logger) error { return nil }

// keepRegistered has nothing to do outside the StatusNotifierItem protocol.
func keepRegistered(ctx context.Context, log *slog.Logger) {}
