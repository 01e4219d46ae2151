package tray

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/brokerd"
	"github.com/mcp-token-broker/mcp-token-broker/broker/challenge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// The real daemon is a Model.
var _ Model = (*daemon.Daemon)(nil)

// helperDaemonMain runs the tray over the real daemon, built as `broker
// run` builds it (brokerd.New), whose one profile signs in against the
// Entra simulator (real MSAL over TLS; the browser is the simulator's
// stand-in) and writes a real file target at $TRAY_TEST_TARGET. A line
// "revoke" on stdin makes the simulator revoke every refresh token.
func helperDaemonMain() int {
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: simulator:", err)
		return 3
	}
	defer sim.Close()
	target := os.Getenv("TRAY_TEST_TARGET")
	dir := filepath.Dir(target)
	cfgPath := filepath.Join(dir, "config.toml")
	cfgText := fmt.Sprintf("[settings]\nstorage = \"file\"\n\n[profiles.data]\ntenant = %q\nclient_id = %q\nscopes = [%q]\nauthority = %q\n\n[[profiles.data.targets]]\nclient = \"file\"\npath = %q\n",
		sim.TenantID(), sim.ClientID(), sim.APIScope("access_as_user"), sim.URL(), target)
	if err := os.WriteFile(cfgPath, []byte(cfgText), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, "helper: config:", err)
		return 3
	}
	cfg, err := config.Load("", cfgPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: config:", err)
		return 3
	}
	sock, err := os.MkdirTemp("", "trayd")
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper:", err)
		return 3
	}
	defer os.RemoveAll(sock)
	hc := sim.HTTPClient()
	d, err := brokerd.New(context.Background(), brokerd.Options{
		Config:          cfg,
		ConfigPath:      cfgPath,
		AdminConfigPath: filepath.Join(dir, "no-admin.toml"),
		StateDir:        filepath.Join(dir, "state"),
		Logger:          log,
		HTTPClient:      hc,
		OpenURL: func(u string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return entrasim.Browse(ctx, hc, u)
		},
		TargetEnv: &integrations.Env{Home: dir, Getenv: func(string) string { return "" }, GOOS: runtime.GOOS, BrokerPath: "/usr/bin/broker"},
		Address:   filepath.Join(sock, "rt", "broker.sock"),
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: daemon:", err)
		return 3
	}
	defer d.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	out := &lockedWriter{w: os.Stdout}
	addr := filepath.Join(sock, "rt", "broker.sock")
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		for sc.Scan() {
			switch sc.Text() {
			case "revoke":
				sim.RevokeRefreshTokens()
				out.line("revoked")
			case "claims":
				sim.RequireAuthContext("c1")
				out.line("challenged " + challengeDaemon(ctx, sim, addr, "demo", "initialize"))
				sim.RequireAuthContext("")
			case "scope":
				sim.RequireScope("Tools.Write")
				out.line("challenged " + challengeDaemon(ctx, sim, addr, "wiki", "tools/call"))
				sim.RequireScope("")
			}
		}
	}()
	if err := Run(ctx, d.Daemon, Options{Logger: log, OnQuit: func() { out.line("quit") }}); err != nil {
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

// challengeDaemon does what the bridge and the proxy do when a server
// challenges the daemon's token: it calls the simulator's MCP endpoint
// (method) as server with the daemon's current token, reads the
// challenge of the refusal and hands it to the daemon over the local API.
// It returns the class of the daemon's answer ("ok" for a token).
func challengeDaemon(ctx context.Context, sim *entrasim.Server, addr, server, method string) string {
	lc, err := localapi.DialAddress(ctx, addr)
	if err != nil {
		return "dial: " + err.Error()
	}
	defer lc.Close()
	tok, err := lc.Token(ctx, "data", 0)
	if err != nil {
		return "token: " + err.Error()
	}
	body := `{"jsonrpc":"2.0","id":1,"method":"` + method + `","params":{"name":"echo","arguments":{"text":"hi"},"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, sim.MCPURL(), strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Authorization", "Bearer "+tok.Value.Reveal())
	resp, err := sim.HTTPClient().Do(req)
	if err != nil {
		return "mcp: " + err.Error()
	}
	resp.Body.Close()
	h := resp.Header.Values("WWW-Authenticate")
	if claims, ok := challenge.Claims(h); ok {
		_, err = lc.Challenge(ctx, "data", server, claims)
	} else if scope, ok := challenge.InsufficientScope(h); ok {
		_, err = lc.ScopeChallenge(ctx, "data", server, strings.Fields(scope))
	} else {
		return fmt.Sprintf("no challenge in the %d answer", resp.StatusCode)
	}
	if err != nil {
		return auth.ClassOf(err).String()
	}
	return "ok"
}
