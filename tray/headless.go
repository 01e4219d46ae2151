package tray

import (
	"context"
	"log/slog"
)

// headlessUI is the loop's ui where no tray can be drawn but notifications
// can be shown (macOS built without cgo): it draws nothing and no item is
// ever clicked.
type headlessUI struct{}

func (headlessUI) setIcon(string)              {}
func (headlessUI) setTooltip(string)           {}
func (headlessUI) setMenu([]item, chan<- item) {}
func (headlessUI) quit()                       {}
func (headlessUI) resync()                     {}

// runHeadless runs loop over a headlessUI until ctx is done: the status is
// followed and its changes notified as with a tray. It blocks.
func runHeadless(ctx context.Context, log *slog.Logger, loop func(context.Context, ui)) error {
	log.Info("no tray in this build; showing notifications only")
	loop(ctx, headlessUI{})
	return nil
}
