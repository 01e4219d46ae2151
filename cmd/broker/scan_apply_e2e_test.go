//go:build unix

package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/scan"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// applyHome is a HOME as people have it before they find the broker:
// Claude Code, VS Code (JSONC with comments), Copilot CLI, Gemini CLI and
// Codex point at the simulator's protected endpoint, four of them with a
// pasted token (two expired), Codex beside an APIM subscription key;
// plus a server that is not Entra's and one that does not answer.
type applyHome struct {
	t                       *testing.T
	bin, home, work, ca     string
	cfgFile                 string
	sim                     *entrasim.Server
	port                    int
	pasted                  []string
	env                     []string
	vscodeFile, codexFile   string
	vscodeOrig, codexOrig   string
	cfgOrig                 string
	claudeFile, copilotFile string
	geminiFile, cursorFile  string
	cursorOrig              string
}

func newApplyHome(t *testing.T) *applyHome {
	t.Helper()
	sim, err := entrasim.Start(entrasim.Options{AutoApproveDevice: true, DeviceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	work := t.TempDir()
	h := &applyHome{t: t, bin: buildBroker(t), work: work, home: filepath.Join(work, "home"), ca: filepath.Join(work, "sim-ca.pem"), sim: sim, port: freePort(t)}
	if err := sim.WriteCA(h.ca); err != nil {
		t.Fatal(err)
	}
	expired := sim.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: time.Now().Add(-3 * time.Hour)})
	valid := sim.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: time.Now().Add(40 * time.Minute)})
	valid2 := sim.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: time.Now().Add(50 * time.Minute)})
	expired2 := sim.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: time.Now().Add(-time.Hour)})
	h.pasted = []string{expired, valid, valid2, expired2}

	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/.well-known/oauth-protected-resource") {
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"resource":"http://` + r.Host + `/mcp","authorization_servers":["http://` + r.Host + `/realms/acme"]}`))
			return
		}
		w.Header().Set("WWW-Authenticate", `Bearer resource_metadata="http://`+r.Host+`/.well-known/oauth-protected-resource/mcp"`)
		w.WriteHeader(http.StatusUnauthorized)
	}))
	t.Cleanup(other.Close)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "http://" + ln.Addr().String() + "/mcp"
	ln.Close()

	mcp := sim.MCPURL()
	h.claudeFile = filepath.Join(h.home, ".claude.json")
	h.write(h.claudeFile, `{
  "numStartups": 12,
  "mcpServers": {
    "data": {"type": "http", "url": "`+mcp+`", "headers": {"Authorization": "Bearer `+expired+`"}},
    "acme": {"type": "http", "url": "`+other.URL+`/mcp"},
    "local-tool": {"type": "stdio", "command": "npx", "args": ["some-local-server"]}
  }
}
`)
	h.vscodeFile = filepath.Join(h.home, ".config", "Code", "User", "mcp.json")
	h.vscodeOrig = `// VS Code user MCP servers
{
	"servers": {
		// pasted this morning
		"data": {
			"type": "http",
			"url": "` + mcp + `",
			"headers": {"Authorization": "Bearer ` + valid + `",},
		},
		"gone": {"type": "http", "url": "` + dead + `"}, // does not answer
	},
}
`
	h.write(h.vscodeFile, h.vscodeOrig)
	h.copilotFile = filepath.Join(h.home, ".copilot", "mcp-config.json")
	h.write(h.copilotFile, `{"mcpServers": {"data": {"type": "http", "url": "`+mcp+`", "headers": {"Authorization": "Bearer `+valid2+`"}, "tools": ["*"]}}}`+"\n")
	// Gemini CLI runs no MCP server in an untrusted folder.
	h.geminiFile = filepath.Join(h.home, ".gemini", "settings.json")
	h.write(h.geminiFile, `{"security": {"folderTrust": {"enabled": false}}, "mcpServers": {"data": {"httpUrl": "`+mcp+`"}}}`+"\n")
	// A file that does not parse is reported and left alone.
	h.cursorFile = filepath.Join(h.home, ".cursor", "mcp.json")
	h.cursorOrig = "{\n  \"mcpServers\": {\n    \"data\": {\"url\": \"" + mcp + "\"\n  }\n"
	h.write(h.cursorFile, h.cursorOrig)
	h.codexFile = filepath.Join(h.home, ".codex", "config.toml")
	h.codexOrig = `model = "o4"

# the data platform, through APIM
[mcp_servers.data]
url = "` + mcp + `"
http_headers = { "Ocp-Apim-Subscription-Key" = "k-123", Authorization = "Bearer ` + expired2 + `" }
`
	h.write(h.codexFile, h.codexOrig)
	h.cfgFile = filepath.Join(h.home, ".config", "mcp-token-broker", "config.toml")
	h.cfgOrig = fmt.Sprintf("# my broker settings\n[settings]\nproxy_port = %d   # a port of my own\nca_file = %q\n", h.port, h.ca)
	h.write(h.cfgFile, h.cfgOrig)
	h.env = isolatedEnv("HOME="+h.home, "XDG_RUNTIME_DIR="+filepath.Join(work, "run"),
		"BROKER_ADMIN_CONFIG="+filepath.Join(work, "no-admin.toml"), "DBUS_SESSION_BUS_ADDRESS=", "DISABLE_AUTOUPDATER=1",
		"SSL_CERT_FILE="+h.ca, "NODE_EXTRA_CA_CERTS="+h.ca, "NO_COLOR=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1")
	return h
}

func (h *applyHome) write(path, data string) {
	h.t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		h.t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
		h.t.Fatal(err)
	}
}

// broker runs the binary with stdin a pipe (no terminal).
func (h *applyHome) broker(args ...string) (stdout, stderr string, code int) {
	h.t.Helper()
	cmd := exec.Command(h.bin, args...)
	cmd.Env = h.env
	cmd.Dir = h.home
	cmd.Stdin = strings.NewReader("")
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		h.t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// files maps every file under HOME to its SHA-256.
func (h *applyHome) files() map[string][32]byte {
	h.t.Helper()
	out := map[string][32]byte{}
	filepath.WalkDir(h.home, func(p string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			b, _ := os.ReadFile(p)
			out[p] = sha256.Sum256(b)
		}
		return nil
	})
	return out
}

func (h *applyHome) read(path string) string {
	h.t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		h.t.Fatal(err)
	}
	return string(b)
}

// TestScanApply is the issue's "done when": on that HOME, `broker scan
// --apply --yes` leaves no pasted token anywhere, the sign-in works, the
// real clients connect with a fresh token, and a second run proposes
// nothing; the hand-edited files keep their other bytes.
func TestScanApply(t *testing.T) {
	t.Parallel()
	h := newApplyHome(t)
	const profile = "mcp-demo-api" // after the API's App ID URI, api://mcp-demo-api
	before := h.files()

	t.Run("a new profile needs a client ID", func(t *testing.T) {
		out, errOut, code := h.broker("scan", "--apply", "--yes")
		if code != 2 || !strings.Contains(errOut, "application (client) ID") || !strings.Contains(errOut, "hint: pass --client-id") {
			t.Errorf("exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("no terminal and no --yes: the plan, nothing written", func(t *testing.T) {
		out, errOut, code := h.broker("scan", "--apply", "--client-id", h.sim.ClientID())
		t.Logf("scan --apply:\n%s\n%s", out, errOut)
		if code != 2 || !strings.Contains(errOut, "nothing was written") || !strings.Contains(errOut, "--yes") {
			t.Errorf("exit %d", code)
		}
		for _, f := range []string{h.cfgFile, h.claudeFile, h.vscodeFile, h.copilotFile, h.geminiFile, h.codexFile} {
			if !strings.Contains(out, "+++ "+strings.Replace(f, h.home, "~", 1)+"\n") {
				t.Errorf("the plan has no diff of %s", f)
			}
		}
		for _, want := range []string{"new profile " + profile, `+[profiles.` + profile + `]`, `-    "data": {"type": "http", "url": "` + h.sim.MCPURL() + `", "headers": {"Authorization": "Bearer ***"}},`, "headersHelper"} {
			if !strings.Contains(out, want) {
				t.Errorf("the plan does not say %q", want)
			}
		}
		if jwtRE.MatchString(out+errOut) || strings.Contains(out+errOut, "k-123") {
			t.Error("the plan prints a secret")
		}
		if got := h.files(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Error("files changed")
		}
	})

	t.Run("on a terminal it asks", func(t *testing.T) {
		scriptBin, err := exec.LookPath("script") // util-linux: runs the broker on a pseudo-terminal
		if err != nil {
			h.needCLI(t, "script")
		}
		cmd := exec.Command(scriptBin, "-qec", h.bin+" scan --apply --client-id "+h.sim.ClientID(), "/dev/null")
		cmd.Env, cmd.Dir, cmd.Stdin = h.env, h.home, strings.NewReader("n\n")
		out, err := cmd.CombinedOutput()
		if err != nil || !strings.Contains(string(out), "apply this plan? [y/N]") || !strings.Contains(string(out), "nothing was written") {
			t.Errorf("%v\n%s", err, out)
		}
		if got := h.files(); fmt.Sprint(got) != fmt.Sprint(before) {
			t.Error("files changed")
		}
	})

	t.Run("apply", func(t *testing.T) {
		out, errOut, code := h.broker("scan", "--apply", "--yes", "--client-id", h.sim.ClientID())
		t.Logf("scan --apply --yes:\n%s\n%s", out, errOut)
		if code != 0 {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(out, "broker login --profile "+profile) {
			t.Error("it does not say how to sign in")
		}
		if !strings.Contains(errOut, "broker: warning: "+h.cursorFile+":5:1: ") {
			t.Error("it does not name the Cursor file's line and column")
		}
		// No JWT in any file under HOME (the broker's own state holds
		// no token yet either: nobody signed in), and no pasted token.
		for p := range h.files() {
			b, _ := os.ReadFile(p)
			if jwtRE.Match(b) {
				t.Errorf("%s holds a JWT:\n%s", p, b)
			}
		}
		// Every other byte of the hand-edited files stays.
		vscode := h.read(h.vscodeFile)
		if want := strings.Replace(h.vscodeOrig, `"headers": {"Authorization": "Bearer `+h.pasted[1]+`",},`, `"headers": {},`, 1); vscode != want {
			t.Errorf("VS Code's file:\n%s\nwant:\n%s", vscode, want)
		}
		codex := h.read(h.codexFile)
		if want := strings.Replace(h.codexOrig, `, Authorization = "Bearer `+h.pasted[3]+`" }`, ` }`, 1); !strings.HasPrefix(codex, want) ||
			!strings.Contains(codex[len(want):], "http_headers_helper = ") {
			t.Errorf("Codex's file:\n%s\nwant it to start with:\n%s", codex, want)
		}
		if cfg := h.read(h.cfgFile); !strings.HasPrefix(cfg, h.cfgOrig) || strings.Count(cfg, "[[profiles."+profile+".targets]]") != 5 {
			t.Errorf("config.toml:\n%s", cfg)
		}
		if b := h.read(h.cursorFile); b != h.cursorOrig {
			t.Errorf("the Cursor file changed:\n%s", b)
		}
		for _, f := range []string{h.claudeFile, h.vscodeFile} {
			if b := h.read(f); !strings.Contains(b, "acme") && !strings.Contains(b, "gone") {
				t.Errorf("%s lost the other servers:\n%s", f, b)
			}
		}
	})

	t.Run("scan reports the broker's, a second apply proposes nothing", func(t *testing.T) {
		out, _, code := h.broker("scan", "--json")
		var r scan.Report
		if err := json.Unmarshal([]byte(out), &r); code != 0 || err != nil {
			t.Fatalf("scan --json: exit %d, %v\n%s", code, err, out)
		}
		n := 0
		for _, s := range r.Servers {
			if s.Name != "data" {
				continue
			}
			n++
			if s.Holds != scan.HoldsBroker || !s.Protection.Entra {
				t.Errorf("%s %s holds %s (%s)", s.Client, s.Name, s.Holds, s.Detail)
			}
		}
		if n != 5 {
			t.Errorf("%d data entries, want 5", n)
		}
		text, _, _ := h.broker("scan")
		t.Logf("scan:\n%s", text)
		if strings.Count(text, "target of profile "+profile) != 5 || !strings.Contains(text, "5 of 7 entries are protected by Entra ID\n") {
			t.Error("scan does not report the five entries as the broker's")
		}
		files := h.files()
		out, errOut, code := h.broker("scan", "--apply", "--yes")
		if code != 0 || !strings.Contains(out, "nothing to apply") {
			t.Errorf("second scan --apply: exit %d\n%s\n%s", code, out, errOut)
		}
		if got := h.files(); fmt.Sprint(got) != fmt.Sprint(files) {
			t.Error("the second run changed files")
		}
	})

	t.Run("sign in", func(t *testing.T) {
		out, errOut, code := h.broker("login", "--device-code", "--profile", profile) // the simulator approves it
		if code != 0 {
			t.Fatalf("login: exit %d\n%s\n%s", code, out, errOut)
		}
		for p := range h.files() {
			b, _ := os.ReadFile(p)
			for _, tok := range h.pasted {
				if bytes.Contains(b, []byte(tok)) {
					t.Errorf("%s holds a pasted token", p)
				}
			}
		}
	})
	if t.Failed() {
		return
	}
	h.startDaemon()
	nm, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules"))

	// fresh reports whether the simulator saw an authorized initialize
	// with a token that none of the pasted ones is.
	fresh := func() bool {
		for _, c := range h.sim.MCPCalls() {
			if c.Method == "initialize" && c.Authorized && !h.pastedFingerprint(c.Token) {
				return true
			}
		}
		return false
	}
	for _, c := range []struct {
		name string
		argv []string
		ok   func(string) bool
	}{
		{"claude", []string{filepath.Join(nm, ".bin", "claude"), "mcp", "list"}, func(out string) bool { return regexpConnected(out, "data") }},
		{"gemini", []string{filepath.Join(nm, ".bin", "gemini"), "mcp", "list"}, func(out string) bool {
			return strings.Contains(out, fmt.Sprintf("data: http://127.0.0.1:%d/%s/gemini/data", h.port, profile)) && strings.Contains(out, "Connected") && !strings.Contains(out, "Disconnected")
		}},
	} {
		t.Run(c.name+" connects", func(t *testing.T) {
			h.needCLI(t, c.argv[0])
			h.sim.ResetLog()
			out, errOut := h.client(t, c.argv...)
			if !c.ok(out + errOut) { // Gemini CLI lists on stderr
				t.Errorf("%s does not list data connected", c.name)
			}
			if !fresh() {
				t.Errorf("the server saw no authorized initialize with a fresh token from %s: %+v", c.name, h.sim.MCPCalls())
			}
		})
	}

	t.Run("copilot connects", func(t *testing.T) {
		loader := filepath.Join(nm, "@github", "copilot", "npm-loader.js")
		h.needCLI(t, loader)
		out, _ := h.client(t, "node", loader, "mcp", "get", "data", "--json")
		var parsed map[string]struct {
			URL     string            `json:"url"`
			Headers map[string]string `json:"headers"`
		}
		if err := json.Unmarshal([]byte(out), &parsed); err != nil {
			t.Fatalf("copilot mcp get --json: %v", err)
		}
		got := parsed["data"]
		if got.URL != fmt.Sprintf("http://127.0.0.1:%d/%s/copilot/data", h.port, profile) || jwtRE.MatchString(out) {
			t.Fatalf("Copilot reads the entry as %+v", got)
		}
		// What Copilot would send, through the daemon's proxy.
		h.sim.ResetLog()
		cs := sdkSession(t, got.URL, got.Headers["Authorization"])
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		if _, err := cs.ListTools(ctx, nil); err != nil {
			t.Fatalf("tools/list through Copilot's entry: %v", err)
		}
		if !fresh() {
			t.Errorf("the server saw no fresh token through the proxy: %+v", h.sim.MCPCalls())
		}
	})

	t.Run("vscode's file holds a fresh token", func(t *testing.T) {
		b := h.read(h.vscodeFile)
		tok := jwtRE.FindString(b)
		if tok == "" || h.pastedFingerprint(entrasim.Fingerprint(tok)) {
			t.Fatalf("VS Code's file:\n%s", b)
		}
		// What VS Code sends with it.
		h.sim.ResetLog()
		req, _ := http.NewRequest(http.MethodPost, h.sim.MCPURL(), strings.NewReader(
			`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"vscode","version":"1"}}}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := h.sim.HTTPClient().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !fresh() {
			t.Errorf("VS Code's token: HTTP %d, calls %+v", resp.StatusCode, h.sim.MCPCalls())
		}
	})

	t.Run("codex connects", func(t *testing.T) {
		codex := filepath.Join(nm, ".bin", "codex")
		h.needCLI(t, codex)
		out, _ := h.client(t, codex, "mcp", "get", "data", "--json")
		var got struct {
			Transport struct {
				URL         string            `json:"url"`
				HTTPHeaders map[string]string `json:"http_headers"`
				Helper      *string           `json:"http_headers_helper"`
			} `json:"transport"`
		}
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("codex mcp get --json: %v", err)
		}
		if tr := got.Transport; tr.URL != h.sim.MCPURL() || tr.Helper == nil || len(tr.HTTPHeaders) != 1 || tr.HTTPHeaders["Ocp-Apim-Subscription-Key"] != "k-123" {
			t.Fatalf("Codex reads the server as %+v", got.Transport)
		}
		// A session: Codex runs the helper and initializes the server
		// (then it tries its model, which is not there).
		h.sim.ResetLog()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, codex, "exec", "--skip-git-repo-check", "say hi")
		cmd.Env = h.env
		cmd.Dir = h.home
		var log strings.Builder
		cmd.Stdout, cmd.Stderr = &log, &log
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		cmd.WaitDelay = 5 * time.Second
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
		for ctx.Err() == nil && !fresh() {
			time.Sleep(100 * time.Millisecond)
		}
		if !fresh() {
			t.Errorf("Codex did not initialize data with a fresh token; calls %+v\ncodex:\n%s", h.sim.MCPCalls(), log.String())
		}
	})
}

func (h *applyHome) pastedFingerprint(fp string) bool {
	for _, tok := range h.pasted {
		if entrasim.Fingerprint(tok) == fp {
			return true
		}
	}
	return false
}

func (h *applyHome) needCLI(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is not installed (scripts/test-deps)", path)
		}
		t.Skipf("%s is not installed (scripts/test-deps)", path)
	}
}

// client runs a client's CLI in HOME and returns its output.
func (h *applyHome) client(t *testing.T, argv ...string) (stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = h.env
	cmd.Dir = h.home
	var e bytes.Buffer
	cmd.Stderr = &e
	out, err := cmd.Output()
	t.Logf("%s:\n%s%s", strings.Join(argv[1:], " "), out, e.Bytes())
	if err != nil {
		t.Fatalf("%s: %v", filepath.Base(argv[0]), err)
	}
	return string(out), e.String()
}

// startDaemon runs `broker run --no-tray` until the test ends.
func (h *applyHome) startDaemon() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, h.bin, "run", "--no-tray")
	cmd.Env = h.env
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		h.t.Fatal(err)
	}
	h.t.Cleanup(func() { cancel(); cmd.Wait() })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		out, _, _ := h.broker("status", "--json")
		var st state.Status
		if json.Unmarshal([]byte(out), &st) == nil && st.Daemon.Running && st.Proxy != nil && st.Proxy.Address != "" {
			return
		}
		if time.Now().After(deadline) {
			h.t.Fatalf("the daemon's proxy does not listen; status:\n%s\nlog:\n%s", out, log.String())
		}
	}
}
