package integrations

// windsurf is Windsurf: ~/.codeium/windsurf/mcp_config.json,
// mcpServers.NAME with "serverUrl".
func windsurf() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"mcpServers"} },
			newEntry:    func(t *Target) []byte { return object(kv{"serverUrl", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t) },
			urlKeys:     []string{"serverUrl", "url"},
		},
		path:     inHome(".codeium", "windsurf", "mcp_config.json"),
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}
