//go:build !linux && !windows && !darwin

package tray

import (
	"context"
	"log/slog"
)

func newNotifier(ctx context.Context, log *slog.Logger, onSignIn func(profile string)) notifier {
	return logNotifier{log}
}

// logNotifier only logs.
type logNotifier struct{ log *slog.Logger }

func (l logNotifier) notify(ctx context.Context, n notice) error {
	l.log.Info("notification not shown", "summary", n.Summary)
	return nil
}

func (l logNotifier) close() {}
