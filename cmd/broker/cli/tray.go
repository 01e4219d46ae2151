package cli

import (
	"context"
	"errors"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
	"github.com/mcp-token-broker/mcp-token-broker/tray"
)

// serveWithTray runs the daemon (runDaemon) in a goroutine and, unless
// noTray, the tray on the calling goroutine, which must be main's (systray
// requires it on macOS). Without a session bus it runs headless; with a bus
// but no tray host yet, the tray waits for one. It returns when the daemon
// stops: after Quit in the tray, SIGTERM or SIGINT, ctx done, or a daemon
// failure (which also closes the tray).
func serveWithTray(ctx context.Context, log *slog.Logger, noTray bool, m tray.Model,
	runDaemon func(context.Context) error, o tray.Options) error {
	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, os.Interrupt)
	defer stop()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		err := runDaemon(ctx)
		cancel() // closes the tray too
		done <- err
	}()
	if noTray {
		log.Info("running headless", "why", "--no-tray")
		return <-done
	}
	if ok, why := tray.Available(ctx); !ok {
		log.Info("no tray available now", "why", why)
	}
	onQuit := o.OnQuit
	o.OnQuit = func() {
		if onQuit != nil {
			onQuit()
		}
		cancel()
	}
	o.Logger = log
	err := tray.Run(ctx, m, o)
	switch {
	case errors.Is(err, tray.ErrUnavailable):
		log.Info("running headless", "why", err)
		return <-done
	case err != nil:
		log.Warn("the tray failed; running headless", "err", err)
		return <-done
	}
	cancel() // the tray closed: Quit, a signal, or the daemon stopped
	return <-done
}

// startAtLogin is the tray's "Start at login" item over the installer: the
// same entry as `broker install` / `broker uninstall`.
type startAtLogin struct{ env installer.Env }

// newStartAtLogin returns nil when the installer cannot work here.
func newStartAtLogin() tray.Installer {
	env, err := installer.OSEnv()
	if err != nil {
		return nil
	}
	return startAtLogin{env}
}

func (s startAtLogin) Installed(ctx context.Context) (bool, error) {
	e, err := installer.Status(s.env)
	return e.Installed, err
}

func (s startAtLogin) SetInstalled(ctx context.Context, on bool) error {
	if on {
		_, err := installer.Install(ctx, s.env, installer.Options{})
		return err
	}
	_, err := installer.Uninstall(ctx, s.env)
	return err
}
