// Package tray shows the broker in the desktop's notification area: an icon
// for the worst profile state, a menu drawn from the daemon's status (account
// and expiry, Sign in / Sign out, Refresh now, Copy token, each target's last
// result, Open config, Open log, Start at login, Quit) and notifications when
// a profile needs the user. It only reads state and sends commands: the
// daemon owns everything else.
//
// It is built on fyne.io/systray: pure Go over D-Bus (StatusNotifierItem and
// com.canonical.dbusmenu) on Linux, syscalls on Windows, cgo on macOS. Its
// known traps are handled here: the tray is shown only when the session bus
// has a StatusNotifierWatcher (checked on a private connection that starts
// nothing), it re-registers when a tray host appears later, SIGTERM quits it
// cleanly, and Run keeps the calling (main) goroutine, as systray requires.
package tray

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Model is what the tray needs from the daemon. Its methods are called from
// the tray's goroutines, several at once.
type Model interface {
	// Status is the current picture; it does not block.
	Status() state.Status
	// Subscribe returns a channel that receives a value after each change
	// (coalesced) and a function that ends the subscription.
	Subscribe() (<-chan struct{}, func())
	// SignIn signs the profile in interactively; it blocks until the user
	// finished in the browser or ctx is done.
	SignIn(ctx context.Context, profile string) error
	SignOut(ctx context.Context, profile string) error
	RefreshNow(ctx context.Context, profile string) error
	// Token returns a token with at least minValidity left.
	Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error)
}

// Installer turns "Start at login" on and off.
type Installer interface {
	// Installed reports whether the broker starts at login.
	Installed(ctx context.Context) (bool, error)
	// SetInstalled installs or removes the start-at-login entry.
	SetInstalled(ctx context.Context, on bool) error
}

// Options are the tray's settings and seams; every field is optional.
type Options struct {
	ConfigPath string
	LogPath    string
	Logger     *slog.Logger
	// OnQuit is called when the user chooses Quit, before Run returns.
	OnQuit func()
	// Installer drives the "Start at login" item; nil hides it.
	Installer Installer
	// Open opens a file in the desktop's default application; nil uses
	// xdg-open, open or the Windows shell.
	Open func(path string) error
	// Clipboard writes text to the clipboard; nil uses the system one.
	Clipboard func(text string) error
	// Now and Location are the clock; nil means time.Now and time.Local.
	Now      func() time.Time
	Location *time.Location
}

// ErrUnavailable is returned by Run when this platform or session cannot
// show a tray icon (no session bus); the caller runs headless. A macOS build
// without cgo has no tray either, but its Run shows notifications only.
var ErrUnavailable = errors.New("no tray available")

// recheckEvery redraws the menu even when nothing changed, so that "in 47
// min" and the failing-for-minutes notification stay current.
const recheckEvery = 20 * time.Second

// copyMinValidity is the least a copied token has left.
const copyMinValidity = 10 * time.Minute

// Run shows the tray icon and serves its menu until the user chooses Quit,
// ctx is done, or the process gets SIGTERM or SIGINT. It blocks on the
// calling goroutine, which must be the main goroutine (macOS requires it).
// When the session bus has no tray host yet, Run waits for one before it
// shows the icon. It returns an error wrapping ErrUnavailable at once when
// no tray can be shown at all (no session bus); the caller runs headless.
// Run can be called once per process (systray keeps global state).
func Run(ctx context.Context, m Model, o Options) error {
	o = o.withDefaults()
	ctx, stopSignals := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stopSignals()
	if err := waitForHost(ctx, o.Logger); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return err
	}
	t := &tray{m: m, o: o, newNotifier: newNotifier}
	return runUI(ctx, o.Logger, func(ctx context.Context, u ui) { t.loop(ctx, u) })
}

func (o Options) withDefaults() Options {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.OnQuit == nil {
		o.OnQuit = func() {}
	}
	if o.Open == nil {
		o.Open = openFile
	}
	if o.Clipboard == nil {
		o.Clipboard = writeClipboard
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Location == nil {
		o.Location = time.Local
	}
	return o
}

// ui is the tray as the event loop sees it: systray in production. Its
// methods are called from the loop's goroutine only.
type ui interface {
	setIcon(name string)
	setTooltip(text string)
	// setMenu shows items; clicking one sends it on clicks.
	setMenu(items []item, clicks chan<- item)
	// quit closes the tray; Run returns.
	quit()
	// resync makes the next setIcon and setTooltip calls take effect even
	// when nothing changed.
	resync()
}

// resyncAfter are the times after start when the loop draws icon and
// tooltip again: systray v1.12.2 loses a SetIcon or SetTooltip made while
// it is still exporting its D-Bus objects (it stores the value, finds no
// properties yet, and then exports the value it read a moment before), and
// gives no signal when it is done.
var resyncAfter = [...]time.Duration{300 * time.Millisecond, 1500 * time.Millisecond}

// notifier shows desktop notifications.
type notifier interface {
	// notify shows n, replacing the last notification of its profile.
	notify(ctx context.Context, n notice) error
	close()
}

// tray is the event loop's state: one goroutine owns it.
type tray struct {
	m           Model
	o           Options
	newNotifier func(ctx context.Context, log *slog.Logger, onSignIn func(profile string)) notifier
}

// loop draws the status and handles clicks until ctx is done. It is the
// only goroutine that touches u.
func (t *tray) loop(ctx context.Context, u ui) {
	log := t.o.Logger
	changes, unsubscribe := t.m.Subscribe()
	defer unsubscribe()
	signIns := make(chan string, 4) // from notification actions
	nt := t.newNotifier(ctx, log, func(profile string) {
		select {
		case signIns <- profile:
		default:
		}
	})
	defer nt.close()

	var (
		wg       sync.WaitGroup
		clicks   = make(chan item, 8)
		redraw   = make(chan struct{}, 1)
		tick     = time.NewTicker(recheckEvery)
		policy   noticePolicy
		lastIcon string
		sal      = t.startAtLogin(ctx)
		resyncs  = make(chan struct{}, len(resyncAfter))
	)
	for _, d := range resyncAfter {
		timer := time.AfterFunc(d, func() { resyncs <- struct{}{} })
		defer timer.Stop()
	}
	defer tick.Stop()
	defer wg.Wait()
	// do runs a command off the loop, so that a slow sign-in never
	// freezes the menu; failures are logged and shown.
	do := func(name string, f func(ctx context.Context) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(ctx); err != nil && ctx.Err() == nil {
				log.Warn("tray command failed", "command", name, "err", err)
				// A sign-in-required failure already has its own
				// notification (a state change): do not say it twice.
				if !errors.Is(err, auth.ErrSignInRequired) {
					if err := nt.notify(ctx, notice{Summary: name + " failed", Body: err.Error()}); err != nil {
						log.Info("notification failed", "err", err)
					}
				}
			}
			select {
			case redraw <- struct{}{}:
			default:
			}
		}()
	}
	for {
		st := t.m.Status()
		now := t.o.Now()
		v := render(st, now, t.o.Location, local{StartAtLogin: sal, ConfigPath: t.o.ConfigPath, LogPath: t.o.LogPath})
		if v.Icon != lastIcon {
			log.Info("tray icon", "state", v.Icon)
			u.setIcon(v.Icon)
			lastIcon = v.Icon
		}
		u.setTooltip(v.Tooltip)
		u.setMenu(v.Items, clicks)
		for _, n := range policy.observe(st, now, t.o.Location) {
			log.Info("notification", "profile", n.Profile, "summary", n.Summary)
			if err := nt.notify(ctx, n); err != nil {
				log.Info("notification not shown", "err", err)
			}
		}

		select {
		case <-ctx.Done():
			return
		case _, ok := <-changes:
			if !ok {
				changes = nil // the daemon ended its subscription
			}
		case <-tick.C:
		case <-redraw:
			sal = t.startAtLogin(ctx)
		case <-resyncs:
			u.resync()
			lastIcon = ""
		case p := <-signIns:
			do("Sign in", func(ctx context.Context) error { return t.m.SignIn(ctx, p) })
		case it := <-clicks:
			log.Info("tray click", "item", it.Label, "profile", it.Profile)
			t.handle(ctx, u, it, sal, do, nt)
		}
	}
}

// handle runs the command of a clicked item.
func (t *tray) handle(ctx context.Context, u ui, it item, sal startAtLogin, do func(string, func(context.Context) error), nt notifier) {
	p := it.Profile
	switch it.Action {
	case actSignIn:
		do("Sign in", func(ctx context.Context) error { return t.m.SignIn(ctx, p) })
	case actSignOut:
		do("Sign out", func(ctx context.Context) error { return t.m.SignOut(ctx, p) })
	case actRefresh:
		do("Refresh", func(ctx context.Context) error { return t.m.RefreshNow(ctx, p) })
	case actCopyToken, actCopyHeader:
		header := it.Action == actCopyHeader
		do("Copy", func(ctx context.Context) error {
			tok, err := t.m.Token(ctx, p, copyMinValidity)
			if err != nil {
				return fmt.Errorf("getting a token for %s: %w", p, err)
			}
			text := tok.Value.Reveal()
			what := "Token"
			if header {
				text = "Authorization: Bearer " + text
				what = "Authorization header"
			}
			if err := t.o.Clipboard(text); err != nil {
				return fmt.Errorf("writing the clipboard: %w", err)
			}
			t.o.Logger.Info("token copied", "profile", p, "expires_on", tok.ExpiresOn)
			if err := nt.notify(ctx, notice{Profile: p, Summary: what + " copied",
				Body: "Valid until " + validity(tok.ExpiresOn, t.o.Now(), t.o.Location) + "."}); err != nil {
				t.o.Logger.Info("notification failed", "err", err)
			}
			return nil
		})
	case actOpenConfig:
		do("Open config", func(context.Context) error { return t.o.Open(t.o.ConfigPath) })
	case actOpenLog:
		do("Open log", func(context.Context) error { return t.o.Open(t.o.LogPath) })
	case actStartAtLogin:
		on := !sal.Installed
		do("Start at login", func(ctx context.Context) error { return t.o.Installer.SetInstalled(ctx, on) })
	case actQuit:
		t.o.Logger.Info("quit chosen in the tray")
		t.o.OnQuit()
		u.quit()
	}
}

// startAtLogin reads the start-at-login state for the check item.
func (t *tray) startAtLogin(ctx context.Context) startAtLogin {
	if t.o.Installer == nil {
		return startAtLogin{}
	}
	on, err := t.o.Installer.Installed(ctx)
	if err != nil {
		t.o.Logger.Warn("reading start at login", "err", err)
		return startAtLogin{}
	}
	return startAtLogin{Known: true, Installed: on}
}
