package integrations

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// simClient is a real client CLI run against the simulator's protected
// endpoint: HOME is a temporary folder holding the simulator's CA.
type simClient struct {
	t    *testing.T
	sim  *entrasim.Server
	env  Env
	ca   string
	bin  string
	args []string
	// extra environment (after HOME, PATH, the CA variables).
	extra []string
}

func newSimClient(t *testing.T, bin string, args ...string) *simClient {
	t.Helper()
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	env := testEnv(t, map[string]string{})
	ca := filepath.Join(env.Home, "ca.pem")
	if err := os.WriteFile(ca, sim.CACertPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return &simClient{t: t, sim: sim, env: env, ca: ca, bin: bin, args: args}
}

// target is a target of the client pointing at the simulator.
func (c *simClient) target(cfg config.Target) *Target {
	c.t.Helper()
	if cfg.URL == "" {
		cfg.URL = c.sim.MCPURL()
	}
	tg, err := New(cfg, c.env)
	if err != nil {
		c.t.Fatal(err)
	}
	return tg
}

// list writes tok with tg and runs the client's listing command.
func (c *simClient) list(tg *Target, tok string) string {
	c.t.Helper()
	if _, err := tg.Apply(context.Background(), token.Token{Value: token.Secret(tok)}, nil); err != nil {
		c.t.Fatal(err)
	}
	return c.run()
}

func (c *simClient) run() string {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, c.bin, c.args...)
	cmd.Env = isolated(c.env.Home, append([]string{"NODE_EXTRA_CA_CERTS=" + c.ca, "SSL_CERT_FILE=" + c.ca}, c.extra...)...)
	cmd.Dir = c.env.Home
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.CombinedOutput()
	if ctx.Err() != nil {
		c.t.Fatalf("%s %s: timed out\n%s", filepath.Base(c.bin), strings.Join(c.args, " "), out)
	}
	if err != nil {
		c.t.Logf("%s %s: %v", filepath.Base(c.bin), strings.Join(c.args, " "), err)
	}
	return string(out)
}

func (c *simClient) goodToken() string {
	return c.sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour})
}

func (c *simClient) graphToken() string {
	return c.sim.IssueAccessToken(entrasim.TokenOpts{Audience: entrasim.GraphAudience})
}

// TestOpencodeConnectsWithHeader: the real opencode binary reads the header
// the broker wrote into ~/.config/opencode/opencode.json and connects to
// the simulator's protected endpoint; with a Graph token it does not.
func TestOpencodeConnectsWithHeader(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "opencode-ai")
	c := newSimClient(t, filepath.Join(nm, ".bin", "opencode"), "mcp", "list")
	c.extra = []string{"OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_MODELS_FETCH=1", "OPENCODE_DISABLE_DEFAULT_PLUGINS=1"}
	tg := c.target(config.Target{Client: "opencode", Server: "api", Mode: "header"})
	out := c.list(tg, c.goodToken())
	t.Logf("opencode mcp list:\n%s", out)
	if !strings.Contains(out, "✓ api") || !strings.Contains(out, "connected") {
		t.Fatalf("opencode does not show api connected:\n%s", out)
	}
	out = c.list(tg, c.graphToken())
	t.Logf("with a Graph token:\n%s", out)
	if strings.Contains(out, "connected") && !strings.Contains(out, "failed") {
		t.Fatalf("opencode connected with a Graph token:\n%s", out)
	}
}

// TestKiloConnectsWithHeader: the real Kilo Code CLI reads the header the
// broker wrote into ~/.config/kilo/kilo.jsonc and connects to the
// simulator's protected endpoint; with a Graph token it does not.
func TestKiloConnectsWithHeader(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@kilocode/cli")
	c := newSimClient(t, filepath.Join(nm, ".bin", "kilo"), "mcp", "list")
	c.extra = []string{"KILO_DISABLE_AUTOUPDATE=1", "KILO_DISABLE_MODELS_FETCH=1", "KILO_DISABLE_DEFAULT_PLUGINS=1"}
	dir := filepath.Join(c.env.Home, ".config", "kilo")
	os.MkdirAll(dir, 0o700)
	// Kilo's own file: JSONC with a comment and a trailing comma.
	os.WriteFile(filepath.Join(dir, "kilo.jsonc"), []byte("{\n  // mine\n  \"$schema\": \"https://app.kilo.ai/config.json\",\n}\n"), 0o600)
	tg := c.target(config.Target{Client: "kilo", Server: "api", Mode: "header"})
	if filepath.Base(tg.Path()) != "kilo.jsonc" {
		t.Fatalf("path %s, want the existing kilo.jsonc", tg.Path())
	}
	out := c.list(tg, c.goodToken())
	t.Logf("kilo mcp list:\n%s", out)
	if !strings.Contains(out, "✓ api") || !strings.Contains(out, "connected") {
		t.Fatalf("kilo does not show api connected:\n%s", out)
	}
	out = c.list(tg, c.graphToken())
	t.Logf("with a Graph token:\n%s", out)
	if strings.Contains(out, "✓ api") {
		t.Fatalf("kilo connected with a Graph token:\n%s", out)
	}
}

// TestQwenConnectsWithHeader: the real Qwen Code CLI reads the header the
// broker wrote into ~/.qwen/settings.json and connects to the simulator's
// protected endpoint; with a Graph token it does not.
func TestQwenConnectsWithHeader(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@qwen-code/qwen-code")
	c := newSimClient(t, filepath.Join(nm, ".bin", "qwen"), "mcp", "list")
	dir := filepath.Join(c.env.Home, ".qwen")
	os.MkdirAll(dir, 0o700)
	// Like Gemini CLI, Qwen Code starts no MCP server in an untrusted folder.
	os.WriteFile(filepath.Join(dir, "settings.json"), []byte("{\n  // mine\n  \"security\": {\"folderTrust\": {\"enabled\": false}}\n}\n"), 0o600)
	tg := c.target(config.Target{Client: "qwen", Server: "api", Mode: "header"})
	out := c.list(tg, c.goodToken())
	t.Logf("qwen mcp list:\n%s", out)
	if !strings.Contains(out, "api: "+c.sim.MCPURL()) || !strings.Contains(out, "Connected") || strings.Contains(out, "Disconnected") {
		t.Fatalf("qwen does not show api connected:\n%s", out)
	}
	if b, _ := os.ReadFile(tg.Path()); !strings.Contains(string(b), "// mine") {
		t.Errorf("the comment was lost:\n%s", b)
	}
	out = c.list(tg, c.graphToken())
	t.Logf("with a Graph token:\n%s", out)
	if strings.Contains(out, "- Connected") {
		t.Fatalf("qwen connected with a Graph token:\n%s", out)
	}
}

// TestClineReadsEntry: the Cline CLI has no offline listing command (`cline
// config` needs a terminal), so this checks both directions with the real
// binary: the entry the broker writes is exactly the one `cline mcp add
// --transport http --header … --yes` writes, and Cline finds the
// broker's entry in its file (`cline mcp remove api` uninstalls it and
// keeps the other server).
func TestClineReadsEntry(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "cline")
	bin := filepath.Join(nm, ".bin", "cline")
	const url = "https://apim.contoso.com/mcp"
	run := func(home string, args ...string) string {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = isolated(home)
		cmd.Dir = home
		cmd.WaitDelay = 5 * time.Second
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("cline %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out)
	}
	entry := func(path string) any {
		var doc struct {
			MCPServers map[string]any `json:"mcpServers"`
		}
		if err := json.Unmarshal([]byte(readFile(t, path)), &doc); err != nil {
			t.Fatal(err)
		}
		return doc.MCPServers["api"]
	}

	own := t.TempDir()
	run(own, "mcp", "add", "api", "--transport", "http", "--header", "Authorization: "+bearer(testToken), "--yes", "--json", url)
	env := testEnv(t, nil)
	tg, err := New(config.Target{Client: "cline", Server: "api", URL: url, Mode: "header"}, env)
	if err != nil {
		t.Fatal(err)
	}
	ownTg, _ := New(config.Target{Client: "cline", Server: "api"}, Env{Home: own})
	if ownTg.Path() == tg.Path() {
		t.Fatal("the two homes share a file")
	}
	want := entry(ownTg.Path())
	if want == nil {
		t.Fatalf("cline wrote no entry into %s:\n%s", ownTg.Path(), readFile(t, ownTg.Path()))
	}
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	os.WriteFile(tg.Path(), []byte("{\n  \"mcpServers\": {\n    \"other\": {\"transport\": {\"type\": \"stdio\", \"command\": \"node\", \"args\": [\"srv.js\"]}}\n  }\n}\n"), 0o600)
	if _, err := tg.Apply(context.Background(), testToken, nil); err != nil {
		t.Fatal(err)
	}
	if got := entry(tg.Path()); !reflect.DeepEqual(got, want) {
		t.Fatalf("the broker's entry %v, cline's own %v", got, want)
	}
	out := run(env.Home, "mcp", "remove", "api", "--json")
	if !strings.Contains(out, `"status":"uninstalled"`) {
		t.Fatalf("cline did not find the broker's entry:\n%s", out)
	}
	if after := readFile(t, tg.Path()); strings.Contains(after, `"api"`) || !strings.Contains(after, `"other"`) {
		t.Fatalf("after cline mcp remove api:\n%s", after)
	}
}

// TestOpencodeRunsBridge: opencode starts the bridge entry the broker wrote
// (command as an array) and talks MCP over its stdio. The "broker" here is
// a stand-in that checks its arguments and runs mcp-remote with a token
// minted by the simulator (`broker bridge` itself is tested end to end in
// cmd/broker).
func TestOpencodeRunsBridge(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "opencode-ai")
	nodeModules(t, "mcp-remote")
	c := newSimClient(t, filepath.Join(nm, ".bin", "opencode"), "mcp", "list")
	c.extra = []string{"OPENCODE_DISABLE_AUTOUPDATE=1", "OPENCODE_DISABLE_MODELS_FETCH=1", "OPENCODE_DISABLE_DEFAULT_PLUGINS=1"}
	stand := filepath.Join(c.env.Home, "bin dir", "broker")
	os.MkdirAll(filepath.Dir(stand), 0o700)
	script := "#!/bin/sh\n[ \"$1 $2 $3 $4\" = \"bridge api --profile data\" ] || exit 9\n" +
		"exec node " + shellQuote(filepath.Join(nm, "mcp-remote", "dist", "proxy.js")) + " " + shellQuote(c.sim.MCPURL()) +
		" --header " + shellQuote("Authorization: Bearer "+c.goodToken()) + "\n"
	if err := os.WriteFile(stand, []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	c.env.BrokerPath = stand
	// The header the broker wrote in the remote entry (the ledger knows
	// it) goes when the entry becomes the bridge.
	own := &memOwner{}
	tg := c.target(config.Target{Client: "opencode", Server: "api", Mode: "header"})
	if _, err := tg.Apply(context.Background(), token.Token{Value: "pasted"}, own); err != nil {
		t.Fatal(err)
	}
	br := c.target(config.Target{Client: "opencode", Server: "api", Mode: "bridge", Profile: "data"})
	if _, err := br.Apply(context.Background(), token.Token{}, own); err != nil {
		t.Fatal(err)
	}
	out := c.run()
	t.Logf("opencode mcp list:\n%s", out)
	if !strings.Contains(out, "✓ api") || !strings.Contains(out, "connected") || !strings.Contains(out, "bridge api --profile data") {
		t.Fatalf("opencode does not show the bridge connected:\n%s", out)
	}
	if b := readFile(t, br.Path()); strings.Contains(b, "pasted") || strings.Contains(b, `"url"`) {
		t.Errorf("the bridge entry kept the remote's token or url:\n%s", b)
	}
}
