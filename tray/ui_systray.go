//go:build linux || windows || (darwin && cgo)

package tray

import (
	"context"
	"log/slog"
	"time"

	"fyne.io/systray"
)

// uiBuilt reports whether this build has a tray.
const uiBuilt = true

// runUI runs systray on the calling goroutine and loop in another until
// the tray quits or ctx is done.
func runUI(ctx context.Context, log *slog.Logger, loop func(context.Context, ui)) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s := &systrayUI{ctx: ctx}
	done := make(chan struct{})
	started := make(chan struct{})
	stopWatch := make(chan struct{})
	// Set before Run: systray exports what it holds when it starts.
	systray.SetTitle("MCP token broker")
	onReady := func() {
		close(started)
		go func() {
			defer close(done)
			loop(ctx, s)
		}()
		go func() {
			select {
			case <-ctx.Done():
				systray.Quit()
			case <-stopWatch:
			}
		}()
		go keepRegistered(ctx, log)
	}
	onExit := func() {
		cancel()
		select {
		case <-started:
		default:
			return
		}
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			log.Warn("tray loop did not stop within 5s")
		}
	}
	log.Info("tray starting")
	systray.Run(onReady, onExit)
	close(stopWatch)
	log.Info("tray stopped")
	return nil
}

// systrayUI draws views with systray. It is used by the loop goroutine only.
type systrayUI struct {
	ctx     context.Context
	items   []item
	handles []*systray.MenuItem
	tooltip string
}

func (s *systrayUI) setIcon(name string) { systray.SetIcon(iconData(name)) }

func (s *systrayUI) setTooltip(text string) {
	if text != s.tooltip {
		systray.SetTooltip(fitTooltip(text))
		s.tooltip = text
	}
}

func (s *systrayUI) quit() { systray.Quit() }

func (s *systrayUI) resync() { s.tooltip = "" }

// setMenu updates the items in place when only their words or states
// changed (the menu stays open and stable), and rebuilds the menu when its
// shape changed.
func (s *systrayUI) setMenu(items []item, clicks chan<- item) {
	if sameShape(s.items, items) {
		for i, it := range items {
			old, h := s.items[i], s.handles[i]
			if it == old || h == nil {
				continue
			}
			if it.Label != old.Label {
				h.SetTitle(it.Label)
			}
			if it.Tooltip != old.Tooltip {
				h.SetTooltip(it.Tooltip)
			}
			if it.Disabled != old.Disabled {
				if it.Disabled {
					h.Disable()
				} else {
					h.Enable()
				}
			}
			if it.Checked != old.Checked {
				if it.Checked {
					h.Check()
				} else {
					h.Uncheck()
				}
			}
		}
		s.items = items
		return
	}
	systray.ResetMenu()
	s.items = items
	s.handles = make([]*systray.MenuItem, len(items))
	for i, it := range items {
		if it.Separator {
			systray.AddSeparator()
			continue
		}
		var h *systray.MenuItem
		if it.Checkable {
			h = systray.AddMenuItemCheckbox(it.Label, it.Tooltip, it.Checked)
		} else {
			h = systray.AddMenuItem(it.Label, it.Tooltip)
		}
		if it.Disabled {
			h.Disable()
		}
		s.handles[i] = h
		go forwardClicks(s.ctx, h.ClickedCh, it, clicks)
	}
}

// forwardClicks sends it on clicks for each click of its menu item, until
// the item is removed (its channel closed) or ctx is done.
func forwardClicks(ctx context.Context, ch <-chan struct{}, it item, clicks chan<- item) {
	for range ch {
		select {
		case clicks <- it:
		case <-ctx.Done():
			return
		}
	}
}

// sameShape reports whether b can be drawn by updating the items of a in
// place: same kinds of items doing the same things, in the same order.
func sameShape(a, b []item) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Separator != b[i].Separator || a[i].Checkable != b[i].Checkable ||
			a[i].Action != b[i].Action || a[i].Profile != b[i].Profile {
			return false
		}
	}
	return true
}
