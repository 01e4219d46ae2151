package integrations

import (
	"os"
	"path/filepath"
)

// opencode is opencode (opencode-ai): mcp.NAME in its global
// opencode.json (or opencode.jsonc when only that exists, as `opencode mcp
// add` picks it) under $XDG_CONFIG_HOME/opencode, else ~/.config/opencode,
// on every OS. A remote entry is {"type": "remote", "url": …, "headers":
// {…}}; a local one {"type": "local", "command": [argv…]}. opencode reads
// its config when it starts ({env:VAR} is substituted then), so a running
// session keeps the header it started with.
func opencode() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:  func(*Target) []string { return []string{"mcp"} },
			newEntry: func(t *Target) []byte { return object(kv{"type", "remote"}, kv{"url", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte {
				return object(kv{"type", "local"}, kv{"command", append([]string{t.env.BrokerPath}, bridgeArgs(t)...)})
			},
			urlKeys:      []string{"url"},
			stdioType:    "local",
			remoteType:   "remote",
			commandArray: true,
		},
		path: func(t *Target) (string, error) {
			return jsonOrJSONC(filepath.Join(xdgConfigHome(t.env), "opencode"), "opencode"), nil
		},
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}

// xdgConfigHome is $XDG_CONFIG_HOME when absolute, else ~/.config, on
// every OS (the xdg-basedir package's rule, which opencode, Kilo Code and
// Crush follow on macOS and Windows too).
func xdgConfigHome(env Env) string {
	if d := env.getenv("XDG_CONFIG_HOME"); d != "" && env.paths().IsAbs(d) {
		return d
	}
	return filepath.Join(env.Home, ".config")
}

// jsonOrJSONC is dir/NAME.json, or dir/NAME.jsonc when only that exists.
func jsonOrJSONC(dir, name string) string {
	p := filepath.Join(dir, name+".json")
	if _, err := os.Stat(p); err != nil {
		if c := p + "c"; fileExists(c) {
			return c
		}
	}
	return p
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
