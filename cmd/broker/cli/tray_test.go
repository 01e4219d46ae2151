package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/installer"
	"github.com/mcp-token-broker/mcp-token-broker/tray"
)

type idleModel struct{}

func (idleModel) Status() state.Status                     { return state.Status{} }
func (idleModel) Subscribe() (<-chan struct{}, func())     { return make(chan struct{}), func() {} }
func (idleModel) SignIn(context.Context, string) error     { return nil }
func (idleModel) SignOut(context.Context, string) error    { return nil }
func (idleModel) RefreshNow(context.Context, string) error { return nil }
func (idleModel) Token(context.Context, string, time.Duration) (token.Token, error) {
	return token.Token{}, errors.New("no token")
}

// Without a session bus the broker runs headless: the daemon runs until
// the context ends, and the log says why there is no tray.
func TestServeWithTrayHeadlessWithoutSessionBus(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	ctx, cancel := context.WithCancel(context.Background())
	ran := make(chan struct{})
	errc := make(chan error, 1)
	go func() {
		errc <- serveWithTray(ctx, log, false, idleModel{}, func(ctx context.Context) error {
			close(ran)
			<-ctx.Done()
			return nil
		}, tray.Options{})
	}()
	<-ran
	time.Sleep(100 * time.Millisecond) // the tray gives up at once
	cancel()
	if err := <-errc; err != nil {
		t.Fatalf("serveWithTray: %v", err)
	}
	if !strings.Contains(logs.String(), "running headless") ||
		(runtime.GOOS == "linux" && !strings.Contains(logs.String(), "DBUS_SESSION_BUS_ADDRESS is not set")) {
		t.Errorf("log does not say why it runs headless:\n%s", logs.String())
	}
}

// A daemon failure ends serveWithTray with that error.
func TestServeWithTrayDaemonError(t *testing.T) {
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	boom := errors.New("boom")
	err := serveWithTray(context.Background(), slog.New(slog.DiscardHandler), true, idleModel{},
		func(context.Context) error { return boom }, tray.Options{})
	if !errors.Is(err, boom) {
		t.Fatalf("serveWithTray = %v, want boom", err)
	}
}

// The tray's Start at login item drives the real installer: on a Linux
// desktop it writes and removes the XDG autostart entry.
func TestStartAtLoginItem(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the XDG autostart entry is Linux's")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("DISPLAY", ":99") // a desktop session: XDG autostart, not systemd
	if newStartAtLogin() == nil {
		t.Fatal("no installer")
	}
	env, err := installer.OSEnv()
	if err != nil {
		t.Fatal(err)
	}
	env.Executable = "/usr/local/bin/broker" // not the test's temporary build
	sal := startAtLogin{env}
	ctx := context.Background()
	entry := filepath.Join(home, ".config", "autostart", "mcp-token-broker.desktop")
	for _, on := range []bool{true, false} {
		if err := sal.SetInstalled(ctx, on); err != nil {
			t.Fatalf("SetInstalled(%v): %v", on, err)
		}
		got, err := sal.Installed(ctx)
		if err != nil || got != on {
			t.Fatalf("after SetInstalled(%v): Installed() = %v, %v", on, got, err)
		}
		if _, err := os.Stat(entry); (err == nil) != on {
			t.Errorf("after SetInstalled(%v): %s exists = %v", on, entry, err == nil)
		}
	}
}
