// Package config reads the broker's TOML configuration: an optional admin
// file, overridden by the user's file. Errors name the file, line and key.
package config

import "time"

// Config is the merged configuration.
type Config struct {
	Settings Settings            `toml:"settings"`
	Profiles map[string]*Profile `toml:"profiles"`
	// Files lists the files that were read, admin file first.
	Files []string `toml:"-"`
	// Path is the user's config file (read or not): where `connect` and
	// `discover --write` add to.
	Path string `toml:"-"`
}

// Settings are the [settings] table.
type Settings struct {
	// Storage is "auto", "keyring" or "file".
	Storage string `toml:"storage"`
	// RefreshBefore: refresh when less than this is left (5m to 50m).
	RefreshBefore Duration `toml:"refresh_before"`
	// LogLevel is "debug", "info", "warn" or "error".
	LogLevel string `toml:"log_level"`
	// CAFile is a PEM bundle trusted beside the system's roots for every
	// profile (a TLS-inspecting proxy, a private CA); absolute after Load.
	CAFile string `toml:"ca_file"`
	// ProxyPort is the loopback proxy's port on 127.0.0.1 (0: the
	// default, fixed per user).
	ProxyPort int `toml:"proxy_port"`
}

// Profile is one [profiles.NAME] table: one app registration, one API.
type Profile struct {
	Name      string   `toml:"-"`
	Tenant    string   `toml:"tenant"`
	ClientID  string   `toml:"client_id"`
	Scopes    []string `toml:"scopes"`
	Authority string   `toml:"authority"`
	// Login is the sign-in method, where the tokens come from: "browser"
	// (default), "device-code", "azurecli", "azd" or "azureauth", or an
	// unattended source, "certificate", "workload-identity" or
	// "managed-identity" (see the Login* constants).
	Login     string `toml:"login"`
	LoginHint string `toml:"login_hint"`
	// CAFile is the profile's PEM bundle, instead of settings.ca_file.
	CAFile  string   `toml:"ca_file"`
	Targets []Target `toml:"targets"`
	// Unattended holds the keys of the unattended sources.
	Unattended
}

// CABundle returns the PEM bundle the profile trusts beside the system's
// roots: its own ca_file, else settings.ca_file ("" for none).
func (c *Config) CABundle(p *Profile) string {
	if p != nil && p.CAFile != "" {
		return p.CAFile
	}
	return c.Settings.CAFile
}

// Target is one [[profiles.NAME.targets]] entry: where to deliver the token.
type Target struct {
	// Client is claude, vscode, copilot, gemini, cursor, windsurf, codex,
	// claude-desktop, opencode, kilo, cline, continue, crush, qwen, zed, json,
	// envfile or file.
	Client string `toml:"client"`
	// Server is the MCP server's name in that client's file.
	Server string `toml:"server"`
	// URL lets the broker create the server entry when it is missing.
	URL string `toml:"url"`
	// Path overrides the client's default file.
	Path string `toml:"path"`
	// Project is Claude Code's local scope: projects["/abs/dir"].
	Project string `toml:"project"`
	// Mode is "helper" (default for claude), "proxy" (the daemon's
	// loopback proxy; default for copilot, gemini, cursor and windsurf
	// targets that have a url), "header", or "bridge" (a stdio entry
	// running `broker bridge`).
	Mode string `toml:"mode"`
	// Pointer is the RFC 6901 pointer of the value (client json).
	Pointer string `toml:"pointer"`
	// Template is the value written, with {token} (default "Bearer {token}").
	Template string `toml:"template"`
	// Var is the variable name (client envfile; default MCP_TOKEN).
	Var string `toml:"var"`
	// Format is sh, powershell or dotenv (client envfile); empty is the
	// OS's default: powershell (dotenv for a .env file) on Windows, sh
	// elsewhere.
	Format string `toml:"format"`

	// Profile is the name of the profile the target belongs to.
	Profile string `toml:"-"`
}

// Duration is a time.Duration written as "15m" in TOML.
type Duration struct{ time.Duration }

// UnmarshalText parses a Go duration string. A value that is not one
// (also a number without a unit, which the TOML decoder hands over as
// text) is a *DurationError.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return &DurationError{Value: string(b), Err: err}
	}
	d.Duration = v
	return nil
}

// DurationError is a value that is not a duration.
type DurationError struct {
	Value string
	Err   error
}

func (e *DurationError) Error() string { return e.Err.Error() }
func (e *DurationError) Unwrap() error { return e.Err }

// MarshalText writes the duration as Go prints it.
func (d Duration) MarshalText() ([]byte, error) { return []byte(d.Duration.String()), nil }
