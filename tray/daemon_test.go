package tray

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// The real daemon is a Model.
var _ Model = (*daemon.Daemon)(nil)

// helperDaemonMain runs the tray over the real daemon, whose one profile
// signs in against the Entra simulator (real MSAL over TLS; the browser is
// the simulator's stand-in). A line "revoke" on stdin makes the simulator
// revoke every refresh token.
func helperDaemonMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: simulator:", err)
		return 3
	}
	defer sim.Close()
	p := &config.Profile{Name: "data", Tenant: sim.TenantID(), ClientID: sim.ClientID(),
		Scopes: []string{sim.Scope()}, Authority: sim.URL(), Login: "browser",
		Targets: []config.Target{{Client: "file", Path: "/tmp/data.token", Profile: "data"}}}
	hc := sim.HTTPClient()
	client, err := auth.New(p, auth.Options{
		HTTPClient: hc,
		Logger:     log,
		OpenURL: func(u string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return entrasim.Browse(ctx, hc, u)
		},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: auth:", err)
		return 3
	}
	d, err := daemon.New(daemon.Options{
		Config:    &config.Config{Profiles: map[string]*config.Profile{"data": p}},
		Engine:    simEngine{"data": client},
		NewTarget: func(config.Target) (daemon.Target, error) { return nopTarget{}, nil },
		Logger:    log,
		NoWatch:   true,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: daemon:", err)
		return 3
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	out := &lockedWriter{w: os.Stdout}
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			if sc.Text() == "revoke" {
				sim.RevokeRefreshTokens()
				out.line("revoked")
			}
		}
	}()
	if err := Run(ctx, d, Options{Logger: log, OnQuit: func() { out.line("quit") }}); err != nil {
		fmt.Fprintln(os.Stderr, "helper: run:", err)
		return 3
	}
	cancel()
	if err := <-done; err != nil {
		fmt.Fprintln(os.Stderr, "helper: daemon run:", err)
		return 3
	}
	out.line("exited")
	return 0
}

type simEngine map[string]daemon.Auth

func (e simEngine) Auth(p string) (daemon.Auth, error) {
	a, ok := e[p]
	if !ok {
		return nil, fmt.Errorf("no profile %q", p)
	}
	return a, nil
}

type nopTarget struct{}

func (nopTarget) Apply(context.Context, token.Token) error { return nil }
func (nopTarget) Remove(context.Context) error             { return nil }
