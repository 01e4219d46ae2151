package integrations

import "path/filepath"

// claude is Claude Code: ~/.claude.json (or $CLAUDE_CONFIG_DIR/.claude.json),
// user scope mcpServers.NAME; with project = "/abs/dir" the local scope
// projects["/abs/dir"].mcpServers.NAME; a path to a .mcp.json is the
// project scope. The default mode is helper: headersHelper runs `broker
// headers` on every connect and after a 401, so running sessions survive
// the hourly rotation (Claude Code never re-reads its files mid-session).
// Entries as `claude mcp add-json` writes them: {"type": "http", "url": …}.
func claude() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers: func(t *Target) []string {
				if t.cfg.Project != "" {
					return []string{"projects", t.cfg.Project, "mcpServers"}
				}
				return []string{"mcpServers"}
			},
			newEntry: func(t *Target) []byte { return object(kv{"type", "http"}, kv{"url", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte {
				return stdioEntry(t, kv{"type", "stdio"})
			},
			stdioType: "stdio",
			urlKeys:   []string{"url"},
		},
		path: func(t *Target) (string, error) {
			if d := t.env.getenv("CLAUDE_CONFIG_DIR"); d != "" {
				return filepath.Join(d, ".claude.json"), nil
			}
			return filepath.Join(t.env.Home, ".claude.json"), nil
		},
		modeList: []string{ModeHelper, ModeHeader, ModeProxy, ModeBridge},
	}
}

// claudeDesktop is Claude Desktop, which only starts stdio servers: the
// entry runs `broker bridge NAME`.
func claudeDesktop() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"mcpServers"} },
			newEntry:    func(t *Target) []byte { return stdioEntry(t) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t) },
		},
		path: func(t *Target) (string, error) {
			return filepath.Join(userConfigDir(t.env), "Claude", "claude_desktop_config.json"), nil
		},
		modeList: []string{ModeBridge},
	}
}
