package integrations

// cursor is Cursor: ~/.cursor/mcp.json, mcpServers.NAME with "url".
func cursor() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"mcpServers"} },
			newEntry:    func(t *Target) []byte { return object(kv{"url", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t) },
			urlKeys:     []string{"url"},
		},
		path:     inHome(".cursor", "mcp.json"),
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}
