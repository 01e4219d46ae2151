package integrations

import "path/filepath"

// cline is the Cline CLI (cline): $CLINE_MCP_SETTINGS_PATH, else
// $CLINE_DATA_DIR/settings/cline_mcp_settings.json, else
// ($CLINE_DIR or ~/.cline)/data/settings/cline_mcp_settings.json, on every
// OS. An entry keeps its connection in "transport", as `cline mcp add
// --transport http --header … --yes` writes it:
// mcpServers.NAME.transport = {"type": "streamableHttp", "url": …,
// "headers": {…}}; a stdio one {"type": "stdio", "command": …, "args": […]}.
func cline() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers: func(*Target) []string { return []string{"mcpServers"} },
			newEntry: func(t *Target) []byte {
				return object(kv{"transport", object(kv{"type", "streamableHttp"}, kv{"url", t.cfg.URL})})
			},
			bridgeEntry: func(t *Target) []byte {
				return object(kv{"transport", stdioEntry(t, kv{"type", "stdio"})})
			},
			inner:      []string{"transport"},
			stdioType:  "stdio",
			remoteType: "streamableHttp",
			urlKeys:    []string{"url"},
		},
		path: func(t *Target) (string, error) {
			if p := t.env.getenv("CLINE_MCP_SETTINGS_PATH"); p != "" {
				return expandHome(p, t.env.Home), nil
			}
			data := t.env.getenv("CLINE_DATA_DIR")
			if data == "" {
				dir := t.env.getenv("CLINE_DIR")
				if dir == "" {
					dir = filepath.Join(t.env.Home, ".cline")
				}
				data = filepath.Join(dir, "data")
			}
			return filepath.Join(expandHome(data, t.env.Home), "settings", "cline_mcp_settings.json"), nil
		},
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}
