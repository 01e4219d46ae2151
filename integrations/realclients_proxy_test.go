package integrations

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// simTokens is the daemon as the proxy sees it: a fresh simulator token.
type simTokens struct{ sim *entrasim.Server }

func (s simTokens) Token(context.Context, string, time.Duration) (token.Token, error) {
	return token.Token{Value: token.Secret(s.sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour})), ExpiresOn: time.Now().Add(time.Hour)}, nil
}
func (simTokens) RefreshNow(context.Context, string) error { return nil }

// viaProxy runs the real proxy (broker/proxy, as the daemon does) in front
// of the simulator for cfg, and gives the client's env its endpoints.
func (c *simClient) viaProxy(cfg config.Target) *Target {
	c.t.Helper()
	cfg.URL, cfg.Mode = c.sim.MCPURL(), ModeProxy
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(c.sim.CACertPEM())
	rt := http.DefaultTransport.(*http.Transport).Clone()
	rt.TLSClientConfig = &tls.Config{RootCAs: pool}
	creds := proxy.NewCredentials(c.t.TempDir())
	px := proxy.New(proxy.Options{Tokens: simTokens{c.sim}, Credentials: creds, Transport: rt})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); px.Run(ctx) }()
	c.t.Cleanup(func() { cancel(); <-done })
	px.Configure(0, []config.Target{cfg})
	_, p, err := net.SplitHostPort(px.Addr())
	if err != nil {
		c.t.Fatalf("the proxy does not listen: %+v", px.Status())
	}
	port, _ := strconv.Atoi(p)
	c.env.Proxy = proxy.Endpoints{Credentials: creds, Port: func() int { return port }}
	return c.target(cfg)
}

// TestNewClientsThroughProxy: opencode, Kilo Code and Qwen Code, whose
// default mode with a url is proxy, read the loopback URL and local
// credential the broker wrote and reach the simulator's protected
// endpoint through the real proxy; with a wrong local credential they
// do not.
func TestNewClientsThroughProxy(t *testing.T) {
	t.Parallel()
	quiet := []string{"OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_MODELS_FETCH=1", "OPENCODE_DISABLE_DEFAULT_PLUGINS=1",
		"KILO_DISABLE_AUTOUPDATE=1", "KILO_DISABLE_MODELS_FETCH=1", "KILO_DISABLE_DEFAULT_PLUGINS=1"}
	for _, tc := range []struct{ client, pkg, bin, ok, bad string }{
		{"opencode", "opencode-ai", "opencode", "✓ api", "✓ api"},
		{"kilo", "@kilocode/cli", "kilo", "✓ api", "✓ api"},
		{"qwen", "@qwen-code/qwen-code", "qwen", "- Connected", "- Connected"},
	} {
		t.Run(tc.client, func(t *testing.T) {
			t.Parallel()
			nm := nodeModules(t, tc.pkg)
			c := newSimClient(t, filepath.Join(nm, ".bin", tc.bin), "mcp", "list")
			c.extra = quiet
			if tc.client == "qwen" {
				os.MkdirAll(filepath.Join(c.env.Home, ".qwen"), 0o700)
				os.WriteFile(filepath.Join(c.env.Home, ".qwen", "settings.json"), []byte(`{"security": {"folderTrust": {"enabled": false}}}`), 0o600)
			}
			tg := c.viaProxy(config.Target{Client: tc.client, Server: "api", Profile: "data"})
			if d := config.DefaultMode(mustModes(t, tc.client), "https://x"); d != ModeProxy {
				t.Fatalf("the default mode with a url is %s, want proxy", d)
			}
			out := c.list(tg, "")
			t.Logf("%s mcp list:\n%s", tc.bin, out)
			if !strings.Contains(out, tc.ok) || !strings.Contains(out, "127.0.0.1") {
				t.Fatalf("%s does not show api connected through the proxy:\n%s", tc.bin, out)
			}
			b := readFile(t, tg.Path())
			os.WriteFile(tg.Path(), []byte(strings.Replace(b, "Bearer ", "Bearer x", 1)), 0o600)
			out = c.run()
			t.Logf("with a wrong local credential:\n%s", out)
			if strings.Contains(out, tc.bad) {
				t.Fatalf("%s connected with a wrong local credential:\n%s", tc.bin, out)
			}
		})
	}
}

func mustModes(t *testing.T, client string) []string {
	t.Helper()
	return clients[client].modes()
}

// TestContinueThroughProxy: the real Continue CLI (headless cn -p) opens
// its MCP session through the real proxy with the local credential the
// broker wrote into config.yaml: the simulator sees initialize and
// tools/list authorized (with the proxy's token); with a wrong local
// credential nothing reaches it.
func TestContinueThroughProxy(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@continuedev/cli")
	c := newSimClient(t, filepath.Join(nm, ".bin", "cn"), "-p", "say hi")
	dir := filepath.Join(c.env.Home, ".continue")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("name: Main Config\nversion: 1.0.0\nschema: v1\nmodels:\n  - name: m\n    provider: openai\n    model: gpt-4o\n    apiKey: x\n    apiBase: http://127.0.0.1:9/v1\n"), 0o600)
	tg := c.viaProxy(config.Target{Client: "continue", Server: "api", Profile: "data"})
	if d := config.DefaultMode(mustModes(t, "continue"), "https://x"); d != ModeProxy {
		t.Fatalf("the default mode with a url is %s, want proxy", d)
	}
	out := c.list(tg, "")
	t.Logf("cn -p: %s", strings.TrimSpace(out))
	seen := map[string]bool{}
	for _, call := range c.sim.MCPCalls() {
		if call.Authorized {
			seen[call.Method] = true
		}
	}
	if !seen["initialize"] || !seen["tools/list"] {
		t.Fatalf("the simulator saw no authorized initialize and tools/list through the proxy: %v\n%s", seen, readFile(t, tg.Path()))
	}
	before := len(c.sim.MCPCalls())
	b := readFile(t, tg.Path())
	os.WriteFile(tg.Path(), []byte(strings.Replace(b, "Bearer ", "Bearer x", 1)), 0o600)
	out = c.run()
	t.Logf("with a wrong local credential: %s", strings.TrimSpace(out))
	if n := len(c.sim.MCPCalls()); n != before {
		t.Fatalf("%d requests reached the simulator with a wrong local credential", n-before)
	}
}
