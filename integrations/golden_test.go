package integrations

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

var testToken = token.Token{Value: "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJhcGk6Ly9kYXRhIn0.c2ln", ExpiresOn: time.Now().Add(time.Hour)}

// testEnv is a machine with its home in a temporary folder.
func testEnv(t *testing.T, vars map[string]string) Env {
	t.Helper()
	home := t.TempDir()
	return Env{
		Home:       home,
		Getenv:     func(k string) string { return vars[k] },
		GOOS:       "linux",
		BrokerPath: "/usr/local/bin/broker",
		Proxy:      &fakeProxy{},
	}
}

// fakeProxy gives every target the same loopback endpoint and records
// revocations (broker/proxy's own tests cover the real credentials).
type fakeProxy struct {
	mu      sync.Mutex
	revoked []string
}

const testCredential = "local-credential-0123456789abcdefghijklmnopqrstu"

func (p *fakeProxy) Endpoint(t config.Target) (string, string, error) {
	return "http://127.0.0.1:17000/" + t.Profile + "/" + t.Client + "/" + t.Server, testCredential, nil
}

func (p *fakeProxy) Revoke(t config.Target) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.revoked = append(p.revoked, t.Client+"/"+t.Server)
	return nil
}

type goldenCase struct {
	name   string
	target config.Target
	ext    string
	broker string // BrokerPath when not the default
	goos   string // GOOS when not linux
	// path, when set, is relative to HOME (the target's path key).
	path string
}

var goldenCases = []goldenCase{
	{name: "claude-user-helper", ext: ".json", target: config.Target{Client: "claude", Server: "api", Profile: "data"}, broker: "/opt/mcp broker/bin/broker"},
	{name: "claude-project-create", ext: ".json", target: config.Target{Client: "claude", Server: "api", Project: "/home/u/src/app", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "claude-mcpjson-header", ext: ".json", target: config.Target{Client: "claude", Server: "api", Mode: "header"}, path: "src/app/.mcp.json"},
	{name: "claude-bridge", ext: ".json", target: config.Target{Client: "claude", Server: "api", Mode: "bridge", Profile: "data"}},
	{name: "vscode-jsonc", ext: ".json", target: config.Target{Client: "vscode", Server: "api"}},
	{name: "vscode-settings", ext: ".json", target: config.Target{Client: "vscode", Server: "api"}, path: ".config/Code/User/settings.json"},
	{name: "copilot-new", ext: ".json", target: config.Target{Client: "copilot", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}},
	{name: "copilot-existing", ext: ".json", target: config.Target{Client: "copilot", Server: "api"}},
	{name: "gemini", ext: ".json", target: config.Target{Client: "gemini", Server: "api"}},
	{name: "cursor", ext: ".json", target: config.Target{Client: "cursor", Server: "api"}},
	{name: "windsurf", ext: ".json", target: config.Target{Client: "windsurf", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}},
	// Proxy mode (the default for copilot, gemini, cursor and windsurf
	// targets with a url): the loopback URL and the local credential.
	{name: "copilot-proxy", ext: ".json", target: config.Target{Client: "copilot", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "copilot-bridge-to-proxy", ext: ".json", target: config.Target{Client: "copilot", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "gemini-proxy", ext: ".json", target: config.Target{Client: "gemini", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "cursor-proxy", ext: ".json", target: config.Target{Client: "cursor", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "windsurf-proxy", ext: ".json", target: config.Target{Client: "windsurf", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "claude-helper-to-proxy", ext: ".json", target: config.Target{Client: "claude", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "proxy", Profile: "data"}},
	{name: "codex-bridge", ext: ".toml", target: config.Target{Client: "codex", Server: "api", Mode: "bridge", Profile: "data"}},
	{name: "codex-create", ext: ".toml", target: config.Target{Client: "codex", Server: "api", URL: "https://apim.contoso.com/mcp"}},
	{name: "codex-header", ext: ".toml", target: config.Target{Client: "codex", Server: "api", Mode: "header"}},
	{name: "codex-helper", ext: ".toml", target: config.Target{Client: "codex", Server: "api", Profile: "data"}},
	{name: "opencode", ext: ".json", target: config.Target{Client: "opencode", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}, path: ".config/opencode/opencode.json"},
	{name: "opencode-bridge", ext: ".json", target: config.Target{Client: "opencode", Server: "api", Mode: "bridge", Profile: "data"}},
	{name: "kilo", ext: ".json", target: config.Target{Client: "kilo", Server: "api"}, path: ".config/kilo/kilo.jsonc"},
	{name: "qwen", ext: ".json", target: config.Target{Client: "qwen", Server: "api"}},
	{name: "cline", ext: ".json", target: config.Target{Client: "cline", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}},
	{name: "cline-bridge", ext: ".json", target: config.Target{Client: "cline", Server: "api", Mode: "bridge", Profile: "data"}},
	{name: "crush-helper", ext: ".json", target: config.Target{Client: "crush", Server: "api", Profile: "data"}, broker: "/opt/mcp broker/bin/broker"},
	{name: "crush-header", ext: ".json", target: config.Target{Client: "crush", Server: "api", Mode: "header"}},
	{name: "continue-existing", ext: ".yaml", target: config.Target{Client: "continue", Server: "api"}},
	{name: "continue-add-headers", ext: ".yaml", target: config.Target{Client: "continue", Server: "api"}},
	{name: "continue-new-item", ext: ".yaml", target: config.Target{Client: "continue", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}},
	{name: "continue-new-file", ext: ".yaml", target: config.Target{Client: "continue", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "header"}},
	{name: "continue-proxy", ext: ".yaml", target: config.Target{Client: "continue", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "continue-proxy-new-item", ext: ".yaml", target: config.Target{Client: "continue", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	// Proxy mode: the default for opencode, Kilo Code, Cline and Qwen Code
	// targets with a url; a choice for Crush and Zed.
	{name: "opencode-proxy", ext: ".json", target: config.Target{Client: "opencode", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "opencode-bridge-to-proxy", ext: ".json", target: config.Target{Client: "opencode", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "kilo-proxy", ext: ".json", target: config.Target{Client: "kilo", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}, path: ".config/kilo/kilo.jsonc"},
	{name: "cline-proxy", ext: ".json", target: config.Target{Client: "cline", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "qwen-proxy", ext: ".json", target: config.Target{Client: "qwen", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}},
	{name: "crush-helper-to-proxy", ext: ".json", target: config.Target{Client: "crush", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "proxy", Profile: "data"}},
	{name: "zed-proxy", ext: ".json", target: config.Target{Client: "zed", Server: "api", URL: "https://apim.contoso.com/mcp", Mode: "proxy", Profile: "data"}},
	{name: "zed", ext: ".json", target: config.Target{Client: "zed", Server: "api"}},
	{name: "zed-bridge", ext: ".json", target: config.Target{Client: "zed", Server: "api", Mode: "bridge", Profile: "data"}},
	{name: "claude-desktop", ext: ".json", target: config.Target{Client: "claude-desktop", Server: "api", Profile: "data"}},
	{name: "json-pointer", ext: ".json", target: config.Target{Client: "json", Pointer: "/endpoints/data/headers/x-api~1token", Template: "Token {token}"}, path: "tool/settings.json"},
	{name: "envfile-sh", ext: ".env", target: config.Target{Client: "envfile"}, path: ".config/mcp.env"},
	{name: "envfile-powershell", ext: ".ps1", target: config.Target{Client: "envfile", Format: "powershell", Var: "API_TOKEN"}, path: "profile.ps1"},
	{name: "envfile-dotenv", ext: ".env", target: config.Target{Client: "envfile", Format: "dotenv"}, path: "app/.env"},
	{name: "claude-user-helper-windows", ext: ".json", goos: "windows", target: config.Target{Client: "claude", Server: "api", Profile: "data"}, broker: `C:\Program Files\MCP Token Broker\broker.exe`},
	{name: "claude-user-helper-darwin", ext: ".json", goos: "darwin", target: config.Target{Client: "claude", Server: "api", Profile: "data"}, broker: "/Applications/MCP Token Broker.app/Contents/MacOS/broker"},
	{name: "envfile-windows-default", ext: ".ps1", goos: "windows", target: config.Target{Client: "envfile"}, path: "mcp-token.ps1"},
	{name: "envfile-windows-dotenv-ext", ext: ".env", goos: "windows", target: config.Target{Client: "envfile"}, path: "app/.env"},
	{name: "envfile-windows-lf-kept", ext: ".ps1", goos: "windows", target: config.Target{Client: "envfile"}, path: "profile.ps1"},
	{name: "envfile-darwin-default", ext: ".env", goos: "darwin", target: config.Target{Client: "envfile"}, path: ".config/mcp.env"},
	{name: "file", ext: ".txt", target: config.Target{Client: "file"}, path: "run/token"},
}

// TestGolden writes the token into each client's file: input → want,
// a second run changes nothing (the file is not even rewritten), Check
// says current, and Remove scrubs the token (→ removed).
func TestGolden(t *testing.T) {
	t.Parallel()
	for _, gc := range goldenCases {
		t.Run(gc.name, func(t *testing.T) {
			t.Parallel()
			env := testEnv(t, nil)
			if gc.broker != "" {
				env.BrokerPath = gc.broker
			}
			if gc.goos != "" {
				env.GOOS = gc.goos
			}
			cfg := gc.target
			if gc.path != "" {
				cfg.Path = filepath.Join(env.Home, gc.path)
			}
			tg, err := New(cfg, env)
			if err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join("testdata", "golden", gc.name)
			if in, err := os.ReadFile(filepath.Join(dir, "input"+gc.ext)); err == nil {
				os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
				if err := os.WriteFile(tg.Path(), in, 0o600); err != nil {
					t.Fatal(err)
				}
			}
			ctx := context.Background()
			own := &memOwner{}
			if _, err := tg.Apply(ctx, testToken, own); err != nil {
				t.Fatal(err)
			}
			got := readFile(t, tg.Path())
			golden(t, filepath.Join(dir, "want"+gc.ext), got)

			before := stat(t, tg.Path())
			if _, err := tg.Apply(ctx, testToken, own); err != nil {
				t.Fatal(err)
			}
			if after := stat(t, tg.Path()); !os.SameFile(before, after) || !after.ModTime().Equal(before.ModTime()) {
				t.Error("the second Apply rewrote the file")
			}
			if again := readFile(t, tg.Path()); again != got {
				t.Errorf("the second Apply changed the file:\n%s", cmp.Diff(got, again))
			}
			if c := tg.Check(testToken); !c.Exists || !c.Parses || !c.Entry || !c.Current || c.Err != nil {
				t.Errorf("Check = %+v, want existing, parsing, entry, current", c)
			}
			if c := tg.Check(token.Token{Value: "another"}); tg.NeedsToken() && c.Current {
				t.Error("Check says current for another token")
			}

			if _, err := tg.Remove(ctx, own); err != nil {
				t.Fatal(err)
			}
			if fp := env.Proxy.(*fakeProxy); (tg.Mode() == ModeProxy) != (len(fp.revoked) == 1) {
				t.Errorf("mode %s: Remove revoked %v", tg.Mode(), fp.revoked)
			}
			golden(t, filepath.Join(dir, "removed"+gc.ext), readFile(t, tg.Path()))
		})
	}
}

func golden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if diff := cmp.Diff(string(want), got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func stat(t *testing.T, p string) os.FileInfo {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	return fi
}
