package installer_test

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

// fakeSystemctl is a systemctl on PATH that kardianos/service and the
// installer both run: it logs its calls, answers `show` unless the file
// "nomanager" exists, and enables by making the link the real one makes.
const fakeSystemctl = `#!/bin/sh
state=STATE
echo "$*" >> "$state/calls"
args=""
for a; do [ "$a" = --user ] || args="$args $a"; done
set -- $args
wants="$HOME/.config/systemd/user/default.target.wants"
case "$1" in
--version) echo "systemd 252 (252.38-1~deb12u1)";;
show) if [ -e "$state/nomanager" ]; then echo "Failed to connect to bus: No such file or directory" >&2; exit 1; fi; echo "Version=252";;
enable) if [ -e "$state/failenable" ]; then echo "Failed to enable unit: Access denied" >&2; exit 1; fi
	mkdir -p "$wants" && ln -sf "$HOME/.config/systemd/user/$2" "$wants/$2";;
disable) rm -f "$wants/$2";;
is-enabled) if [ -L "$wants/$2" ]; then echo enabled; else echo disabled; exit 1; fi;;
daemon-reload) ;;
*) echo "fake systemctl: unexpected $*" >&2; exit 1;;
esac
`

// headlessHome makes a temporary HOME (also in $HOME, which kardianos
// reads) with the fake systemctl first on PATH; it returns the Env and the
// fake's state folder. Tests that use it cannot run in parallel.
func headlessHome(t *testing.T) (installer.Env, string) {
	t.Helper()
	home := t.TempDir()
	stateDir := t.TempDir()
	bin := filepath.Join(stateDir, "bin")
	os.Mkdir(bin, 0o755)
	script := strings.ReplaceAll(fakeSystemctl, "STATE", shellQuote(stateDir))
	if err := os.WriteFile(filepath.Join(bin, "systemctl"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("HOME", home)
	t.Setenv("PATH", bin+string(os.PathListSeparator)+os.Getenv("PATH"))
	env := installer.Env{
		GOOS:       "linux",
		Home:       home,
		Getenv:     func(string) string { return "" }, // no desktop session
		Executable: "/opt/mcp token broker/bin/broker",
	}
	return env, stateDir
}

func calls(t *testing.T, stateDir string) string {
	b, _ := os.ReadFile(filepath.Join(stateDir, "calls"))
	return string(b)
}

func TestHeadlessInstallTwiceUninstallTwice(t *testing.T) {
	ctx := context.Background()
	env, stateDir := headlessHome(t)
	before := snapshot(t, env.Home)

	// No desktop session: Install chooses the systemd user unit by itself.
	r1, err := installer.Install(ctx, env, installer.Options{})
	if err != nil || !r1.Changed || r1.Kind != installer.KindSystemdUser {
		t.Fatalf("first install: %+v, %v\ncalls:\n%s", r1, err, calls(t, stateDir))
	}
	unit := filepath.Join(env.Home, ".config", "systemd", "user", "mcp-token-broker.service")
	got, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "installed-systemd.service", got)
	for _, want := range []string{"enable --user mcp-token-broker.service", "daemon-reload --user"} {
		if !strings.Contains(calls(t, stateDir), want) {
			t.Errorf("kardianos did not run systemctl %s; calls:\n%s", want, calls(t, stateDir))
		}
	}
	st, err := installer.Status(env)
	if err != nil || !st.Installed || !st.Current || st.Kind != installer.KindSystemdUser || st.Path != unit {
		t.Errorf("status: %+v, %v", st, err)
	}
	mid := snapshot(t, env.Home)

	r2, err := installer.Install(ctx, env, installer.Options{Headless: true})
	if err != nil || r2.Changed || !strings.Contains(r2.Message, "already installed") {
		t.Fatalf("second install: %+v, %v", r2, err)
	}
	if d := cmp.Diff(mid, snapshot(t, env.Home)); d != "" {
		t.Errorf("the second install changed HOME:\n%s", d)
	}

	if u, err := installer.Uninstall(ctx, env); err != nil || !u.Changed {
		t.Fatalf("first uninstall: %+v, %v", u, err)
	}
	if !strings.Contains(calls(t, stateDir), "disable --user mcp-token-broker.service") {
		t.Errorf("uninstall did not disable the unit; calls:\n%s", calls(t, stateDir))
	}
	if u, err := installer.Uninstall(ctx, env); err != nil || u.Changed {
		t.Fatalf("second uninstall: %+v, %v", u, err)
	}
	if d := cmp.Diff(before, snapshot(t, env.Home)); d != "" {
		t.Errorf("HOME differs after install, install, uninstall, uninstall (-before +after):\n%s", d)
	}
}

func TestHeadlessStatusSeesDisabledUnit(t *testing.T) {
	ctx := context.Background()
	env, _ := headlessHome(t)
	if _, err := installer.Install(ctx, env, installer.Options{Headless: true}); err != nil {
		t.Fatal(err)
	}
	if err := exec.Command("systemctl", "--user", "disable", "mcp-token-broker.service").Run(); err != nil {
		t.Fatal(err)
	}
	st, err := installer.Status(env)
	if err != nil || !st.Installed || st.Current || !strings.Contains(st.Problem, "disabled") {
		t.Errorf("status of a disabled unit: %+v, %v", st, err)
	}
	// Installing again enables it.
	if r, err := installer.Install(ctx, env, installer.Options{Headless: true}); err != nil || !r.Changed {
		t.Fatalf("reinstall: %+v, %v", r, err)
	}
	if st, _ := installer.Status(env); !st.Current {
		t.Errorf("after reinstall: %+v", st)
	}
}

// TestHeadlessWithoutManager: when no systemd user manager answers, Install
// says so and leaves HOME exactly as it was; so does an enable that fails.
func TestHeadlessWithoutManager(t *testing.T) {
	for _, c := range []struct{ name, flag string }{{"no manager", "nomanager"}, {"enable fails", "failenable"}} {
		t.Run(c.name, func(t *testing.T) {
			env, stateDir := headlessHome(t)
			os.WriteFile(filepath.Join(stateDir, c.flag), nil, 0o644)
			before := snapshot(t, env.Home)
			_, err := installer.Install(context.Background(), env, installer.Options{Headless: true})
			if err == nil {
				t.Fatal("install succeeded")
			}
			if c.flag == "nomanager" && !errors.Is(err, installer.ErrNoUserManager) {
				t.Errorf("error %v is not ErrNoUserManager", err)
			}
			if d := cmp.Diff(before, snapshot(t, env.Home)); d != "" {
				t.Errorf("a failed install left (-before +after):\n%s", d)
			}
		})
	}
}

// TestHeadlessRealSystemctl runs the real systemctl with no user manager
// reachable (a private, empty XDG_RUNTIME_DIR and no session bus).
func TestHeadlessRealSystemctl(t *testing.T) {
	needTool(t, "systemctl")
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
	env := installer.Env{GOOS: "linux", Home: home, Getenv: func(string) string { return "" }, Executable: "/usr/bin/broker"}
	_, err := installer.Install(context.Background(), env, installer.Options{Headless: true})
	if !errors.Is(err, installer.ErrNoUserManager) {
		t.Errorf("install without a user manager: %v, want ErrNoUserManager", err)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("HOME is not empty after a refused install: %v", entries)
	}
}

// TestSwitchKinds: installing one kind removes the other, so the broker
// never starts twice.
func TestSwitchKinds(t *testing.T) {
	ctx := context.Background()
	env, _ := headlessHome(t)
	before := snapshot(t, env.Home)
	if _, err := installer.Install(ctx, env, installer.Options{Headless: true}); err != nil {
		t.Fatal(err)
	}
	desktop := env
	desktop.Getenv = func(k string) string { return map[string]string{"DISPLAY": ":0"}[k] }
	r, err := installer.Install(ctx, desktop, installer.Options{})
	if err != nil || r.Kind != installer.KindXDGAutostart || !strings.Contains(r.Message, "removed the systemd-user entry") {
		t.Fatalf("desktop install over a headless one: %+v, %v", r, err)
	}
	if _, err := os.Stat(filepath.Join(env.Home, ".config", "systemd")); !os.IsNotExist(err) {
		t.Errorf("the systemd unit's folders are still there: %v", err)
	}
	if st, err := installer.Status(desktop); err != nil || st.Kind != installer.KindXDGAutostart || !st.Current {
		t.Errorf("status: %+v, %v", st, err)
	}
	if r, err := installer.Install(ctx, desktop, installer.Options{Headless: true}); err != nil || !strings.Contains(r.Message, "removed the xdg-autostart entry") {
		t.Fatalf("headless install over a desktop one: %+v, %v", r, err)
	}
	if _, err := installer.Uninstall(ctx, env); err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(before, snapshot(t, env.Home)); d != "" {
		t.Errorf("HOME differs (-before +after):\n%s", d)
	}
}
