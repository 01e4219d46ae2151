package integrations

import "path/filepath"

// copilot is GitHub Copilot CLI: ~/.copilot/mcp-config.json (or
// $COPILOT_HOME/mcp-config.json), mcpServers.NAME.headers.Authorization.
// The user runs /mcp reload. New entries as `copilot mcp add` writes
// them, with "tools": ["*"].
func copilot() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers: func(*Target) []string { return []string{"mcpServers"} },
			newEntry: func(t *Target) []byte {
				return object(kv{"type", "http"}, kv{"url", t.cfg.URL}, kv{"tools", []string{"*"}})
			},
			bridgeEntry: func(t *Target) []byte {
				return object(kv{"type", "local"}, kv{"command", t.env.BrokerPath}, kv{"args", bridgeArgs(t)}, kv{"tools", []string{"*"}})
			},
			stdioType: "local",
			urlKeys:   []string{"url"},
		},
		path: func(t *Target) (string, error) {
			if d := t.env.getenv("COPILOT_HOME"); d != "" {
				return filepath.Join(d, "mcp-config.json"), nil
			}
			return filepath.Join(t.env.Home, ".copilot", "mcp-config.json"), nil
		},
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}
