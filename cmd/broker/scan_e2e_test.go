package main

import (
	"bytes"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/scan"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// scanHome is a HOME whose clients already have MCP servers configured,
// the way people set them up before they find the broker: pasted tokens,
// an env-var reference, a subscription key, a server that is not Entra's
// and one that does not answer.
type scanHome struct {
	home, project      string
	sim                *entrasim.Server
	expired, valid     string // pasted tokens
	nonEntra, deadURL  string
	cursorFile         string
	env                []string
	simURL, simCAFile  string
	expiredAt, validAt time.Time
}

func newScanHome(t *testing.T) *scanHome {
	t.Helper()
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	work := t.TempDir()
	h := &scanHome{home: filepath.Join(work, "home"), project: filepath.Join(work, "src", "data-app"), sim: sim, simURL: sim.MCPURL()}
	h.expiredAt = time.Now().Add(-3 * time.Hour).Truncate(time.Second)
	h.validAt = time.Now().Add(40 * time.Minute).Truncate(time.Second)
	h.expired = sim.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: h.expiredAt})
	h.valid = sim.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: h.validAt})

	// A server protected by another authorization server (Keycloak-like).
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
	h.nonEntra = other.URL + "/mcp"
	// A port nobody listens on.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	h.deadURL = "http://" + ln.Addr().String() + "/mcp"
	ln.Close()

	h.simCAFile = filepath.Join(work, "sim-ca.pem")
	if err := sim.WriteCA(h.simCAFile); err != nil {
		t.Fatal(err)
	}
	write := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(filepath.Join(h.home, ".claude.json"), `{
  "numStartups": 12,
  "mcpServers": {
    "data": {"type": "http", "url": "`+h.simURL+`", "headers": {"Authorization": "Bearer `+h.expired+`"}},
    "acme": {"type": "http", "url": "`+h.nonEntra+`"},
    "local-tool": {"type": "stdio", "command": "npx", "args": ["some-local-server"]}
  },
  "projects": {
    "`+h.project+`": {"mcpServers": {}, "allowedTools": []}
  }
}
`)
	write(filepath.Join(h.project, ".mcp.json"), `{"mcpServers": {"data-project": {"type": "http", "url": "`+h.simURL+`", "headers": {"Authorization": "Bearer ${DATA_TOKEN}"}}}}`+"\n")
	write(filepath.Join(h.home, ".config", "Code", "User", "mcp.json"), `// VS Code user MCP servers
{
	"servers": {
		// pasted this morning
		"data": {
			"type": "http",
			"url": "`+h.simURL+`",
			"headers": {"Authorization": "Bearer `+h.valid+`",},
		},
		"gone": {"type": "http", "url": "`+h.deadURL+`"},
	},
}
`)
	write(filepath.Join(h.home, ".copilot", "mcp-config.json"), `{"mcpServers": {"data": {"type": "http", "url": "`+h.simURL+`", "tools": ["*"]}}}`+"\n")
	write(filepath.Join(h.home, ".codex", "config.toml"), `model = "o4"

[mcp_servers.data]
url = "`+h.simURL+`"
bearer_token_env_var = "DATA_TOKEN"
http_headers = { "Ocp-Apim-Subscription-Key" = "k-123" }
`)
	h.cursorFile = filepath.Join(h.home, ".cursor", "mcp.json")
	write(h.cursorFile, "{\n  \"mcpServers\": {\n    \"data\": {\"url\": \""+h.simURL+"\"\n  }\n")
	h.env = append(os.Environ(),
		"HOME="+h.home, "XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "XDG_RUNTIME_DIR="+filepath.Join(work, "run"),
		"CLAUDE_CONFIG_DIR=", "COPILOT_HOME=", "CODEX_HOME=",
		"SSL_CERT_FILE="+h.simCAFile, "BROKER_ADMIN_CONFIG="+filepath.Join(work, "no-admin.toml"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(work, "no-bus"))
	return h
}

func (h *scanHome) broker(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = h.env
	cmd.Dir = h.home
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return o.String(), e.String(), code
}

// TestScanFindsEntraServers runs the real binary's `scan --json` on that
// HOME: it finds exactly the entries of the simulator's Entra-protected
// endpoint, says what each holds, reports the other two servers without
// failing, names the unparsable file's line and column, and prints no
// token.
func TestScanFindsEntraServers(t *testing.T) {
	t.Parallel()
	bin := buildBroker(t)
	h := newScanHome(t)
	out, errOut, code := h.broker(t, bin, "scan", "--json")
	if code != 0 {
		t.Fatalf("scan exited %d\n%s\n%s", code, out, errOut)
	}
	for _, tok := range []string{h.expired, h.valid, "k-123"} {
		if strings.Contains(out+errOut, tok) {
			t.Fatalf("scan printed a secret:\n%s\n%s", out, errOut)
		}
	}
	var r scan.Report
	if err := json.Unmarshal([]byte(out), &r); err != nil {
		t.Fatalf("scan --json: %v\n%s", err, out)
	}
	type key struct{ client, scope, server string }
	got := map[key]scan.Server{}
	for _, s := range r.Servers {
		got[key{s.Client, s.Scope, s.Name}] = s
	}
	wantEntra := map[key]string{
		{"claude", "user", "data"}:            scan.HoldsPasted,
		{"claude", "project", "data-project"}: scan.HoldsEnvVar,
		{"vscode", "user", "data"}:            scan.HoldsPasted,
		{"copilot", "user", "data"}:           scan.HoldsNothing,
		{"codex", "user", "data"}:             scan.HoldsEnvVar,
	}
	for k, holds := range wantEntra {
		s, ok := got[k]
		switch {
		case !ok:
			t.Errorf("%v not found", k)
		case !s.Protection.Entra || s.Protection.Tenant != h.sim.TenantID() || len(s.Protection.Scopes) != 1 || s.Protection.Scopes[0] != h.sim.Scope() || s.Protection.AppIDURI != h.sim.APIAudience():
			t.Errorf("%v: protection %+v, want Entra tenant %s scope %s", k, s.Protection, h.sim.TenantID(), h.sim.Scope())
		case s.Holds != holds:
			t.Errorf("%v holds %q (%s), want %q", k, s.Holds, s.Detail, holds)
		}
	}
	if n := len(r.Entra()); n != len(wantEntra) {
		t.Errorf("%d entries marked Entra, want %d: %+v", n, len(wantEntra), r.Entra())
	}
	if s := got[key{"claude", "user", "data"}]; s.ExpiresOn == nil || !s.ExpiresOn.Equal(h.expiredAt) || !strings.Contains(s.Detail, "expired 3h ago") {
		t.Errorf("the expired pasted token: %+v", s)
	}
	if s := got[key{"vscode", "user", "data"}]; s.ExpiresOn == nil || !s.ExpiresOn.Equal(h.validAt) || !strings.Contains(s.Detail, "expires in") {
		t.Errorf("the valid pasted token: %+v", s)
	}
	if s := got[key{"codex", "user", "data"}]; len(s.OtherHeaders) != 1 || s.OtherHeaders[0] != "Ocp-Apim-Subscription-Key" || s.Detail != "$DATA_TOKEN" {
		t.Errorf("codex: %+v", s)
	}
	if s, ok := got[key{"claude", "user", "acme"}]; !ok || s.Protection.Entra || !strings.Contains(s.Protection.Note, "not Entra ID") {
		t.Errorf("the non-Entra server: %+v", s)
	}
	if s, ok := got[key{"vscode", "user", "gone"}]; !ok || s.Protection.Entra || !strings.Contains(s.Protection.Note, "did not answer") {
		t.Errorf("the server that does not answer: %+v", s)
	}
	if _, ok := got[key{"claude", "user", "local-tool"}]; ok {
		t.Error("a local stdio server is listed")
	}
	if len(r.Problems) != 1 || !strings.HasPrefix(r.Problems[0], h.cursorFile+":") || !strings.Contains(errOut, h.cursorFile+":") {
		t.Errorf("problems %q, stderr %q: want the Cursor file's PATH:LINE:COL", r.Problems, errOut)
	}

	// The text form says the same.
	text, _, code := h.broker(t, bin, "scan")
	t.Logf("broker scan:\n%s", text)
	if code != 0 || !strings.Contains(text, "Entra ID "+h.sim.TenantID()) || !strings.Contains(text, "5 of 7 entries are protected by Entra ID") {
		t.Errorf("scan (text) exited %d:\n%s", code, text)
	}
}
