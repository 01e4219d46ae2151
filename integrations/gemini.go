package integrations

// gemini is Gemini CLI: ~/.gemini/settings.json, mcpServers.NAME, whose
// streamable HTTP endpoint is "httpUrl".
func gemini() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"mcpServers"} },
			newEntry:    func(t *Target) []byte { return object(kv{"httpUrl", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t) },
			urlKeys:     []string{"httpUrl", "url"},
		},
		path:     inHome(".gemini", "settings.json"),
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}
