package tray

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
)

// scriptNotifier shows macOS notifications through osascript (no cgo).
// They cannot carry buttons, so a sign-in notice says to use the menu.
type scriptNotifier struct{ log *slog.Logger }

func newNotifier(ctx context.Context, log *slog.Logger, onSignIn func(profile string)) notifier {
	return scriptNotifier{log}
}

func (n scriptNotifier) notify(ctx context.Context, nt notice) error {
	body := nt.Body
	if nt.SignIn {
		body += " Choose Sign in… in the broker's menu."
	}
	// The texts go in as arguments of the script: nothing to quote.
	cmd := exec.CommandContext(ctx, "osascript",
		"-e", "on run argv",
		"-e", "display notification (item 2 of argv) with title \"MCP token broker\" subtitle (item 1 of argv)",
		"-e", "end run", nt.Summary, body)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("showing a notification: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n scriptNotifier) close() {}
