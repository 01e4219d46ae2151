package integrations

import "path/filepath"

// qwen is Qwen Code (@qwen-code/qwen-code, built on Gemini CLI):
// $QWEN_HOME/settings.json, else ~/.qwen/settings.json on every OS;
// mcpServers.NAME with "httpUrl" for Streamable HTTP (what `qwen mcp add
// --transport http` writes) and "headers". $VAR and ${VAR} in the settings
// are expanded when Qwen Code starts; it reads them then.
func qwen() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"mcpServers"} },
			newEntry:    func(t *Target) []byte { return object(kv{"httpUrl", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t) },
			urlKeys:     []string{"httpUrl", "url"},
		},
		path: func(t *Target) (string, error) {
			if d := t.env.getenv("QWEN_HOME"); d != "" {
				return filepath.Join(expandHome(d, t.env.Home), "settings.json"), nil
			}
			return filepath.Join(t.env.Home, ".qwen", "settings.json"), nil
		},
		modeList: []string{ModeProxy, ModeHeader, ModeBridge},
	}
}
