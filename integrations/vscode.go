package integrations

import "path/filepath"

// vscode is VS Code: the user mcp.json in the profile folder, a workspace
// .vscode/mcp.json, or (path to a settings.json) the legacy mcp.servers.
// The entry's headers.Authorization is rewritten; VS Code watches the file
// and restarts the changed server. Its files are JSONC.
func vscode() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers: func(t *Target) []string {
				if filepath.Base(t.path) == "settings.json" {
					return []string{"mcp", "servers"}
				}
				return []string{"servers"}
			},
			newEntry:    func(t *Target) []byte { return object(kv{"type", "http"}, kv{"url", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t, kv{"type", "stdio"}) },
			stdioType:   "stdio",
			urlKeys:     []string{"url"},
		},
		path: func(t *Target) (string, error) {
			return filepath.Join(userConfigDir(t.env), "Code", "User", "mcp.json"), nil
		},
		modeList: []string{ModeHeader, ModeProxy, ModeBridge},
	}
}
