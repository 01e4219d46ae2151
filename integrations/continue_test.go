package integrations

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"go.yaml.in/yaml/v3"
)

// TestContinueRefuses: what the line edit cannot do safely is refused with
// a hint, and the file stays as it was; a file that does not parse names
// its line.
func TestContinueRefuses(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		"multi-line value": "mcpServers:\n  - name: api\n    url: https://a/mcp\n    requestOptions:\n      headers:\n        Authorization: >-\n          Bearer old\n",
		"flow headers":     "mcpServers:\n  - name: api\n    url: https://a/mcp\n    requestOptions: {headers: {}}\n",
		"empty list":       "mcpServers: []\n",
		"apiKey":           "mcpServers:\n  - name: api\n    url: https://a/mcp\n    apiKey: pasted\n",
	}
	for name, in := range cases {
		env := testEnv(t, nil)
		tg, err := New(config.Target{Client: "continue", Server: "api", URL: "https://a/mcp"}, env)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
		os.WriteFile(tg.Path(), []byte(in), 0o600)
		_, err = tg.Apply(context.Background(), testToken, nil)
		var he *HintError
		if !errors.As(err, &he) || he.Hint == "" {
			t.Errorf("%s: %v, want an error with a hint", name, err)
		}
		if got := readFile(t, tg.Path()); got != in {
			t.Errorf("%s: the file changed:\n%s", name, got)
		}
	}

	// A one-line value is replaced wherever it is, in a flow mapping too.
	env := testEnv(t, nil)
	tg, _ := New(config.Target{Client: "continue", Server: "api"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	flow := "mcpServers: [{name: api, url: 'https://a/mcp', requestOptions: {headers: {Authorization: 'Bearer old'}}}] # mine\n"
	os.WriteFile(tg.Path(), []byte(flow), 0o600)
	if _, err := tg.Apply(context.Background(), testToken, nil); err != nil {
		t.Fatal(err)
	}
	if got, want := readFile(t, tg.Path()), strings.Replace(flow, "Bearer old", bearer(testToken), 1); got != want {
		t.Errorf("flow mapping:\n%s\nwant\n%s", got, want)
	}

	env = testEnv(t, nil)
	tg, _ = New(config.Target{Client: "continue", Server: "api"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	os.WriteFile(tg.Path(), []byte("name: x\nmcpServers:\n  - name: api\n   url: [\n"), 0o600)
	var fe *FileError
	if _, err := tg.Apply(context.Background(), testToken, nil); !errors.As(err, &fe) || fe.Line == 0 {
		t.Errorf("a broken file: %v, want a FileError with a line", err)
	}
}

// TestContinueConnectsWithHeader: the real Continue CLI (cn, headless)
// reads the entry the broker created in ~/.continue/config.yaml and opens
// the MCP session at the simulator with the broker's header: the
// simulator sees initialize and tools/list with that token (cn then fails
// on its model, which has no server here; it has no command that only
// lists MCP servers). With a Graph token no request is authorized.
func TestContinueConnectsWithHeader(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@continuedev/cli")
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	env := testEnv(t, nil)
	ca := filepath.Join(env.Home, "ca.pem")
	os.WriteFile(ca, sim.CACertPEM(), 0o600)
	dir := filepath.Join(env.Home, ".continue")
	os.MkdirAll(dir, 0o700)
	in := "name: Main Config\nversion: 1.0.0\nschema: v1\n# mine\nmodels:\n  - name: m\n    provider: openai\n    model: gpt-4o\n    apiKey: x\n    apiBase: http://127.0.0.1:9/v1\n"
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte(in), 0o600)
	tg, err := New(config.Target{Client: "continue", Server: "api", URL: sim.MCPURL(), Mode: "header"}, env)
	if err != nil {
		t.Fatal(err)
	}
	run := func(jwt string) []entrasim.MCPCall {
		before := len(sim.MCPCalls())
		if _, err := tg.Apply(context.Background(), tokenOf(jwt), nil); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, filepath.Join(nm, ".bin", "cn"), "-p", "say hi")
		cmd.Env = isolated(env.Home, "NODE_EXTRA_CA_CERTS="+ca)
		cmd.Dir = env.Home
		cmd.WaitDelay = 5 * time.Second
		out, _ := cmd.CombinedOutput()
		if ctx.Err() != nil {
			t.Fatalf("cn timed out:\n%s", out)
		}
		t.Logf("cn -p: %s", strings.TrimSpace(string(out)))
		return sim.MCPCalls()[before:]
	}
	jwt := sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour})
	seen := map[string]bool{}
	for _, c := range run(jwt) {
		if c.Authorized && c.Token == entrasim.Fingerprint(jwt) {
			seen[c.Method] = true
		}
	}
	if !seen["initialize"] || !seen["tools/list"] {
		t.Fatalf("the simulator saw no authorized initialize and tools/list with the broker's token: %v", seen)
	}
	if b := readFile(t, tg.Path()); !strings.Contains(b, "# mine") {
		t.Errorf("the comment was lost:\n%s", b)
	}
	calls := run(sim.IssueAccessToken(entrasim.TokenOpts{Audience: entrasim.GraphAudience}))
	if len(calls) == 0 {
		t.Fatal("cn made no request with a Graph token")
	}
	for _, c := range calls {
		if c.Authorized {
			t.Fatalf("a Graph token was authorized: %+v", c)
		}
	}
}

func tokenOf(s string) token.Token { return token.Token{Value: token.Secret(s)} }

// FuzzContinueApply: on any config.yaml the Continue edit either refuses
// (and Remove too) or writes a file that holds the token and, after
// Remove, no token; it never panics.
func FuzzContinueApply(f *testing.F) {
	for _, g := range []string{"continue-existing", "continue-add-headers", "continue-new-item"} {
		if b, err := os.ReadFile(filepath.Join("testdata", "golden", g, "input.yaml")); err == nil {
			f.Add(string(b))
		}
	}
	f.Add("mcpServers:\n- {name: api, url: u, requestOptions: {headers: {Authorization: x}}}\n")
	f.Add("# only a comment\n")
	f.Fuzz(func(t *testing.T, in string) {
		tg := &Target{cfg: config.Target{Client: "continue", Server: "api", URL: "https://a/mcp"}, path: "/x/config.yaml"}
		c := continueClient{}
		out, err := c.apply(tg, []byte(in), true, testToken)
		if err != nil {
			return
		}
		got, _ := continueAuthOf(t, out)
		if got != bearer(testToken) {
			t.Fatalf("apply wrote %q:\n%s", got, out)
		}
		again, err := c.apply(tg, out, true, testToken)
		if err != nil || string(again) != string(out) {
			t.Fatalf("a second apply changed the file (%v):\n%s\n%s", err, out, again)
		}
		rm, err := c.remove(tg, out)
		if err != nil {
			return
		}
		if a, _ := continueAuthOf(t, rm); a == bearer(testToken) {
			t.Fatalf("remove left the token:\n%s", rm)
		}
	})
}

func continueAuthOf(t *testing.T, b []byte) (string, bool) {
	var doc any
	if err := yaml.Unmarshal(b, &doc); err != nil {
		t.Fatalf("the result does not parse: %v\n%s", err, b)
	}
	return continueAuth(doc, "api", false)
}
