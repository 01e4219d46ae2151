package integrations

import "path/filepath"

// zed is Zed: context_servers.NAME in its settings.json (JSONC: comments
// and trailing commas), {"url": …, "headers": {…}} for a remote server and
// {"command": …, "args": […]} for a stdio one. Zed watches settings.json
// and restarts a context server whose settings changed (its
// ContextServerStore compares each server's configuration on every
// settings change), so a rewritten header takes effect at once. Headers
// are sent as written: no variable expansion.
func zed() client {
	return jsonServerClient{
		jsonServers: jsonServers{
			servers:     func(*Target) []string { return []string{"context_servers"} },
			newEntry:    func(t *Target) []byte { return object(kv{"url", t.cfg.URL}) },
			bridgeEntry: func(t *Target) []byte { return stdioEntry(t) },
			urlKeys:     []string{"url"},
		},
		path:     func(t *Target) (string, error) { return zedSettings(t.env), nil },
		modeList: []string{ModeHeader, ModeProxy, ModeBridge},
	}
}

// zedSettings is Zed's settings.json as its paths crate finds it: on
// Windows %APPDATA%\Zed, on Linux $FLATPAK_XDG_CONFIG_HOME or
// $XDG_CONFIG_HOME (else ~/.config) then zed, on macOS ~/.config/zed.
func zedSettings(env Env) string {
	switch env.GOOS {
	case "windows":
		return filepath.Join(userConfigDir(env), "Zed", "settings.json")
	case "darwin":
		return filepath.Join(env.Home, ".config", "zed", "settings.json")
	}
	if d := env.getenv("FLATPAK_XDG_CONFIG_HOME"); d != "" && env.paths().IsAbs(d) {
		return filepath.Join(d, "zed", "settings.json")
	}
	return filepath.Join(userConfigDir(env), "zed", "settings.json")
}
