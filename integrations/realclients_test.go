package integrations

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// nodeModules returns the npm packages that scripts/test-deps installs
// (.cache/npm/node_modules at the module root). A missing tool fails the
// test under CI and skips it elsewhere.
func nodeModules(t *testing.T, pkg string) string {
	t.Helper()
	missing := func(what string) {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing: run scripts/test-deps", what)
		}
		t.Skipf("%s is missing: run scripts/test-deps", what)
	}
	if _, err := exec.LookPath("node"); err != nil {
		missing("node")
	}
	dir, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatal("module root not found")
		}
		dir = parent
	}
	nm := filepath.Join(dir, ".cache", "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, pkg, "package.json")); err != nil {
		missing("npm package " + pkg)
	}
	return nm
}

// isolated returns the environment of a client run with its own HOME.
func isolated(home string, extra ...string) []string {
	env := []string{"HOME=" + home, "PATH=" + os.Getenv("PATH"), "LANG=C.UTF-8", "NO_COLOR=1",
		"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1"}
	return append(env, extra...)
}

// TestJSONCParserReadsRewrite: VS Code's own parser (jsonc-parser) reads
// every JSON file the broker rewrote, with no error, and finds the token.
func TestJSONCParserReadsRewrite(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "jsonc-parser")
	var files []string
	for _, gc := range goldenCases {
		if gc.ext == ".json" {
			files = append(files, filepath.Join("testdata", "golden", gc.name, "want.json"))
		}
	}
	script := `
const jsonc = require('jsonc-parser');
const fs = require('fs');
let bad = 0;
for (const f of process.argv.slice(1)) {
  let text = fs.readFileSync(f, 'utf8');
  if (text.charCodeAt(0) === 0xFEFF) text = text.slice(1);
  const errors = [];
  jsonc.parse(text, errors, {allowTrailingComma: true, disallowComments: false});
  if (errors.length) { bad++; console.log(f + ': ' + JSON.stringify(errors.map(e => jsonc.printParseErrorCode(e.error) + '@' + e.offset))); }
}
process.exit(bad ? 1 : 0);
`
	cmd := exec.Command("node", append([]string{"-e", script}, files...)...)
	cmd.Env = append(os.Environ(), "NODE_PATH="+nm)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("jsonc-parser rejected a rewritten file: %v\n%s", err, out)
	}
	if len(files) < 10 {
		t.Fatalf("only %d files checked", len(files))
	}
}

// TestCopilotShowsHeader: the real Copilot CLI reads the header the broker
// wrote into a JSONC mcp-config.json (comments, trailing commas).
func TestCopilotShowsHeader(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@github/copilot")
	env := testEnv(t, nil)
	dir := filepath.Join(env.Home, ".copilot")
	os.MkdirAll(dir, 0o700)
	in := "{\n  // mine\n  \"mcpServers\": {\n    \"other\": {\"type\": \"http\", \"url\": \"https://other.example/mcp\", \"tools\": [\"*\"],},\n  },\n}\n"
	os.WriteFile(filepath.Join(dir, "mcp-config.json"), []byte(in), 0o600)
	tg, err := New(config.Target{Client: "copilot", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Apply(context.Background(), testToken, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(nm, ".bin", "copilot"), "mcp", "get", "api", "--json", "--show-secrets")
	cmd.Env = isolated(env.Home)
	cmd.Dir = env.Home
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("copilot mcp get: %v\n%s", err, out)
	}
	var got map[string]struct {
		Type    string            `json:"type"`
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("copilot output: %v\n%s", err, out)
	}
	api := got["api"]
	if api.URL != "https://apim.contoso.com/mcp" || api.Headers["Authorization"] != bearer(testToken) {
		t.Fatalf("copilot sees %+v, want the url and the written header\n%s", api, out)
	}
}

// TestClaudeConnectsThroughHelper: the real Claude Code CLI, with an
// isolated HOME, connects to the simulator's protected MCP endpoint through
// the headersHelper the broker wrote. The helper here is a stand-in script
// printing a token minted by the simulator (`broker headers` itself is
// tested by the CLI's end-to-end tests).
func TestClaudeConnectsThroughHelper(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@anthropic-ai/claude-code")
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	env := testEnv(t, nil)
	ca := filepath.Join(env.Home, "ca.pem")
	os.WriteFile(ca, sim.CACertPEM(), 0o600)
	jwt := sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour})
	helper := filepath.Join(env.Home, "bin dir", "broker")
	os.MkdirAll(filepath.Dir(helper), 0o700)
	hdr, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + jwt})
	script := "#!/bin/sh\n[ \"$1 $2 $3\" = \"headers --profile data\" ] || exit 9\ncat <<'EOF'\n" + string(hdr) + "\nEOF\n"
	if err := os.WriteFile(helper, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	env.BrokerPath = helper // with a space: the helper line must quote it
	tg, err := New(config.Target{Client: "claude", Server: "api", URL: sim.MCPURL(), Profile: "data"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Apply(context.Background(), token.Token{}, nil); err != nil {
		t.Fatal(err)
	}
	run := func() string {
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(nm, ".bin", "claude"), "mcp", "list")
		cmd.Env = isolated(env.Home, "NODE_EXTRA_CA_CERTS="+ca, "SSL_CERT_FILE="+ca)
		cmd.Dir = env.Home
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("claude mcp list: %v\n%s", err, out)
		}
		return string(out)
	}
	out := run()
	t.Logf("claude mcp list:\n%s", out)
	if !strings.Contains(out, "api") || !strings.Contains(out, "Connected") {
		t.Fatalf("claude mcp list does not show api connected:\n%s", out)
	}
	// Without the helper (a dead token in a static header) it must fail:
	// the test would otherwise pass for an unprotected endpoint.
	tg2, _ := New(config.Target{Client: "claude", Server: "api", Mode: "header"}, env)
	if _, err := tg2.Apply(context.Background(), token.Token{Value: "not-a-token"}, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(tg.Path())
	b = []byte(strings.Replace(string(b), "\"headersHelper\"", "\"x-disabled\"", 1))
	os.WriteFile(tg.Path(), b, 0o600)
	out = run()
	t.Logf("with a bad static token:\n%s", out)
	if strings.Contains(out, "Connected") && !strings.Contains(out, "Failed") && !strings.Contains(out, "Needs authentication") {
		t.Fatalf("claude connected with a bad token:\n%s", out)
	}
}

// TestGeminiConnectsWithHeader: the real Gemini CLI, with an isolated HOME,
// reads the header the broker wrote into a commented ~/.gemini/settings.json
// and connects to the simulator's protected MCP endpoint with it; with a
// wrong token it does not.
func TestGeminiConnectsWithHeader(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@google/gemini-cli")
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	env := testEnv(t, nil)
	ca := filepath.Join(env.Home, "ca.pem")
	os.WriteFile(ca, sim.CACertPEM(), 0o600)
	dir := filepath.Join(env.Home, ".gemini")
	os.MkdirAll(dir, 0o700)
	// Gemini CLI runs no MCP server in an untrusted folder: trust is off here.
	in := "{\n  // mine (Gemini CLI takes comments, not trailing commas)\n  \"security\": {\"folderTrust\": {\"enabled\": false}},\n  \"theme\": \"Default\"\n}\n"
	os.WriteFile(filepath.Join(dir, "settings.json"), []byte(in), 0o600)
	tg, err := New(config.Target{Client: "gemini", Server: "api", URL: sim.MCPURL(), Mode: "header"}, env)
	if err != nil {
		t.Fatal(err)
	}
	list := func(tok string) string {
		if _, err := tg.Apply(context.Background(), token.Token{Value: token.Secret(tok)}, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(nm, ".bin", "gemini"), "mcp", "list")
		cmd.Env = isolated(env.Home, "NODE_EXTRA_CA_CERTS="+ca)
		cmd.Dir = env.Home
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("gemini mcp list: %v\n%s", err, out)
		}
		return string(out)
	}
	out := list(sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour}))
	t.Logf("gemini mcp list:\n%s", out)
	if !strings.Contains(out, "api: "+sim.MCPURL()) || !strings.Contains(out, "Connected") || strings.Contains(out, "Disconnected") {
		t.Fatalf("gemini does not show api connected:\n%s", out)
	}
	if b, _ := os.ReadFile(tg.Path()); !strings.Contains(string(b), "// mine") {
		t.Errorf("the comment was lost:\n%s", b)
	}
	out = list(sim.IssueAccessToken(entrasim.TokenOpts{Audience: entrasim.GraphAudience}))
	t.Logf("with a Graph token:\n%s", out)
	if strings.Contains(out, "- Connected") {
		t.Fatalf("gemini connected with a Graph token:\n%s", out)
	}
}

// TestCodexReadsHelper: the real Codex CLI (0.171) reads each mode the
// broker wrote into config.toml, keeping an APIM key beside it.
func TestCodexReadsHelper(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@openai/codex")
	env := testEnv(t, nil)
	codexHome := filepath.Join(env.Home, ".codex")
	os.MkdirAll(codexHome, 0o700)
	in := "# mine\n[mcp_servers.api]\nurl = \"https://apim.contoso.com/mcp\"\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\" }\n"
	get := func(mode string) map[string]any {
		t.Helper()
		os.WriteFile(filepath.Join(codexHome, "config.toml"), []byte(in), 0o600)
		tg, err := New(config.Target{Client: "codex", Server: "api", Mode: mode, Profile: "data"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := tg.Apply(context.Background(), testToken, nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(nm, ".bin", "codex"), "mcp", "get", "api", "--json")
		cmd.Env = isolated(env.Home, "CODEX_HOME="+codexHome)
		cmd.Dir = env.Home
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("codex mcp get (%s): %v\n%s", mode, err, out)
		}
		var got struct {
			Transport map[string]any `json:"transport"`
		}
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("codex mcp get (%s): %v\n%s", mode, err, out)
		}
		return got.Transport
	}
	tr := get("") // the default: helper
	if tr["type"] != "streamable_http" || tr["url"] != "https://apim.contoso.com/mcp" || tr["http_headers_helper"] == nil {
		t.Errorf("helper mode: transport = %v", tr)
	}
	if h, _ := tr["http_headers"].(map[string]any); len(h) != 1 || h["Ocp-Apim-Subscription-Key"] != "k" {
		t.Errorf("helper mode: http_headers = %v, want only the APIM key", tr["http_headers"])
	}
	tr = get("header")
	if h, _ := tr["http_headers"].(map[string]any); h["Authorization"] != "Bearer "+testToken.Value.Reveal() || h["Ocp-Apim-Subscription-Key"] != "k" || tr["http_headers_helper"] != nil {
		t.Errorf("header mode: transport = %v", tr)
	}
}
