package cli

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
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
