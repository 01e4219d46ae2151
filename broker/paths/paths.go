// Package paths says where the broker keeps its config, state and socket.
// Everything honours HOME and the XDG variables, so a test isolates itself
// with a temporary HOME.
package paths

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
)

// App is the folder name used under every base directory.
const App = "mcp-token-broker"

// ConfigFile returns the user's config file: $BROKER_CONFIG when set, else
// <os.UserConfigDir()>/mcp-token-broker/config.toml. A --config flag
// overrides both; that is the caller's business.
func ConfigFile() (string, error) {
	if p := os.Getenv("BROKER_CONFIG"); p != "" {
		return filepath.Abs(p)
	}
	dir, err := os.UserConfigDir()
	if err != nil {
		return "", fmt.Errorf("finding the config folder: %w", err)
	}
	return filepath.Join(dir, App, "config.toml"), nil
}

// AdminConfigFile returns the optional machine-wide config file that an
// administrator (or MDM) rolls out; the user's file overrides it.
// $BROKER_ADMIN_CONFIG replaces it (for tests and unusual installs).
func AdminConfigFile() string {
	if p := os.Getenv("BROKER_ADMIN_CONFIG"); p != "" {
		return p
	}
	switch runtime.GOOS {
	case "windows":
		pd := os.Getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return filepath.Join(pd, App, "config.toml")
	case "darwin":
		return filepath.Join("/Library/Application Support", App, "config.toml")
	default:
		return filepath.Join("/etc", App, "config.toml")
	}
}

// StateDir returns the folder for the token cache and the log:
// $XDG_STATE_HOME/mcp-token-broker (default ~/.local/state) on Linux and other
// Unix systems, ~/Library/Application Support/mcp-token-broker on macOS,
// %LOCALAPPDATA%\mcp-token-broker on Windows. It does not create it.
func StateDir() (string, error) {
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("LOCALAPPDATA"); d != "" {
			return filepath.Join(d, App), nil
		}
		return "", fmt.Errorf("LOCALAPPDATA is not set")
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, "Library", "Application Support", App), nil
	default:
		if d := os.Getenv("XDG_STATE_HOME"); d != "" && filepath.IsAbs(d) {
			return filepath.Join(d, App), nil
		}
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, ".local", "state", App), nil
	}
}

// RuntimeDir returns the folder for the local socket:
// $XDG_RUNTIME_DIR/mcp-token-broker, or, without XDG_RUNTIME_DIR, a per-user
// folder in the temporary directory. It does not create it.
func RuntimeDir() (string, error) {
	if d := os.Getenv("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		return filepath.Join(d, App), nil
	}
	if runtime.GOOS == "windows" {
		return StateDir()
	}
	return filepath.Join(os.TempDir(), App+"-"+strconv.Itoa(os.Getuid())), nil
}

// SocketPath returns the daemon's local API socket.
func SocketPath() (string, error) {
	d, err := RuntimeDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, "broker.sock"), nil
}

// LogName is the daemon's log file in the state folder.
const LogName = "broker.log"

// LogFile returns the daemon's log file in the state folder.
func LogFile() (string, error) {
	d, err := StateDir()
	if err != nil {
		return "", err
	}
	return filepath.Join(d, LogName), nil
}
