package scan

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/aymanbagabas/go-udiff"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// TestApply wires a Claude Code entry whose pasted token the helper
// replaces and a VS Code workspace file that git tracks (header mode
// would put a token there: refused up front, nothing of it written);
// Preview before writes nothing at all, not even the state folder.
func TestApply(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("no git")
	}
	ctx := context.Background()
	home := t.TempDir()
	env := integrations.Env{Home: home, GOOS: "linux", Getenv: func(string) string { return "" }, BrokerPath: "/usr/bin/broker"}
	// Not a JWT, so the test names no real token: it holds the place of one.
	const pasted = "pasted.token.value"
	claudeFile := filepath.Join(home, ".claude.json")
	claudeOrig := `{"mcpServers": {"data": {"type": "http", "url": "https://apim.contoso.com/data/mcp",
  "headers": {"Authorization": "Bearer ` + pasted + `", "Ocp-Apim-Subscription-Key": "k-1"}}}}` + "\n"
	repo := filepath.Join(home, "src", "app")
	vscodeFile := filepath.Join(repo, ".vscode", "mcp.json")
	vscodeOrig := `{"servers": {"data": {"type": "http", "url": "https://apim.contoso.com/data/mcp", "headers": {"Authorization": "Bearer ` + pasted + `"}}}}` + "\n"
	for path, data := range map[string]string{claudeFile: claudeOrig, vscodeFile: vscodeOrig} {
		os.MkdirAll(filepath.Dir(path), 0o700)
		if err := os.WriteFile(path, []byte(data), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	git := func(args ...string) {
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Env = append(os.Environ(), "HOME="+home, "GIT_CONFIG_NOSYSTEM=1")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	git("add", ".vscode/mcp.json")

	const tenant = "11111111-2222-3333-4444-555555555555"
	r := Report{Servers: []Server{
		entra("claude", "data", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsPasted),
		entra("vscode", "data", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsPasted),
	}}
	r.Servers[0].Path, r.Servers[0].pasted = claudeFile, token.Secret(pasted)
	r.Servers[1].Path, r.Servers[1].Scope, r.Servers[1].Project, r.Servers[1].pasted = vscodeFile, "project", repo, token.Secret(pasted)
	plan, err := Propose(r, nil, "0a1b2c3d-0000-1111-2222-333344445555", env)
	if err != nil {
		t.Fatal(err)
	}
	stateDir := filepath.Join(home, "state")
	d := delivery.New(env, stateDir)
	cfgFile := filepath.Join(home, "config", "config.toml")

	changes, warnings, err := plan.Preview(ctx, d, cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(changes) != 3 || changes[0].Path != cfgFile || changes[0].Exists || len(warnings) != 0 {
		t.Fatalf("changes %d (first %s), warnings %q", len(changes), changes[0].Path, warnings)
	}
	for _, c := range changes {
		if strings.Contains(c.Diff(home), pasted) || strings.Contains(c.Diff(home), "k-1") {
			t.Errorf("the diff of %s shows a secret:\n%s", c.Path, c.Diff(home))
		}
	}
	if _, err := os.Stat(stateDir); err == nil {
		t.Error("Preview created the state folder")
	}
	if _, err := os.Stat(cfgFile); err == nil {
		t.Error("Preview wrote config.toml")
	}

	outs, err := plan.Apply(ctx, d, cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if len(outs) != 2 || outs[0].Result.Err != nil || outs[0].Mode != integrations.ModeHelper {
		t.Fatalf("claude: %+v", outs[0])
	}
	if o := outs[1]; o.Result.Err == nil || !strings.Contains(o.Result.Err.Error(), "git tracks") || !strings.Contains(o.Result.Hint(), "--mode bridge") {
		t.Errorf("vscode: %+v", o.Result)
	}
	want := strings.Replace(claudeOrig, `"Authorization": "Bearer `+pasted+`", `, "", 1)
	want = strings.Replace(want, `"k-1"}}`, `"k-1"},`+"\n  "+`"headersHelper": "/usr/bin/broker headers --profile data-platform"}`, 1)
	if b, _ := os.ReadFile(claudeFile); string(b) != want {
		t.Errorf("~/.claude.json:\n%s\nwant:\n%s", b, want)
	}
	if b, _ := os.ReadFile(vscodeFile); string(b) != vscodeOrig {
		t.Errorf("the tracked file changed:\n%s", b)
	}
	cfg, err := config.Load("", cfgFile)
	if err != nil {
		t.Fatal(err)
	}
	if p := cfg.Profiles["data-platform"]; p == nil || len(p.Targets) != 1 || p.Targets[0].Client != "claude" {
		t.Errorf("config.toml's profile: %+v", p)
	}
	recs, err := d.Ledger().Records(ctx, "")
	if err != nil || len(recs) != 1 || recs[0].Client != "claude" {
		t.Errorf("ledger: %v %+v", err, recs)
	}
	for _, v := range recs[0].Values {
		if v.Secret {
			t.Errorf("the ledger still lists a token in ~/.claude.json: %+v", v)
		}
	}
}

// TestDiff: the diff of only the lines that differ is the diff of the
// whole files (it is computed on the middle part for speed).
func TestDiff(t *testing.T) {
	t.Parallel()
	lines := func(n int, f func(i int) string) string {
		var b strings.Builder
		for i := 0; i < n; i++ {
			b.WriteString(f(i))
		}
		return b.String()
	}
	base := lines(40, func(i int) string { return "line " + strconv.Itoa(i) + "\n" })
	for name, c := range map[string]struct{ before, after string }{
		"middle":           {base, strings.Replace(base, "line 20\n", "line twenty\n", 1)},
		"first":            {base, strings.Replace(base, "line 0\n", "zero\n", 1)},
		"last":             {base, strings.Replace(base, "line 39\n", "the end\n", 1)},
		"appended":         {base, base + "more\n"},
		"two places":       {base, strings.Replace(strings.Replace(base, "line 3\n", "three\n", 1), "line 30\n", "", 1)},
		"no final newline": {"a\nb\nc", "a\nB\nc"},
		"inside a line":    {"x\n{\"a\": \"1\", \"b\": 2}\ny\n", "x\n{\"a\": \"1\", \"c\": 3, \"b\": 2}\ny\n"},
		"new file":         {"", "new\n"},
	} {
		got := Change{Path: "f", Exists: true, Before: []byte(c.before), After: []byte(c.after)}.Diff("")
		if want := udiff.Unified("f", "f", c.before, c.after); got != want {
			t.Errorf("%s:\n%s\nwant:\n%s", name, got, want)
		}
	}
}
