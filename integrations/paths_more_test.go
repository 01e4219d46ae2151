package integrations

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

// TestNewClientPaths: each new client's default file per OS and with the
// variables the client itself reads.
func TestNewClientPaths(t *testing.T) {
	t.Parallel()
	// Paths only (nothing is read): a home of each OS's shape.
	const u, w = "/home/u", `C:\Users\u`
	j := filepath.Join
	cases := []struct {
		client, goos string
		vars         map[string]string
		want         string
	}{
		{"opencode", "linux", nil, j(u, ".config", "opencode", "opencode.json")},
		{"opencode", "darwin", nil, j(u, ".config", "opencode", "opencode.json")},
		{"opencode", "windows", map[string]string{"APPDATA": w + `\AppData\Roaming`}, j(w, ".config", "opencode", "opencode.json")},
		{"opencode", "linux", map[string]string{"XDG_CONFIG_HOME": "/x"}, j("/x", "opencode", "opencode.json")},
		{"kilo", "linux", nil, j(u, ".config", "kilo", "kilo.jsonc")},
		{"kilo", "windows", nil, j(w, ".config", "kilo", "kilo.jsonc")},
		{"cline", "linux", nil, j(u, ".cline", "data", "settings", "cline_mcp_settings.json")},
		{"cline", "windows", nil, j(w, ".cline", "data", "settings", "cline_mcp_settings.json")},
		{"cline", "linux", map[string]string{"CLINE_DIR": "/c"}, j("/c", "data", "settings", "cline_mcp_settings.json")},
		{"cline", "linux", map[string]string{"CLINE_DIR": "/c", "CLINE_DATA_DIR": "/d"}, j("/d", "settings", "cline_mcp_settings.json")},
		{"cline", "linux", map[string]string{"CLINE_DATA_DIR": "/d", "CLINE_MCP_SETTINGS_PATH": "/m.json"}, "/m.json"},
		{"continue", "linux", nil, j(u, ".continue", "config.yaml")},
		{"continue", "windows", nil, j(w, ".continue", "config.yaml")},
		{"continue", "linux", map[string]string{"CONTINUE_GLOBAL_DIR": "/g"}, j("/g", "config.yaml")},
		{"crush", "linux", nil, j(u, ".config", "crush", "crush.json")},
		{"crush", "windows", nil, j(w, ".config", "crush", "crush.json")},
		{"crush", "darwin", map[string]string{"XDG_CONFIG_HOME": "/x"}, j("/x", "crush", "crush.json")},
		{"crush", "linux", map[string]string{"CRUSH_GLOBAL_CONFIG": "/g"}, j("/g", "crush.json")},
		{"qwen", "linux", nil, j(u, ".qwen", "settings.json")},
		{"qwen", "windows", nil, j(w, ".qwen", "settings.json")},
		{"qwen", "linux", map[string]string{"QWEN_HOME": "/q"}, j("/q", "settings.json")},
		{"zed", "linux", nil, j(u, ".config", "zed", "settings.json")},
		{"zed", "linux", map[string]string{"XDG_CONFIG_HOME": "/x"}, j("/x", "zed", "settings.json")},
		{"zed", "linux", map[string]string{"XDG_CONFIG_HOME": "/x", "FLATPAK_XDG_CONFIG_HOME": "/fp"}, j("/fp", "zed", "settings.json")},
		{"zed", "darwin", map[string]string{"XDG_CONFIG_HOME": "/x"}, j(u, ".config", "zed", "settings.json")},
		{"zed", "windows", map[string]string{"APPDATA": w + `\AppData\Roaming`}, j(w+`\AppData\Roaming`, "Zed", "settings.json")},
	}
	for _, c := range cases {
		home, broker := u, "/b"
		if c.goos == "windows" {
			home, broker = w, w+`\broker.exe`
		}
		env := Env{Home: home, GOOS: c.goos, BrokerPath: broker, Getenv: func(k string) string { return c.vars[k] }}
		tg, err := New(config.Target{Client: c.client, Server: "api"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Path() != c.want {
			t.Errorf("%s on %s with %v: %s, want %s", c.client, c.goos, c.vars, tg.Path(), c.want)
		}
	}

	home := t.TempDir()
	// opencode takes opencode.jsonc when only that exists; Kilo the first
	// of its four names that exists.
	dir := filepath.Join(home, ".config", "opencode")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "opencode.jsonc"), []byte("{}"), 0o600)
	kdir := filepath.Join(home, ".config", "kilo")
	os.MkdirAll(kdir, 0o700)
	os.WriteFile(filepath.Join(kdir, "opencode.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(kdir, "kilo.json"), []byte("{}"), 0o600)
	env := Env{Home: home, GOOS: runtime.GOOS, Getenv: func(string) string { return "" }}
	for client, want := range map[string]string{"opencode": filepath.Join(dir, "opencode.jsonc"), "kilo": filepath.Join(kdir, "kilo.json")} {
		tg, err := New(config.Target{Client: client, Server: "api"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Path() != want {
			t.Errorf("%s: %s, want %s", client, tg.Path(), want)
		}
	}
}
