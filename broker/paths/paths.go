// Package paths says where the broker keeps its config, state and socket.
// Everything honours HOME and the XDG variables, so a test isolates itself
// with a temporary HOME.
//
// Every per-OS choice goes through one seam, OS: the functions of the
// package use the process's (Default), and tests (and `broker demo`) pass
// their own GOOS, environment and home to drive the Linux, macOS and
// Windows branches on any machine.
package paths

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
)

// App is the folder name used under every base directory.
const App = "mcp-token-broker"

// OS is the machine as far as paths go: which OS, its environment and the
// user's home folder. The zero Getenv reads nothing.
type OS struct {
	// GOOS is "linux" (and other Unix), "darwin" or "windows".
	GOOS string
	// Getenv reads an environment variable.
	Getenv func(string) string
	// Home is the user's home folder ("" when unknown).
	Home string
}

// Default is this process's machine.
func Default() OS {
	home, _ := os.UserHomeDir()
	return OS{GOOS: runtime.GOOS, Getenv: os.Getenv, Home: home}
}

func (o OS) getenv(k string) string {
	if o.Getenv == nil {
		return ""
	}
	return o.Getenv(k)
}

// join joins path elements with the separator of o's OS, so that a
// Windows path built on Linux (in a test) has backslashes.
func (o OS) join(elem ...string) string {
	if o.GOOS == "windows" {
		var parts []string
		for _, e := range elem {
			if e != "" {
				parts = append(parts, strings.TrimRight(strings.ReplaceAll(e, "/", `\`), `\`))
			}
		}
		return strings.Join(parts, `\`)
	}
	return filepath.Join(elem...)
}

// IsAbs reports whether p is absolute on o's OS.
func (o OS) IsAbs(p string) bool {
	if o.GOOS == "windows" {
		return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') || strings.HasPrefix(p, `\\`)
	}
	return strings.HasPrefix(p, "/")
}

func (o OS) home() (string, error) {
	if o.Home == "" {
		return "", errors.New("finding the home folder: it is not set (HOME, or USERPROFILE on Windows)")
	}
	return o.Home, nil
}

// UserConfigDir is the OS's per-user config folder, like
// os.UserConfigDir: %APPDATA% on Windows, ~/Library/Application Support on
// macOS, $XDG_CONFIG_HOME (absolute) or ~/.config elsewhere.
func (o OS) UserConfigDir() (string, error) {
	switch o.GOOS {
	case "windows":
		if d := o.getenv("APPDATA"); d != "" {
			return d, nil
		}
		return "", errors.New("finding the config folder: APPDATA is not set")
	case "darwin":
		h, err := o.home()
		if err != nil {
			return "", err
		}
		return o.join(h, "Library", "Application Support"), nil
	}
	if d := o.getenv("XDG_CONFIG_HOME"); d != "" && o.IsAbs(d) {
		return d, nil
	}
	h, err := o.home()
	if err != nil {
		return "", err
	}
	return o.join(h, ".config"), nil
}

// ConfigFile returns the user's config file: $BROKER_CONFIG when set, else
// <UserConfigDir>/mcp-token-broker/config.toml. A --config flag overrides
// both; that is the caller's business.
func (o OS) ConfigFile() (string, error) {
	if p := o.getenv("BROKER_CONFIG"); p != "" {
		if o.IsAbs(p) {
			return p, nil
		}
		return filepath.Abs(p)
	}
	dir, err := o.UserConfigDir()
	if err != nil {
		return "", err
	}
	return o.join(dir, App, "config.toml"), nil
}

// AdminConfigFile returns the optional machine-wide config file that an
// administrator (or MDM) rolls out; the user's file overrides it.
// $BROKER_ADMIN_CONFIG replaces it (for tests and unusual installs).
func (o OS) AdminConfigFile() string {
	if p := o.getenv("BROKER_ADMIN_CONFIG"); p != "" {
		return p
	}
	switch o.GOOS {
	case "windows":
		pd := o.getenv("ProgramData")
		if pd == "" {
			pd = `C:\ProgramData`
		}
		return o.join(pd, App, "config.toml")
	case "darwin":
		return o.join("/Library/Application Support", App, "config.toml")
	default:
		return o.join("/etc", App, "config.toml")
	}
}

// StateDir returns the folder for the token cache and the log:
// $XDG_STATE_HOME/mcp-token-broker (default ~/.local/state) on Linux and other
// Unix systems, ~/Library/Application Support/mcp-token-broker on macOS,
// %LOCALAPPDATA%\mcp-token-broker on Windows. It does not create it.
func (o OS) StateDir() (string, error) {
	switch o.GOOS {
	case "windows":
		if d := o.getenv("LOCALAPPDATA"); d != "" {
			return o.join(d, App), nil
		}
		return "", fmt.Errorf("LOCALAPPDATA is not set")
	case "darwin":
		h, err := o.home()
		if err != nil {
			return "", err
		}
		return o.join(h, "Library", "Application Support", App), nil
	default:
		if d := o.getenv("XDG_STATE_HOME"); d != "" && o.IsAbs(d) {
			return o.join(d, App), nil
		}
		h, err := o.home()
		if err != nil {
			return "", err
		}
		return o.join(h, ".local", "state", App), nil
	}
}

// RuntimeDir returns the folder for the local socket:
// $XDG_RUNTIME_DIR/mcp-token-broker, or, without XDG_RUNTIME_DIR, a per-user
// folder in the temporary directory ($TMPDIR or /tmp). On Windows, where
// the local API is a named pipe, it is the state folder. It does not
// create it.
func (o OS) RuntimeDir() (string, error) {
	if o.GOOS == "windows" {
		return o.StateDir()
	}
	if d := o.getenv("XDG_RUNTIME_DIR"); d != "" && o.IsAbs(d) {
		return o.join(d, App), nil
	}
	tmp := o.getenv("TMPDIR")
	if tmp == "" {
		tmp = "/tmp"
	}
	return o.join(tmp, App+"-"+strconv.Itoa(os.Getuid())), nil
}

// SocketPath returns the daemon's local API socket (Unix).
func (o OS) SocketPath() (string, error) {
	d, err := o.RuntimeDir()
	if err != nil {
		return "", err
	}
	return o.join(d, "broker.sock"), nil
}

// LogName is the daemon's log file in the state folder.
const LogName = "broker.log"

// LogFile returns the daemon's log file in the state folder.
func (o OS) LogFile() (string, error) {
	d, err := o.StateDir()
	if err != nil {
		return "", err
	}
	return o.join(d, LogName), nil
}

// ConfigFile is Default().ConfigFile().
func ConfigFile() (string, error) { return Default().ConfigFile() }

// AdminConfigFile is Default().AdminConfigFile().
func AdminConfigFile() string { return Default().AdminConfigFile() }

// StateDir is Default().StateDir().
func StateDir() (string, error) { return Default().StateDir() }

// RuntimeDir is Default().RuntimeDir().
func RuntimeDir() (string, error) { return Default().RuntimeDir() }

// SocketPath is Default().SocketPath().
func SocketPath() (string, error) { return Default().SocketPath() }

// LogFile is Default().LogFile().
func LogFile() (string, error) { return Default().LogFile() }
