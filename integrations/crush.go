package integrations

import "path/filepath"

// crush is Crush (@charmland/crush): mcp.NAME in its global crush.json,
// $CRUSH_GLOBAL_CONFIG/crush.json, else $XDG_CONFIG_HOME/crush/crush.json
// (else ~/.config/crush/crush.json) on every OS, Windows too. Crush's
// newer crushrc (a shell script) is merged over it and left alone. A
// remote entry is {"type": "http", "url": …, "headers": {…}}; header
// values go through Crush's shell expansion each time it opens the MCP
// session (at start, and again when a session stops answering its ping),
// so the default mode, helper, writes "Bearer $(broker token)": no
// secret in the file and a fresh token at every new session.
func crush() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"mcp"} },
			newEntry:    func(t *Target) []byte { return object(kv{"type", "http"}, kv{"url", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t, kv{"type", "stdio"}) },
			stdioType:   "stdio",
			urlKeys:     []string{"url"},
			helperValue: func(t *Target) string {
				cmd := shellQuote(t.env.BrokerPath) + " token"
				if t.cfg.Profile != "" {
					cmd += " --profile " + shellQuote(t.cfg.Profile)
				}
				return "Bearer $(" + cmd + ")"
			},
		},
		path: func(t *Target) (string, error) {
			if d := t.env.getenv("CRUSH_GLOBAL_CONFIG"); d != "" {
				return filepath.Join(expandHome(d, t.env.Home), "crush.json"), nil
			}
			return filepath.Join(xdgConfigHome(t.env), "crush", "crush.json"), nil
		},
		modeList: []string{ModeHelper, ModeProxy, ModeHeader, ModeBridge},
	}
}
