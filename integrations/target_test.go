package integrations

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

func TestNewValidates(t *testing.T) {
	t.Parallel()
	env := testEnv(t, map[string]string{"CLAUDE_CONFIG_DIR": "/cfg/claude", "COPILOT_HOME": "/cfg/copilot", "CODEX_HOME": "/cfg/codex"})
	for _, tc := range []struct {
		t    config.Target
		path string // "" means an error containing err
		err  string
	}{
		{t: config.Target{Client: "claude", Server: "api"}, path: "/cfg/claude/.claude.json"},
		{t: config.Target{Client: "copilot", Server: "api"}, path: "/cfg/copilot/mcp-config.json"},
		{t: config.Target{Client: "codex", Server: "api"}, path: "/cfg/codex/config.toml"},
		{t: config.Target{Client: "vscode", Server: "api"}, path: filepath.Join(env.Home, ".config/Code/User/mcp.json")},
		{t: config.Target{Client: "gemini", Server: "api"}, path: filepath.Join(env.Home, ".gemini/settings.json")},
		{t: config.Target{Client: "windsurf", Server: "api"}, path: filepath.Join(env.Home, ".codeium/windsurf/mcp_config.json")},
		{t: config.Target{Client: "claude-desktop", Server: "api"}, path: filepath.Join(env.Home, ".config/Claude/claude_desktop_config.json")},
		{t: config.Target{Client: "cursor", Server: "api", Path: "~/x/mcp.json"}, path: filepath.Join(env.Home, "x/mcp.json")},
		{t: config.Target{Client: "nope", Server: "api"}, err: `target nope/api: unknown client "nope"`},
		{t: config.Target{Client: "claude"}, err: "server is required"},
		{t: config.Target{Client: "vscode", Server: "api", Mode: "helper"}, err: `mode "helper" is not supported by client vscode`},
		{t: config.Target{Client: "claude", Server: "api", Project: "rel/dir"}, err: "not an absolute path"},
		{t: config.Target{Client: "cursor", Server: "api", Path: "rel/mcp.json"}, err: "is not absolute"},
		{t: config.Target{Client: "json", Path: "/x.json"}, err: "pointer"},
		{t: config.Target{Client: "json", Path: "/x.json", Pointer: "/a", Template: "Bearer"}, err: "has no {token}"},
		{t: config.Target{Client: "envfile"}, err: "path is required"},
		{t: config.Target{Client: "envfile", Path: "/e", Var: "1X"}, err: "not a variable name"},
		{t: config.Target{Client: "envfile", Path: "/e", Format: "fish"}, err: "format"},
	} {
		tg, err := New(tc.t, env)
		switch {
		case tc.err != "":
			var ce *config.Error
			if err == nil || !strings.Contains(err.Error(), tc.err) || !errors.As(err, &ce) {
				t.Errorf("New(%+v) = %v, want a *config.Error with %q", tc.t, err, tc.err)
			}
		case err != nil:
			t.Errorf("New(%+v): %v", tc.t, err)
		case tg.Path() != tc.path:
			t.Errorf("New(%+v).Path() = %s, want %s", tc.t, tg.Path(), tc.path)
		}
	}
}

func TestMissingEntryWithoutURL(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	tg, _ := New(config.Target{Client: "vscode", Server: "api"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	os.WriteFile(tg.Path(), []byte(`{"servers": {"other": {}}}`), 0o600)
	_, err := tg.Apply(context.Background(), testToken, nil)
	if err == nil || !strings.Contains(err.Error(), `server "api" not found in `+tg.Path()) {
		t.Fatalf("err = %v", err)
	}
	var h interface{ HintText() string }
	if !errors.As(err, &h) || !strings.Contains(h.HintText(), "url") {
		t.Errorf("no hint about url: %v", err)
	}
}

func TestBrokenFileIsUntouched(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	tg, _ := New(config.Target{Client: "gemini", Server: "api", URL: "https://x/mcp"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	broken := "{\n  \"mcpServers\": {\n    \"api\": {,}\n  }\n}\n"
	os.WriteFile(tg.Path(), []byte(broken), 0o644)
	_, err := tg.Apply(context.Background(), testToken, nil)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Line != 3 || fe.Col != 13 || !strings.HasPrefix(err.Error(), tg.Path()+":3:13: ") {
		t.Fatalf("err = %v, want PATH:3:13", err)
	}
	if b, _ := os.ReadFile(tg.Path()); string(b) != broken {
		t.Error("a broken file was changed")
	}
	c := tg.Check(testToken)
	if !c.Exists || c.Parses || c.Err == nil || !strings.Contains(c.Err.Error(), ":3:13:") {
		t.Errorf("Check = %+v", c)
	}
	if !c.TooOpen {
		t.Error("a 0644 file holding a token is not reported as readable by others")
	}
}

// Every file on Windows reports 0666 to Go: no warning there, ever; a
// token file open to others is reported on Linux and macOS.
func TestOpenToOthersPerOS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos string
		mode os.FileMode
		want bool
	}{
		{"linux", 0o600, false}, {"linux", 0o644, true}, {"linux", 0o640, true}, {"linux", 0o604, true},
		{"darwin", 0o600, false}, {"darwin", 0o644, true},
		{"windows", 0o666, false}, {"windows", 0o444, false},
	} {
		if got := OpenToOthers(tc.goos, tc.mode); got != tc.want {
			t.Errorf("OpenToOthers(%s, %o) = %v, want %v", tc.goos, tc.mode, got, tc.want)
		}
	}
	for _, goos := range []string{"linux", "windows"} {
		env := testEnv(t, map[string]string{"APPDATA": filepath.Join(t.TempDir(), "Roaming")})
		env.GOOS = goos
		tg, err := New(config.Target{Client: "envfile", Path: filepath.Join(env.Home, "t.env")}, env)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(tg.Path(), nil, 0o666); err != nil {
			t.Fatal(err)
		}
		os.Chmod(tg.Path(), 0o666)
		if c := tg.Check(testToken); c.TooOpen != (goos != "windows") {
			t.Errorf("%s: Check of a 0666 env file: TooOpen = %v", goos, c.TooOpen)
		}
	}
}

// TestGitTrackedRefused: a token is never written into a file that git
// tracks or would commit; helper mode (no secret) is allowed there.
func TestGitTrackedRefused(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is missing")
		}
		t.Skip("git is missing")
	}
	env := testEnv(t, nil)
	repo := filepath.Join(env.Home, "src", "app")
	os.MkdirAll(repo, 0o700)
	cmd := exec.Command("git", "init", "-q")
	cmd.Dir = repo
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	mcp := filepath.Join(repo, ".mcp.json")
	in := `{"mcpServers": {"api": {"type": "http", "url": "https://x/mcp"}}}`
	os.WriteFile(mcp, []byte(in), 0o600)
	ctx := context.Background()

	header, _ := New(config.Target{Client: "claude", Server: "api", Mode: "header", Path: mcp}, env)
	_, err := header.Apply(ctx, testToken, nil)
	var h interface{ HintText() string }
	if err == nil || !strings.Contains(err.Error(), "git tracks it or would commit it") || !errors.As(err, &h) {
		t.Fatalf("err = %v, want a refusal with a hint", err)
	}
	if b, _ := os.ReadFile(mcp); string(b) != in {
		t.Fatal("the tracked file was written")
	}
	if c := header.Check(testToken); !c.Tracked {
		t.Error("Check does not say tracked")
	}
	helper, _ := New(config.Target{Client: "claude", Server: "api", Path: mcp, Profile: "data"}, env)
	if _, err := helper.Apply(ctx, token.Token{}, nil); err != nil {
		t.Fatalf("helper mode in a tracked file: %v", err)
	}
	// Ignored: allowed.
	os.WriteFile(filepath.Join(repo, ".gitignore"), []byte(".mcp.json\n"), 0o600)
	if _, err := header.Apply(ctx, testToken, nil); err != nil {
		t.Fatalf("ignored file: %v", err)
	}
}

func TestDefaultPathsPerOS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos, client, want string
		vars               map[string]string
	}{
		{"darwin", "vscode", "/h/Library/Application Support/Code/User/mcp.json", nil},
		{"windows", "vscode", `C:\Users\u\AppData\Roaming/Code/User/mcp.json`, map[string]string{"APPDATA": `C:\Users\u\AppData\Roaming`}},
		{"linux", "vscode", "/xdg/Code/User/mcp.json", map[string]string{"XDG_CONFIG_HOME": "/xdg"}},
		{"darwin", "claude-desktop", "/h/Library/Application Support/Claude/claude_desktop_config.json", nil},
		{"linux", "claude-desktop", "/h/.config/Claude/claude_desktop_config.json", nil},
		{"windows", "claude-desktop", `C:\Users\u\AppData\Roaming/Claude/claude_desktop_config.json`, map[string]string{"APPDATA": `C:\Users\u\AppData\Roaming`}},
	} {
		vars := tc.vars
		broker := "/b"
		if tc.goos == "windows" {
			broker = `C:\b.exe`
		}
		env := Env{Home: "/h", GOOS: tc.goos, BrokerPath: broker, Getenv: func(k string) string { return vars[k] }}
		tg, err := New(config.Target{Client: tc.client, Server: "api"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if got := filepath.ToSlash(tg.Path()); got != filepath.ToSlash(tc.want) {
			t.Errorf("%s %s: %s, want %s", tc.goos, tc.client, got, tc.want)
		}
	}
}

// The headersHelper line is quoted for the shell that runs it: cmd.exe
// (Claude Code's `shell: true` on Windows) and Git Bash both take double
// quotes around a Windows path; POSIX shells elsewhere.
func TestHelperLinePerOS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos, broker, want string
	}{
		{"linux", "/usr/local/bin/broker", "/usr/local/bin/broker headers --profile data"},
		{"linux", "/opt/mcp broker/broker", "'/opt/mcp broker/broker' headers --profile data"},
		{"darwin", "/Users/o'neil/bin/broker", `'/Users/o'\''neil/bin/broker' headers --profile data`},
		{"windows", `C:\Program Files\MCP Token Broker\broker.exe`, `"C:\Program Files\MCP Token Broker\broker.exe" headers --profile data`},
		{"windows", `C:\tools\broker.exe`, `"C:\tools\broker.exe" headers --profile data`},
		{"windows", `C:\Users\a&b\broker.exe`, `"C:\Users\a&b\broker.exe" headers --profile data`},
	} {
		env := Env{Home: "/h", GOOS: tc.goos, BrokerPath: tc.broker, Getenv: func(string) string { return "" }}
		tg, err := New(config.Target{Client: "claude", Server: "api", Profile: "data"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if got := helperCommand(tg); got != tc.want {
			t.Errorf("%s %s: %s, want %s", tc.goos, tc.broker, got, tc.want)
		}
	}
}

// memOwner is a ledger in memory: it owns what it was told was placed.
type memOwner struct {
	mu     sync.Mutex
	sums   map[string][]string
	entry  map[string]bool
	placed [][]Placed
}

func (m *memOwner) Owns(place, sum string) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if sum == "" {
		return m.entry[place]
	}
	return slices.Contains(m.sums[place], sum)
}

func (m *memOwner) Placing(_ string, placed []Placed) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.sums == nil {
		m.sums, m.entry = map[string][]string{}, map[string]bool{}
	}
	m.placed = append(m.placed, placed)
	for _, p := range placed {
		if p.Entry {
			m.entry[p.Place] = true
		}
		if p.SHA256 != "" {
			m.sums[p.Place] = append(m.sums[p.Place], p.SHA256)
		}
	}
	return nil
}

// TestProxyAndBack: a target moved from proxy mode to header mode gets
// the server's own URL back in the entry, and the token in the header.
func TestProxyAndBack(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	cfg := config.Target{Client: "copilot", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}
	px, err := New(cfg, env)
	if err != nil || px.Mode() != ModeProxy {
		t.Fatalf("New: %v, mode %q", err, px.Mode())
	}
	if _, err := px.Apply(context.Background(), token.Token{}, nil); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(px.Path()); !strings.Contains(string(b), "http://127.0.0.1:17000/data/copilot/api") || !strings.Contains(string(b), testCredential) {
		t.Fatalf("proxy mode wrote:\n%s", b)
	}
	cfg.Mode = ModeHeader
	hd, _ := New(cfg, env)
	if _, err := hd.Apply(context.Background(), testToken, nil); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(hd.Path())
	if strings.Contains(string(b), "127.0.0.1") || !strings.Contains(string(b), `"url":"https://apim.contoso.com/mcp"`) && !strings.Contains(string(b), `"url": "https://apim.contoso.com/mcp"`) || !strings.Contains(string(b), bearer(testToken)) {
		t.Fatalf("header mode after proxy mode wrote:\n%s", b)
	}
}
