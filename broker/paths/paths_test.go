package paths

import (
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"testing"
)

// Everything follows HOME and the XDG variables, so a test (and a user)
// isolates the broker with them.
func TestLinuxPathsFollowHomeAndXDG(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the XDG layout is Linux's")
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_CONFIG_HOME", "")
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "")
	t.Setenv("BROKER_CONFIG", "")
	t.Setenv("BROKER_ADMIN_CONFIG", "")
	check := func(name, got, want string) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	cfg, _ := ConfigFile()
	check("config", cfg, filepath.Join(home, ".config", App, "config.toml"))
	st, _ := StateDir()
	check("state", st, filepath.Join(home, ".local", "state", App))
	rt, _ := RuntimeDir()
	check("runtime without XDG_RUNTIME_DIR", rt, filepath.Join(os.TempDir(), App+"-"+strconv.Itoa(os.Getuid())))
	check("admin", AdminConfigFile(), "/etc/mcp-token-broker/config.toml")

	t.Setenv("XDG_CONFIG_HOME", "/x/config")
	t.Setenv("XDG_STATE_HOME", "/x/state")
	t.Setenv("XDG_RUNTIME_DIR", "/x/run")
	cfg, _ = ConfigFile()
	check("config", cfg, "/x/config/"+App+"/config.toml")
	st, _ = StateDir()
	check("state", st, "/x/state/"+App)
	sock, _ := SocketPath()
	check("socket", sock, "/x/run/"+App+"/broker.sock")
	log, _ := LogFile()
	check("log", log, "/x/state/"+App+"/broker.log")

	// A relative XDG value is ignored, as the spec says.
	t.Setenv("XDG_STATE_HOME", "relative")
	st, _ = StateDir()
	check("state with a relative XDG_STATE_HOME", st, filepath.Join(home, ".local", "state", App))

	t.Setenv("BROKER_CONFIG", "/y/broker.toml")
	t.Setenv("BROKER_ADMIN_CONFIG", "/y/admin.toml")
	cfg, _ = ConfigFile()
	check("BROKER_CONFIG", cfg, "/y/broker.toml")
	check("BROKER_ADMIN_CONFIG", AdminConfigFile(), "/y/admin.toml")
}
