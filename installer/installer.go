// Package installer makes the broker start at login and reads that setup back:
// an XDG autostart entry for Linux desktop sessions, a systemd user unit for
// headless Linux, a LaunchAgent on macOS and the HKCU Run value on Windows.
//
// Every entry is rendered from a template embedded in the binary, so what
// `broker install` writes, what `status` compares against and what the tests
// check are the same bytes. Install and Uninstall are idempotent.
package installer

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// Kinds of start-at-login entries.
const (
	KindXDGAutostart = "xdg-autostart"
	KindSystemdUser  = "systemd-user"
	KindLaunchAgent  = "launchagent"
	KindWindowsRun   = "windows-run"
)

// Names the entries are installed under.
const (
	// Name is the desktop file's base name, the systemd unit's name and the
	// Windows Run value's name.
	Name = "mcp-token-broker"
	// LaunchdLabel is the LaunchAgent's label and plist base name.
	LaunchdLabel = "mcp-token-broker"
)

// ErrNoUserManager means a systemd user unit was asked for but no systemd
// user manager answers (`systemctl --user` fails); nothing was installed.
var ErrNoUserManager = errors.New("no systemd user manager is running")

// Env is everything Install, Uninstall and Status read from the machine.
// OSEnv fills it for the running process; tests build one by hand.
type Env struct {
	// GOOS selects the kind of entry: linux (and other Unix), darwin, windows.
	GOOS string
	// Home is the user's home folder.
	Home string
	// Getenv reads XDG_CONFIG_HOME and the desktop-session variables
	// (DISPLAY, WAYLAND_DISPLAY, XDG_CURRENT_DESKTOP).
	Getenv func(string) string
	// Executable is the absolute path of the broker binary the entry starts.
	Executable string
	// GUIExecutable (Windows) is brokerw.exe, the same program linked for
	// the GUI subsystem, when it is beside Executable: the Run key starts it,
	// so that no console window opens at login. Empty means Executable.
	GUIExecutable string
	// Systemctl runs `systemctl --user ARGS...` and returns its combined
	// output. Nil runs the real systemctl. kardianos/service runs systemctl
	// itself (enable, disable, daemon-reload), always the one on PATH.
	Systemctl func(ctx context.Context, args ...string) ([]byte, error)
	// RunKey is HKCU\Software\Microsoft\Windows\CurrentVersion\Run. Nil
	// means the real registry (only on Windows).
	RunKey RunKey
}

// OSEnv returns the Env of the running process: its OS, home, environment
// and the absolute path of its own binary as os.Executable gives it (Linux
// resolves symlinks; macOS keeps a stable symlink such as Homebrew's).
func OSEnv() (Env, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return Env{}, fmt.Errorf("finding the home folder: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return Env{}, fmt.Errorf("finding the broker binary: %w", err)
	}
	env := Env{GOOS: runtime.GOOS, Home: home, Getenv: os.Getenv, Executable: exe}
	if runtime.GOOS == "windows" {
		gui := filepath.Join(filepath.Dir(exe), "brokerw.exe")
		if _, err := os.Stat(gui); err == nil {
			env.GUIExecutable = gui
		}
	}
	return env, nil
}

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// configHome is $XDG_CONFIG_HOME when it is absolute, else ~/.config.
func (e Env) configHome() string {
	if d := e.getenv("XDG_CONFIG_HOME"); d != "" && filepath.IsAbs(d) {
		return d
	}
	return filepath.Join(e.Home, ".config")
}

// desktopSession reports whether a graphical session is visible.
func (e Env) desktopSession() bool {
	return e.getenv("DISPLAY") != "" || e.getenv("WAYLAND_DISPLAY") != "" || e.getenv("XDG_CURRENT_DESKTOP") != ""
}

// Options tune Install.
type Options struct {
	// Headless installs a systemd user unit (`broker run --no-tray`) on
	// Linux instead of the desktop autostart entry. Without a desktop session
	// Install chooses it by itself.
	Headless bool
}

// Entry is what start at login looks like now.
type Entry struct {
	// Kind is one of the Kind constants: the installed kind, or the one that
	// Install would choose when nothing is installed.
	Kind string
	// Path is the entry's file, or the registry value on Windows.
	Path string
	// Installed reports whether the entry exists.
	Installed bool
	// Current reports whether the entry starts this binary with the right
	// arguments (and, for systemd, is enabled).
	Current bool
	// Problem says what is wrong with an installed entry, for humans.
	Problem string
}

// State returns the entry in the shape of `status --json`.
func (e Entry) State() *state.StartAtLogin {
	return &state.StartAtLogin{Installed: e.Installed, Kind: e.Kind, Path: e.Path, Current: e.Current, Problem: e.Problem}
}

// Result says what Install or Uninstall did.
type Result struct {
	Kind string
	Path string
	// Changed is false when there was nothing to do.
	Changed bool
	// Message is one line for the user.
	Message string
}

// backend is one kind of entry.
type backend interface {
	kind() string
	path() (string, error)
	status(ctx context.Context) (Entry, error)
	install(ctx context.Context) (Result, error)
	uninstall(ctx context.Context) (Result, error)
}

// Status reports what start at login looks like now. It may run
// `systemctl --user` (bounded by a 5 s timeout); StatusContext takes a ctx.
func Status(env Env) (Entry, error) {
	ctx, cancel := context.WithTimeout(context.Background(), systemctlTimeout)
	defer cancel()
	return StatusContext(ctx, env)
}

// StatusContext is Status with a caller's ctx for the systemctl calls.
func StatusContext(ctx context.Context, env Env) (Entry, error) {
	bs, err := backends(env)
	if err != nil {
		return Entry{}, err
	}
	var found []Entry
	for _, b := range bs {
		e, err := b.status(ctx)
		if err != nil {
			return Entry{}, err
		}
		if e.Installed {
			found = append(found, e)
		}
	}
	switch len(found) {
	case 0:
		b, err := chooseBackend(env, Options{})
		if err != nil {
			return Entry{}, err
		}
		p, _ := b.path()
		return Entry{Kind: b.kind(), Path: p}, nil
	case 1:
		return found[0], nil
	default:
		e := found[0]
		var paths []string
		for _, f := range found {
			paths = append(paths, f.Path)
		}
		e.Problem = joinProblems(e.Problem, "more than one entry starts the broker: "+strings.Join(paths, ", ")+"; run `broker install` again to keep one")
		return e, nil
	}
}

// Install makes the broker start at login and removes an entry of another
// kind (the desktop entry when a systemd unit is installed and the other way
// round), so that it never starts twice. Installing the same entry again
// changes nothing and says so.
func Install(ctx context.Context, env Env, o Options) (Result, error) {
	if err := checkExecutable(env); err != nil {
		return Result{}, err
	}
	b, err := chooseBackend(env, o)
	if err != nil {
		return Result{}, err
	}
	res, err := b.install(ctx)
	if err != nil {
		return res, err
	}
	others, err := backends(env)
	if err != nil {
		return res, err
	}
	for _, other := range others {
		if other.kind() == b.kind() {
			continue
		}
		e, err := other.status(ctx)
		if err != nil || !e.Installed {
			continue
		}
		if _, err := other.uninstall(ctx); err != nil {
			return res, fmt.Errorf("removing the older %s entry %s: %w", e.Kind, e.Path, err)
		}
		res.Changed = true
		res.Message += fmt.Sprintf("\nremoved the %s entry %s", e.Kind, e.Path)
	}
	return res, nil
}

// Uninstall removes every start-at-login entry of the broker. It does not stop
// a running broker. Running it when nothing is installed is fine and says so.
func Uninstall(ctx context.Context, env Env) (Result, error) {
	bs, err := backends(env)
	if err != nil {
		return Result{}, err
	}
	var done []string
	var res Result
	for _, b := range bs {
		e, err := b.status(ctx)
		if err != nil {
			return res, err
		}
		if !e.Installed {
			continue
		}
		r, err := b.uninstall(ctx)
		if err != nil {
			return res, err
		}
		res = Result{Kind: r.Kind, Path: r.Path, Changed: true}
		done = append(done, r.Message)
	}
	if len(done) == 0 {
		return Result{Message: "start at login is not installed; nothing to remove"}, nil
	}
	res.Message = strings.Join(done, "\n")
	return res, nil
}

// backends lists every kind of entry that exists on env's OS.
func backends(env Env) ([]backend, error) {
	switch env.GOOS {
	case "windows":
		rk, err := env.runKey()
		if err != nil {
			return nil, err
		}
		return []backend{&windowsRun{env: env, key: rk}}, nil
	case "darwin":
		return []backend{&launchAgent{env: env}}, nil
	case "linux", "freebsd", "openbsd", "netbsd", "dragonfly":
		bs := []backend{&xdgAutostart{env: env}}
		if env.GOOS == "linux" {
			bs = append(bs, &systemdUser{env: env})
		}
		return bs, nil
	}
	return nil, fmt.Errorf("start at login is not supported on %s", env.GOOS)
}

// chooseBackend picks the kind Install writes.
func chooseBackend(env Env, o Options) (backend, error) {
	bs, err := backends(env)
	if err != nil {
		return nil, err
	}
	if env.GOOS == "linux" && (o.Headless || !env.desktopSession()) {
		return bs[1], nil
	}
	return bs[0], nil
}

// checkExecutable refuses a relative or temporary binary: the entry would
// start something that is gone at the next login.
func checkExecutable(env Env) error {
	exe := env.Executable
	if env.GOOS == "windows" {
		if !isWindowsAbs(exe) {
			return fmt.Errorf("the broker binary path %q is not absolute", exe)
		}
		return nil
	}
	if !filepath.IsAbs(exe) {
		return fmt.Errorf("the broker binary path %q is not absolute", exe)
	}
	if strings.Contains(exe, string(filepath.Separator)+"go-build") {
		return fmt.Errorf("the broker binary %s is a temporary `go run` build; install it first (make install) and run that binary", exe)
	}
	return nil
}

func isWindowsAbs(p string) bool {
	if strings.HasPrefix(p, `\\`) {
		return true
	}
	return len(p) >= 3 && p[1] == ':' && (p[2] == '\\' || p[2] == '/') &&
		(p[0]|0x20 >= 'a' && p[0]|0x20 <= 'z')
}

func joinProblems(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + "; " + b
}
