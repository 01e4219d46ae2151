package paths

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

func envOf(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

// Every path of every OS, driven through the seam on any machine.
func TestPathsPerOS(t *testing.T) {
	t.Parallel()
	uid := strconv.Itoa(os.Getuid())
	tests := []struct {
		name                                       string
		os                                         OS
		config, admin, state, runtime, socket, log string
	}{
		{
			name:    "linux defaults",
			os:      OS{GOOS: "linux", Home: "/home/alice", Getenv: envOf(nil)},
			config:  "/home/alice/.config/mcp-token-broker/config.toml",
			admin:   "/etc/mcp-token-broker/config.toml",
			state:   "/home/alice/.local/state/mcp-token-broker",
			runtime: "/tmp/mcp-token-broker-" + uid,
			socket:  "/tmp/mcp-token-broker-" + uid + "/broker.sock",
			log:     "/home/alice/.local/state/mcp-token-broker/broker.log",
		},
		{
			name: "linux XDG",
			os: OS{GOOS: "linux", Home: "/home/alice", Getenv: envOf(map[string]string{
				"XDG_CONFIG_HOME": "/x/config", "XDG_STATE_HOME": "/x/state", "XDG_RUNTIME_DIR": "/x/run"})},
			config:  "/x/config/mcp-token-broker/config.toml",
			admin:   "/etc/mcp-token-broker/config.toml",
			state:   "/x/state/mcp-token-broker",
			runtime: "/x/run/mcp-token-broker",
			socket:  "/x/run/mcp-token-broker/broker.sock",
			log:     "/x/state/mcp-token-broker/broker.log",
		},
		{
			name: "linux relative XDG values are ignored, TMPDIR is used",
			os: OS{GOOS: "linux", Home: "/home/alice", Getenv: envOf(map[string]string{
				"XDG_CONFIG_HOME": "rel", "XDG_STATE_HOME": "rel", "XDG_RUNTIME_DIR": "rel", "TMPDIR": "/var/tmp"})},
			config:  "/home/alice/.config/mcp-token-broker/config.toml",
			admin:   "/etc/mcp-token-broker/config.toml",
			state:   "/home/alice/.local/state/mcp-token-broker",
			runtime: "/var/tmp/mcp-token-broker-" + uid,
			socket:  "/var/tmp/mcp-token-broker-" + uid + "/broker.sock",
			log:     "/home/alice/.local/state/mcp-token-broker/broker.log",
		},
		{
			name: "linux BROKER_ variables",
			os: OS{GOOS: "linux", Home: "/home/alice", Getenv: envOf(map[string]string{
				"BROKER_CONFIG": "/y/broker.toml", "BROKER_ADMIN_CONFIG": "/y/admin.toml"})},
			config:  "/y/broker.toml",
			admin:   "/y/admin.toml",
			state:   "/home/alice/.local/state/mcp-token-broker",
			runtime: "/tmp/mcp-token-broker-" + uid,
			socket:  "/tmp/mcp-token-broker-" + uid + "/broker.sock",
			log:     "/home/alice/.local/state/mcp-token-broker/broker.log",
		},
		{
			name: "darwin ignores XDG",
			os: OS{GOOS: "darwin", Home: "/Users/alice", Getenv: envOf(map[string]string{
				"XDG_CONFIG_HOME": "/x/config", "XDG_STATE_HOME": "/x/state", "TMPDIR": "/var/folders/xy/T"})},
			config:  "/Users/alice/Library/Application Support/mcp-token-broker/config.toml",
			admin:   "/Library/Application Support/mcp-token-broker/config.toml",
			state:   "/Users/alice/Library/Application Support/mcp-token-broker",
			runtime: "/var/folders/xy/T/mcp-token-broker-" + uid,
			socket:  "/var/folders/xy/T/mcp-token-broker-" + uid + "/broker.sock",
			log:     "/Users/alice/Library/Application Support/mcp-token-broker/broker.log",
		},
		{
			name: "windows",
			os: OS{GOOS: "windows", Home: `C:\Users\alice`, Getenv: envOf(map[string]string{
				"APPDATA": `C:\Users\alice\AppData\Roaming`, "LOCALAPPDATA": `C:\Users\alice\AppData\Local`,
				"ProgramData": `D:\ProgramData`, "XDG_RUNTIME_DIR": `C:\run`, "XDG_STATE_HOME": `C:\state`})},
			config:  `C:\Users\alice\AppData\Roaming\mcp-token-broker\config.toml`,
			admin:   `D:\ProgramData\mcp-token-broker\config.toml`,
			state:   `C:\Users\alice\AppData\Local\mcp-token-broker`,
			runtime: `C:\Users\alice\AppData\Local\mcp-token-broker`,
			socket:  `C:\Users\alice\AppData\Local\mcp-token-broker\broker.sock`,
			log:     `C:\Users\alice\AppData\Local\mcp-token-broker\broker.log`,
		},
		{
			name: "windows without ProgramData, with BROKER_CONFIG",
			os: OS{GOOS: "windows", Home: `C:\Users\alice`, Getenv: envOf(map[string]string{
				"APPDATA": `C:\Users\alice\AppData\Roaming`, "LOCALAPPDATA": `C:\Users\alice\AppData\Local`,
				"BROKER_CONFIG": `E:\cfg\broker.toml`})},
			config:  `E:\cfg\broker.toml`,
			admin:   `C:\ProgramData\mcp-token-broker\config.toml`,
			state:   `C:\Users\alice\AppData\Local\mcp-token-broker`,
			runtime: `C:\Users\alice\AppData\Local\mcp-token-broker`,
			socket:  `C:\Users\alice\AppData\Local\mcp-token-broker\broker.sock`,
			log:     `C:\Users\alice\AppData\Local\mcp-token-broker\broker.log`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			check := func(what string, got string, err error, want string) {
				t.Helper()
				if err != nil {
					t.Errorf("%s: %v", what, err)
				} else if got != want {
					t.Errorf("%s = %q, want %q", what, got, want)
				}
			}
			got, err := tt.os.ConfigFile()
			check("ConfigFile", got, err, tt.config)
			check("AdminConfigFile", tt.os.AdminConfigFile(), nil, tt.admin)
			got, err = tt.os.StateDir()
			check("StateDir", got, err, tt.state)
			got, err = tt.os.RuntimeDir()
			check("RuntimeDir", got, err, tt.runtime)
			got, err = tt.os.SocketPath()
			check("SocketPath", got, err, tt.socket)
			got, err = tt.os.LogFile()
			check("LogFile", got, err, tt.log)
		})
	}
}

// A missing variable or home is an error, not a path relative to the
// working folder.
func TestPathsMissingBase(t *testing.T) {
	t.Parallel()
	win := OS{GOOS: "windows", Home: `C:\Users\alice`}
	if _, err := win.StateDir(); err == nil {
		t.Error("windows StateDir without LOCALAPPDATA: no error")
	}
	if _, err := win.ConfigFile(); err == nil {
		t.Error("windows ConfigFile without APPDATA: no error")
	}
	for _, goos := range []string{"linux", "darwin"} {
		o := OS{GOOS: goos}
		if _, err := o.StateDir(); err == nil {
			t.Errorf("%s StateDir without a home: no error", goos)
		}
		if _, err := o.ConfigFile(); err == nil {
			t.Errorf("%s ConfigFile without a home: no error", goos)
		}
	}
}

// The package functions follow this process's HOME and XDG variables, so a
// test (and a user) isolates the broker with them.
func TestDefaultFollowsTheProcess(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the XDG layout is Linux's; TestPathsPerOS covers the others")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", filepath.Join(home, "st"))
	t.Setenv("BROKER_CONFIG", "")
	cfg, err := ConfigFile()
	if err != nil || cfg != filepath.Join(home, ".config", App, "config.toml") {
		t.Errorf("ConfigFile() = %q, %v", cfg, err)
	}
	st, err := StateDir()
	if err != nil || st != filepath.Join(home, "st", App) {
		t.Errorf("StateDir() = %q, %v", st, err)
	}
}
