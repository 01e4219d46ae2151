package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// proxyWorld is a temporary HOME signed in against the simulator, with
// the proxy on a free port.
type proxyWorld struct {
	t    *testing.T
	bin  string
	sim  *entrasim.Server
	home string
	ca   string
	port int
	env  []string
}

func newProxyWorld(t *testing.T) *proxyWorld {
	t.Helper()
	bin := buildBroker(t)
	sim, err := entrasim.Start(entrasim.Options{AutoApproveDevice: true, DeviceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	work := t.TempDir()
	w := &proxyWorld{t: t, bin: bin, sim: sim, home: filepath.Join(work, "home"), ca: filepath.Join(work, "sim-ca.pem"), port: freePort(t)}
	if err := sim.WriteCA(w.ca); err != nil {
		t.Fatal(err)
	}
	if err := writeSimConfig(sim, w.home, "data"); err != nil {
		t.Fatal(err)
	}
	namedScopes(t, w.home, sim) // so that a scope challenge can add a scope
	cfg := filepath.Join(w.home, ".config", "mcp-token-broker", "config.toml")
	old, _ := os.ReadFile(cfg)
	// The simulator's CA comes from ca_file only (no SSL_CERT_FILE): the
	// proxy must trust it as sign-in does.
	os.WriteFile(cfg, append([]byte(fmt.Sprintf("[settings]\nproxy_port = %d\nca_file = %q\n\n", w.port, w.ca)), old...), 0o600)
	w.env = isolatedEnv("HOME="+w.home, "XDG_RUNTIME_DIR="+filepath.Join(work, "run"),
		"BROKER_ADMIN_CONFIG="+filepath.Join(work, "no-admin.toml"), "DBUS_SESSION_BUS_ADDRESS=", "DISABLE_AUTOUPDATER=1")
	return w
}

func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// broker runs the binary and returns its combined output and exit code.
func (w *proxyWorld) broker(args ...string) (string, int) {
	w.t.Helper()
	cmd := exec.Command(w.bin, args...)
	cmd.Env = w.env
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("broker %v: %v", args, err)
	}
	return string(out), 0
}

func (w *proxyWorld) must(args ...string) string {
	w.t.Helper()
	out, code := w.broker(args...)
	if code != 0 {
		w.t.Fatalf("broker %s: exit %d\n%s", strings.Join(args, " "), code, out)
	}
	return out
}

// startDaemon runs `broker run --no-tray` until the test ends.
func (w *proxyWorld) startDaemon() *bytes.Buffer {
	w.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, w.bin, "run", "--no-tray")
	cmd.Env = w.env
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.t.Cleanup(func() { cancel(); cmd.Wait() })
	w.waitStatus("the daemon's proxy to listen", func(st state.Status) bool {
		return st.Daemon.Running && st.Proxy != nil && st.Proxy.Address != ""
	})
	return &log
}

func (w *proxyWorld) status() state.Status {
	w.t.Helper()
	cmd := exec.Command(w.bin, "status", "--json")
	cmd.Env = w.env
	out, _ := cmd.Output()
	var st state.Status
	json.Unmarshal(out, &st)
	return st
}

func (w *proxyWorld) waitStatus(what string, cond func(state.Status) bool) state.Status {
	w.t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		if st := w.status(); cond(st) {
			return st
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s; status: %+v", what, w.status())
		}
	}
}

// entry is a server's entry as a client's file holds it.
type entry struct {
	URL     string            `json:"url"`
	HTTPURL string            `json:"httpUrl"`
	Headers map[string]string `json:"headers"`
}

func readEntry(t *testing.T, path, server string) (entry, []byte) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var f struct {
		MCPServers map[string]entry `json:"mcpServers"`
	}
	if err := json.Unmarshal(b, &f); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, b)
	}
	return f.MCPServers[server], b
}

// sdkSession connects the Go SDK's MCP client to url with the header.
func sdkSession(t *testing.T, url, authorization string) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "proxy-e2e", Version: "1"}, nil)
	hc := &http.Client{Transport: headerRT{"Authorization", authorization}}
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: hc}, nil)
	if err != nil {
		t.Fatalf("initialize through the proxy: %v", err)
	}
	t.Cleanup(func() { cs.Close() })
	return cs
}

type headerRT [2]string

func (h headerRT) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set(h[0], h[1])
	return http.DefaultTransport.RoundTrip(r)
}

func echo(t *testing.T, cs *mcp.ClientSession, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("tools/call through the proxy: %v", err)
	}
	if res.IsError || len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != text {
		t.Fatalf("tools/call answered %+v", res)
	}
}

// TestProxyBinary is the proxy end to end: the real binary signs in
// against the simulator, `connect copilot --mode proxy` writes the
// loopback URL and a local credential (no Entra token), the real daemon
// forwards a real MCP client's requests with the current token across
// two token rotations with nothing done to the client, refuses requests
// it must refuse before they reach the server, and the real Copilot CLI,
// Claude Code and Gemini CLI read and use the entries.
func TestProxyBinary(t *testing.T) {
	w := newProxyWorld(t)
	w.must("login", "--device-code", "--profile", "data")
	out := w.must("connect", "copilot", "--server", "api", "--url", w.sim.MCPURL(), "--mode", "proxy")
	t.Logf("connect:\n%s", out)
	if !strings.Contains(out, "start the daemon") {
		t.Errorf("connect does not say that the daemon must run")
	}
	// Another program holds the port: connect says which and what to set.
	held, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", w.port))
	if err != nil {
		t.Fatal(err)
	}
	out, _ = w.broker("connect", "cursor", "--server", "api", "--url", w.sim.MCPURL())
	held.Close()
	if !strings.Contains(out, fmt.Sprintf("port %d on 127.0.0.1 is taken", w.port)) || !strings.Contains(out, "hint: set [settings] proxy_port") {
		t.Errorf("connect with the port taken:\n%s", out)
	}
	copilotFile := filepath.Join(w.home, ".copilot", "mcp-config.json")
	e, raw := readEntry(t, copilotFile, "api")
	wantURL := fmt.Sprintf("http://127.0.0.1:%d/data/copilot/api", w.port)
	if e.URL != wantURL || !strings.HasPrefix(e.Headers["Authorization"], "Bearer ") {
		t.Fatalf("the copilot entry is %+v, want url %s and a bearer", e, wantURL)
	}
	if jwtRE.Match(raw) {
		t.Fatalf("an Entra token is in %s:\n%s", copilotFile, raw)
	}
	cred := strings.TrimPrefix(e.Headers["Authorization"], "Bearer ")
	credFile := filepath.Join(w.home, ".local", "state", "mcp-token-broker", "proxy-credentials.json")
	if fi, err := os.Stat(credFile); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("the credential file: %v %v", fi, err)
	}
	if len(cred) < 43 {
		t.Fatalf("the local credential is %d characters, want 256 bits (43)", len(cred))
	}

	// Without the daemon, status says that nothing answers the URL yet.
	if st := w.status(); st.Proxy == nil || len(st.Proxy.Targets) != 2 || st.Proxy.Targets[0].URL != wantURL || !strings.Contains(st.Proxy.Error, "broker run") {
		t.Errorf("status --json without the daemon: %+v", st.Proxy)
	}
	dlog := w.startDaemon()
	written, _ := os.Stat(copilotFile)

	t.Run("copilot reads the loopback entry", func(t *testing.T) {
		loader, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules", "@github", "copilot", "npm-loader.js"))
		if _, err := os.Stat(loader); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("Copilot CLI is not installed (scripts/test-deps): %v", err)
			}
			t.Skipf("Copilot CLI is not installed (scripts/test-deps): %v", err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		get := exec.CommandContext(ctx, "node", loader, "mcp", "get", "api", "--json")
		get.Env = w.env
		get.Dir = w.home
		out, err := get.Output()
		if err != nil {
			t.Fatalf("copilot mcp get: %v\n%s", err, out)
		}
		var parsed map[string]struct {
			Type    string            `json:"type"`
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal(out, &parsed); err != nil {
			t.Fatalf("copilot mcp get --json: %v: %s", err, out)
		}
		got := parsed["api"]
		if got.URL != wantURL || got.Headers["Authorization"] != "Bearer "+cred || jwtRE.Match(out) {
			t.Fatalf("Copilot reads the entry as %+v", got)
		}
	})

	w.sim.ResetLog()
	cs := sdkSession(t, e.URL, e.Headers["Authorization"])
	t.Run("an MCP client through the proxy", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		tools, err := cs.ListTools(ctx, nil)
		if err != nil || len(tools.Tools) != 2 {
			t.Fatalf("tools/list: %v %+v", err, tools)
		}
		echo(t, cs, "through the proxy")
		calls := w.sim.MCPCalls()
		if len(calls) < 3 {
			t.Fatalf("the server saw %d calls", len(calls))
		}
		for _, c := range calls {
			if !c.Authorized {
				t.Errorf("the server saw %+v", c)
			}
		}
	})

	t.Run("two token rotations, nothing done to the client", func(t *testing.T) {
		for i := 1; i <= 2; i++ {
			before := w.sim.MCPCalls()
			used := before[len(before)-1].Token
			w.sim.RevokeSessions() // a CAE event: every token issued so far is refused
			echo(t, cs, fmt.Sprintf("after rotation %d", i))
			after := w.sim.MCPCalls()[len(before):]
			if len(after) != 2 || after[0].Reason != "session revoked" || !after[1].Authorized || after[1].Token == used {
				t.Fatalf("rotation %d: the server saw %+v, want a refused old token and then a new one", i, after)
			}
		}
		if now, _ := os.Stat(copilotFile); !os.SameFile(now, written) || !now.ModTime().Equal(written.ModTime()) {
			t.Errorf("the client's file was rewritten")
		}
	})

	t.Run("an authentication context: sign in again, nothing done to the client", func(t *testing.T) {
		w.sim.RequireAuthContext("c1")
		defer w.sim.RequireAuthContext("")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		// The client's session survives: it gets a JSON-RPC error that
		// names what to do, not the server's 401.
		if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "step-up"}}); err == nil || !strings.Contains(err.Error(), "broker login --profile data") {
			t.Fatalf("a call without the authentication context: %v, want an error naming broker login", err)
		}
		st := w.waitStatus("sign-in required for the server", func(st state.Status) bool {
			return len(st.Profiles) == 1 && st.Profiles[0].State == state.SignInRequired
		})
		if msg := st.Profiles[0].LastError; !strings.Contains(msg, "your organisation asks you to sign in again for api") {
			t.Errorf("status says %q", msg)
		}
		w.must("login", "--device-code", "--profile", "data") // the simulator approves it
		echo(t, cs, "after the step-up")
		calls := w.sim.MCPCalls()
		if last := calls[len(calls)-1]; !last.Authorized {
			t.Errorf("the server refused the new sign-in's token: %+v", last)
		}
		if now, _ := os.Stat(copilotFile); !os.SameFile(now, written) || !now.ModTime().Equal(written.ModTime()) {
			t.Errorf("the client's file was rewritten")
		}
	})

	t.Run("a scope challenge met silently", func(t *testing.T) {
		// An admin consented after the token was issued: a new token for
		// the union, and the call goes through.
		if err := w.sim.GrantConsent("Tools.Write"); err != nil {
			t.Fatal(err)
		}
		w.sim.RequireScope("Tools.Write")
		defer w.sim.RequireScope("")
		n := len(w.sim.MCPCalls())
		echo(t, cs, "silently")
		var refused, accepted bool
		for _, c := range w.sim.MCPCalls()[n:] {
			if c.Reason == "scope Tools.Write required" {
				refused = true
			}
			if refused && c.Authorized && c.Method == "tools/call" {
				accepted = true
			}
		}
		if !refused || !accepted {
			t.Errorf("the server refused the old token: %v, then took a new one: %v", refused, accepted)
		}
		if st := w.status(); st.Profiles[0].State != state.OK {
			t.Errorf("status after a met challenge: %+v", st.Profiles[0])
		}
	})

	t.Run("a scope challenge: consent in the sign-in, then the call goes through", func(t *testing.T) {
		admin := w.sim.APIScope("Tools.Admin")
		w.sim.RequireScope("Tools.Admin")
		defer w.sim.RequireScope("")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "admin"}})
		if err == nil || !strings.Contains(err.Error(), "broker login --profile data") || !strings.Contains(err.Error(), "api needs scope "+admin) {
			t.Fatalf("a call that needs Tools.Admin: %v, want an error naming the scope and broker login", err)
		}
		st := w.waitStatus("sign-in required for the scope", func(st state.Status) bool {
			return len(st.Profiles) == 1 && st.Profiles[0].State == state.SignInRequired
		})
		if p := st.Profiles[0]; !strings.Contains(p.LastError, "api needs scope "+admin) || p.ChallengedBy != "api" {
			t.Errorf("status says %q by %q", p.LastError, p.ChallengedBy)
		}
		w.must("login", "--device-code", "--profile", "data") // the simulator approves it: consent
		echo(t, cs, "after the consent")
		calls := w.sim.MCPCalls()
		if last := calls[len(calls)-1]; !last.Authorized || last.Method != "tools/call" {
			t.Errorf("the server refused the new sign-in's token: %+v", last)
		}
		if now, _ := os.Stat(copilotFile); !os.SameFile(now, written) || !now.ModTime().Equal(written.ModTime()) {
			t.Errorf("the client's file was rewritten")
		}
	})

	t.Run("a scope of another API: an error that says so", func(t *testing.T) {
		w.sim.RequireScope("api://other-api/Files.Read")
		defer w.sim.RequireScope("")
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "other"}})
		if err == nil || !strings.Contains(err.Error(), "api asks for scope api://other-api/Files.Read, of another API") {
			t.Fatalf("a call that needs another API's scope: %v, want an error saying so", err)
		}
		if st := w.status(); st.Profiles[0].State != state.OK || slices.Contains(st.Profiles[0].AddedScopes, "api://other-api/Files.Read") {
			t.Errorf("status after another API's scope: %+v", st.Profiles[0])
		}
		w.sim.RequireScope("")
		echo(t, cs, "still fine") // the demand lifted: nothing else changed
	})

	t.Run("refused before the server", func(t *testing.T) {
		n := len(w.sim.MCPCalls())
		body := `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`
		for _, c := range []struct{ name, auth, origin, host string }{
			{"no credential", "", "", ""},
			{"wrong credential", "Bearer " + strings.Repeat("x", len(cred)), "", ""},
			{"an Entra token", "Bearer " + w.sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour}), "", ""},
			{"web origin", "Bearer " + cred, "http://evil.example", ""},
			{"rebound host", "Bearer " + cred, "", fmt.Sprintf("evil.example:%d", w.port)},
		} {
			req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			if c.auth != "" {
				req.Header.Set("Authorization", c.auth)
			}
			if c.origin != "" {
				req.Header.Set("Origin", c.origin)
			}
			if c.host != "" {
				req.Host = c.host
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized && resp.StatusCode != http.StatusForbidden {
				t.Errorf("%s: %d %s", c.name, resp.StatusCode, msg)
			}
		}
		refusedAsAnotherUser(t, e.URL, cred, body)
		if got := len(w.sim.MCPCalls()); got != n {
			t.Errorf("the server saw %d refused requests", got-n)
		}
		if b, _ := os.ReadFile(filepath.Join(w.home, ".local", "state", "mcp-token-broker", "broker.log")); bytes.Contains(b, []byte(cred)) || jwtRE.Match(b) {
			t.Errorf("the log holds a secret")
		}
	})

	t.Run("status shows the proxy", func(t *testing.T) {
		st := w.status()
		if st.Proxy == nil || st.Proxy.Address != fmt.Sprintf("127.0.0.1:%d", w.port) || len(st.Proxy.Targets) != 2 {
			t.Fatalf("status --json proxy: %+v", st.Proxy)
		}
		pt := st.Proxy.Targets[0] // data/copilot/api sorts first
		if pt.URL != wantURL || pt.Upstream != w.sim.MCPURL() || pt.Requests < 5 {
			t.Errorf("proxied target: %+v", pt)
		}
		out := w.must("status")
		if !strings.Contains(out, "proxy") || !strings.Contains(out, wantURL) || strings.Contains(out, cred) {
			t.Errorf("status:\n%s", out)
		}
	})

	t.Run("claude code and gemini list the proxied servers connected", func(t *testing.T) {
		w.must("connect", "claude", "--server", "api", "--url", w.sim.MCPURL(), "--mode", "proxy")
		gdir := filepath.Join(w.home, ".gemini")
		os.MkdirAll(gdir, 0o700)
		// Gemini CLI runs no MCP server in an untrusted folder.
		os.WriteFile(filepath.Join(gdir, "settings.json"), []byte(`{"security": {"folderTrust": {"enabled": false}}}`+"\n"), 0o600)
		w.must("connect", "gemini", "--server", "api", "--url", w.sim.MCPURL()) // proxy is gemini's default
		w.waitStatus("four proxied targets", func(st state.Status) bool { return st.Proxy != nil && len(st.Proxy.Targets) == 4 })
		for _, f := range []string{filepath.Join(w.home, ".claude.json"), filepath.Join(gdir, "settings.json")} {
			if b, _ := os.ReadFile(f); jwtRE.Match(b) || !bytes.Contains(b, []byte(fmt.Sprintf("127.0.0.1:%d", w.port))) {
				t.Errorf("%s:\n%s", f, b)
			}
		}
		nm, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules"))
		clients := []struct {
			name string
			argv []string
			ok   func(string) bool
		}{
			{"claude", []string{filepath.Join(nm, ".bin", "claude"), "mcp", "list"}, func(out string) bool { return regexpConnected(out, "api") }},
			{"gemini", []string{filepath.Join(nm, ".bin", "gemini"), "mcp", "list"}, func(out string) bool {
				return strings.Contains(out, "api: "+fmt.Sprintf("http://127.0.0.1:%d/data/gemini/api", w.port)) && strings.Contains(out, "Connected") && !strings.Contains(out, "Disconnected")
			}},
		}
		for _, c := range clients {
			if _, err := os.Stat(c.argv[0]); err != nil {
				if os.Getenv("CI") != "" {
					t.Fatalf("%s is not installed (scripts/test-deps)", c.name)
				}
				t.Logf("%s is not installed (scripts/test-deps)", c.name)
				continue
			}
			w.sim.ResetLog()
			ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
			cmd := exec.CommandContext(ctx, c.argv[0], c.argv[1:]...)
			cmd.Env = append(w.env, "NO_COLOR=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
			cmd.Dir = w.home
			out, err := cmd.CombinedOutput()
			cancel()
			t.Logf("%s mcp list:\n%s", c.name, out)
			if err != nil {
				t.Errorf("%s mcp list: %v", c.name, err)
				continue
			}
			if !c.ok(string(out)) {
				t.Errorf("%s does not list api connected", c.name)
			}
			authorized := false
			for _, call := range w.sim.MCPCalls() {
				authorized = authorized || (call.Method == "initialize" && call.Authorized)
			}
			if !authorized {
				t.Errorf("the server saw no authorized initialize from %s", c.name)
			}
		}
	})

	t.Run("doctor probes through the proxy", func(t *testing.T) {
		w.sim.ResetLog()
		out, code := w.broker("doctor", "--probe")
		t.Logf("doctor --probe:\n%s", out)
		if code != 0 || !strings.Contains(out, "through the proxy") {
			t.Errorf("doctor --probe exited %d", code)
		}
	})

	t.Run("removing a target revokes its credential", func(t *testing.T) {
		g, _ := readEntry(t, filepath.Join(w.home, ".gemini", "settings.json"), "api")
		cfgFile := filepath.Join(w.home, ".config", "mcp-token-broker", "config.toml")
		b, _ := os.ReadFile(cfgFile)
		block := regexp.MustCompile(`(?s)\[\[profiles\.data\.targets\]\]\s*client = "gemini".*?(\n\n|$)`)
		if !block.Match(b) {
			t.Fatalf("no gemini target in:\n%s", b)
		}
		os.WriteFile(cfgFile, block.ReplaceAll(b, nil), 0o600)
		w.waitStatus("three proxied targets", func(st state.Status) bool { return st.Proxy != nil && len(st.Proxy.Targets) == 3 })
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
			req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"ping"}`))
			req.Header.Set("Authorization", g.Headers["Authorization"]) // gemini's credential at copilot's URL
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("another target's credential: %d", resp.StatusCode)
			}
			creds, _ := os.ReadFile(credFile)
			if !bytes.Contains(creds, []byte(strings.TrimPrefix(g.Headers["Authorization"], "Bearer "))) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the removed target's credential is still in %s", credFile)
			}
		}
	})

	t.Run("an event stream passes through as it comes", func(t *testing.T) {
		// A server that sends a progress notification, then waits for the
		// test to have read it before it sends a 2 MB result.
		release := make(chan struct{})
		var bearer string
		up := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
			bearer = r.Header.Get("Authorization")
			rw.Header().Set("Content-Type", "text/event-stream")
			io.WriteString(rw, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
			rw.(http.Flusher).Flush()
			select {
			case <-release:
			case <-r.Context().Done():
				return
			}
			io.WriteString(rw, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\""+strings.Repeat("x", 2<<20)+"\"}]}}\n\n")
		}))
		defer up.Close()
		w.must("connect", "copilot", "--server", "stream", "--url", up.URL+"/mcp", "--mode", "proxy")
		w.waitStatus("the stream target", func(st state.Status) bool { return st.Proxy != nil && len(st.Proxy.Targets) == 4 })
		se, _ := readEntry(t, copilotFile, "stream")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, se.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","_meta":{"progressToken":1}}}`))
		req.Header.Set("Authorization", se.Headers["Authorization"])
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		br := bufio.NewReader(resp.Body)
		var first string
		for first == "" || !strings.HasSuffix(first, "\n\n") {
			line, err := br.ReadString('\n')
			if err != nil {
				t.Fatalf("before the first event ended: %v (%q)", err, first)
			}
			first += line
		}
		if !strings.Contains(first, "notifications/progress") {
			t.Fatalf("first event %q", first)
		}
		close(release) // the server sends the result only now
		rest, err := io.ReadAll(br)
		if err != nil || len(rest) < 2<<20 || !strings.Contains(string(rest[:100]), `"id":1`) {
			t.Fatalf("the result: %d bytes, %v", len(rest), err)
		}
		if !jwtRE.MatchString(bearer) {
			t.Errorf("the server got Authorization %.20q…, want the Entra token", bearer)
		}
	})

	t.Run("logout revokes the local credential", func(t *testing.T) {
		w.must("logout", "--profile", "data")
		n := len(w.sim.MCPCalls())
		req, _ := http.NewRequest(http.MethodPost, e.URL, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
		req.Header.Set("Authorization", "Bearer "+cred)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		msg, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized || len(w.sim.MCPCalls()) != n {
			b, _ := os.ReadFile(credFile)
			t.Errorf("the revoked credential: %d %s\n%s: %s", resp.StatusCode, msg, credFile, b)
		}
		if b, _ := os.ReadFile(copilotFile); bytes.Contains(b, []byte(cred)) {
			t.Errorf("the credential stayed in %s", copilotFile)
		}
	})
	if t.Failed() {
		b, _ := os.ReadFile(filepath.Join(w.home, ".local", "state", "mcp-token-broker", "broker.log"))
		t.Logf("daemon output:\n%s\nbroker.log:\n%s", dlog.String(), b)
	}
}
