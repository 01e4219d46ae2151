package tray

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// scriptNotifier shows macOS notifications through osascript (no cgo), in
// the tray build and in the headless one alike. They cannot carry buttons,
// so a sign-in notice says what to do instead.
type scriptNotifier struct{ log *slog.Logger }

func newNotifier(ctx context.Context, log *slog.Logger, onSignIn func(profile string)) notifier {
	return scriptNotifier{log}
}

func (n scriptNotifier) notify(ctx context.Context, nt notice) error {
	cmd := exec.CommandContext(ctx, "osascript", osascriptArgs("MCP token broker", nt.Summary, darwinBody(nt, uiBuilt))...)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("showing a notification: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n scriptNotifier) close() {}
