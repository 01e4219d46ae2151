package integrations

import "path/filepath"

// kilo is Kilo Code's CLI (@kilocode/cli, built on opencode): mcp.NAME in
// the first of kilo.jsonc, kilo.json, opencode.jsonc, opencode.json that
// exists under $XDG_CONFIG_HOME/kilo (else ~/.config/kilo) on every OS,
// kilo.jsonc when none does (as `kilo mcp add` picks it). Entries have
// opencode's shape: {"type": "remote", "url": …, "headers": {…}}, and
// {"type": "local", "command": [argv…]}. Read when Kilo starts.
func kilo() client {
	c := opencode().(jsonServerClient)
	c.path = func(t *Target) (string, error) {
		dir := filepath.Join(xdgConfigHome(t.env), "kilo")
		for _, n := range []string{"kilo.jsonc", "kilo.json", "opencode.jsonc", "opencode.json"} {
			if p := filepath.Join(dir, n); fileExists(p) {
				return p, nil
			}
		}
		return filepath.Join(dir, "kilo.jsonc"), nil
	}
	return c
}
