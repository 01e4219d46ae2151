// Package state defines what the broker reports about itself: the shape of
// `broker status --json`, of the local API's status answer, and what the
// tray draws. Nothing here holds a token.
package state

import "time"

// Profile states, as `status` prints them.
const (
	SignedOut      = "signed-out"
	OK             = "ok"
	Refreshing     = "refreshing"
	Degraded       = "degraded" // temporary failures; the current token may still be valid
	SignInRequired = "sign-in-required"
)

// Target states.
const (
	TargetOK      = "ok"
	TargetError   = "error"
	TargetPending = "pending"
)

// Status is the whole picture.
type Status struct {
	Daemon  Daemon `json:"daemon"`
	Storage string `json:"storage"` // "keyring" or "file"
	// StorageWarning is set when tokens are kept in a plain file.
	StorageWarning string `json:"storage_warning,omitempty"`
	// ConfigError is the last config reload error (the last good config
	// stays in force).
	ConfigError  string        `json:"config_error,omitempty"`
	StartAtLogin *StartAtLogin `json:"start_at_login,omitempty"`
	Profiles     []Profile     `json:"profiles"`
	// Proxy is the daemon's loopback MCP proxy (nil when no target uses it).
	Proxy *Proxy `json:"proxy,omitempty"`
}

// Proxy is the loopback MCP proxy's state.
type Proxy struct {
	// Address is where it listens ("127.0.0.1:PORT"; "" when it cannot).
	Address string `json:"address"`
	// Error says why it does not listen (the port is taken, …).
	Error   string        `json:"error,omitempty"`
	Targets []ProxyTarget `json:"targets"`
}

// ProxyTarget is one proxied target: its loopback URL, the real server,
// and what went through.
type ProxyTarget struct {
	Profile  string `json:"profile"`
	Client   string `json:"client"`
	Server   string `json:"server"`
	URL      string `json:"url"`
	Upstream string `json:"upstream"`
	// Requests is how many requests were forwarded since the daemon started.
	Requests int64 `json:"requests"`
	// LastError is the last upstream failure (a refused token, a 5xx, a
	// network error) and when it happened.
	LastError   string     `json:"last_error,omitempty"`
	LastErrorAt *time.Time `json:"last_error_at,omitempty"`
	// SignInRequired is set while requests are refused because the
	// profile needs `broker login`.
	SignInRequired bool `json:"sign_in_required,omitempty"`
}

// Daemon says whether `broker run` is running.
type Daemon struct {
	Running bool `json:"running"`
	PID     int  `json:"pid,omitempty"`
	// Error says why a daemon that runs did not answer (the rest of the
	// status is then read from the token cache).
	Error string `json:"error,omitempty"`
}

// StartAtLogin says whether and how the broker starts at login.
type StartAtLogin struct {
	Installed bool   `json:"installed"`
	Kind      string `json:"kind,omitempty"` // xdg-autostart, systemd-user, launchagent, windows-run
	Path      string `json:"path,omitempty"`
	// Current reports whether the entry starts this binary.
	Current bool   `json:"current"`
	Problem string `json:"problem,omitempty"`
}

// Profile is one profile's state.
type Profile struct {
	Name        string     `json:"name"`
	State       string     `json:"state"`
	Account     string     `json:"account,omitempty"`
	ExpiresOn   *time.Time `json:"expires_on,omitempty"`
	NextRefresh *time.Time `json:"next_refresh,omitempty"`
	LastError   string     `json:"last_error,omitempty"`
	// SignInPrompt is what the user must do to finish a sign-in in
	// progress: open a URL and enter a device code.
	SignInPrompt string `json:"sign_in_prompt,omitempty"`
	// ChallengedBy names the server whose challenge (Conditional Access
	// claims, a scope without consent) made the profile sign-in
	// required; LastError says what it asked for.
	ChallengedBy string `json:"challenged_by,omitempty"`
	// AddedScopes are the scopes that servers' scope challenges added to
	// the profile's: every request of the profile asks for them too.
	AddedScopes []string `json:"added_scopes,omitempty"`
	// Source is where the tokens come from: the profile's login
	// (browser, device-code, azurecli, azd, azureauth).
	Source  string   `json:"source,omitempty"`
	Targets []Target `json:"targets"`
}

// Target is one delivery target's last result.
type Target struct {
	Client  string     `json:"client"`
	Server  string     `json:"server,omitempty"`
	Path    string     `json:"path"`
	State   string     `json:"state"`
	Error   string     `json:"error,omitempty"`
	Written *time.Time `json:"written,omitempty"`
	// Result is the last write's word: ok (written), unchanged or error
	// (the same words as `broker sync`).
	Result string `json:"result,omitempty"`
	// Hint says what to do about Error.
	Hint string `json:"hint,omitempty"`
	// Warning is a problem that did not stop the write.
	Warning string `json:"warning,omitempty"`
}
