package integrations

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

// TestNewClientPaths: each new client's default file per OS and with the
// variables the client itself reads.
func TestNewClientPaths(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	j := func(parts ...string) string { return filepath.Join(append([]string{home}, parts...)...) }
	cases := []struct {
		client, goos string
		vars         map[string]string
		want         string
	}{
		{"opencode", "linux", nil, j(".config", "opencode", "opencode.json")},
		{"opencode", "darwin", nil, j(".config", "opencode", "opencode.json")},
		{"opencode", "windows", map[string]string{"APPDATA": j("AppData", "Roaming")}, j(".config", "opencode", "opencode.json")},
		{"opencode", "linux", map[string]string{"XDG_CONFIG_HOME": j("xdg")}, j("xdg", "opencode", "opencode.json")},
		{"kilo", "linux", nil, j(".config", "kilo", "kilo.jsonc")},
		{"kilo", "windows", nil, j(".config", "kilo", "kilo.jsonc")},
		{"cline", "linux", nil, j(".cline", "data", "settings", "cline_mcp_settings.json")},
		{"cline", "windows", nil, j(".cline", "data", "settings", "cline_mcp_settings.json")},
		{"cline", "linux", map[string]string{"CLINE_DIR": j("c")}, j("c", "data", "settings", "cline_mcp_settings.json")},
		{"cline", "linux", map[string]string{"CLINE_DIR": j("c"), "CLINE_DATA_DIR": j("d")}, j("d", "settings", "cline_mcp_settings.json")},
		{"cline", "linux", map[string]string{"CLINE_DATA_DIR": j("d"), "CLINE_MCP_SETTINGS_PATH": j("m.json")}, j("m.json")},
		{"crush", "linux", nil, j(".config", "crush", "crush.json")},
		{"crush", "windows", nil, j(".config", "crush", "crush.json")},
		{"crush", "darwin", map[string]string{"XDG_CONFIG_HOME": j("xdg")}, j("xdg", "crush", "crush.json")},
		{"crush", "linux", map[string]string{"CRUSH_GLOBAL_CONFIG": j("g")}, j("g", "crush.json")},
		{"qwen", "linux", nil, j(".qwen", "settings.json")},
		{"qwen", "windows", nil, j(".qwen", "settings.json")},
		{"qwen", "linux", map[string]string{"QWEN_HOME": j("q")}, j("q", "settings.json")},
		{"zed", "linux", nil, j(".config", "zed", "settings.json")},
		{"zed", "linux", map[string]string{"XDG_CONFIG_HOME": j("xdg")}, j("xdg", "zed", "settings.json")},
		{"zed", "linux", map[string]string{"XDG_CONFIG_HOME": j("xdg"), "FLATPAK_XDG_CONFIG_HOME": j("fp")}, j("fp", "zed", "settings.json")},
		{"zed", "darwin", map[string]string{"XDG_CONFIG_HOME": j("xdg")}, j(".config", "zed", "settings.json")},
		{"zed", "windows", map[string]string{"APPDATA": j("AppData", "Roaming")}, j("AppData", "Roaming", "Zed", "settings.json")},
	}
	for _, c := range cases {
		env := Env{Home: home, GOOS: c.goos, BrokerPath: "/b", Getenv: func(k string) string { return c.vars[k] }}
		tg, err := New(config.Target{Client: c.client, Server: "api"}, env)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Path() != c.want {
			t.Errorf("%s on %s with %v: %s, want %s", c.client, c.goos, c.vars, tg.Path(), c.want)
		}
	}

	// opencode takes opencode.jsonc when only that exists; Kilo the first
	// of its four names that exists.
	dir := j(".config", "opencode")
	os.MkdirAll(dir, 0o700)
	os.WriteFile(filepath.Join(dir, "opencode.jsonc"), []byte("{}"), 0o600)
	kdir := j(".config", "kilo")
	os.MkdirAll(kdir, 0o700)
	os.WriteFile(filepath.Join(kdir, "opencode.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(kdir, "kilo.json"), []byte("{}"), 0o600)
	env := Env{Home: home, GOOS: "linux", BrokerPath: "/b", Getenv: func(string) string { return "" }}
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
