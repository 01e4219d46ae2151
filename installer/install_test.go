package installer_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

// desktopEnv is a Linux desktop session in a temporary HOME with the broker
// at exe (default: HOME/.local/bin/broker).
func desktopEnv(t *testing.T, home, exe string) installer.Env {
	t.Helper()
	vars := map[string]string{"DISPLAY": ":99", "XDG_CURRENT_DESKTOP": "GNOME"}
	return installer.Env{
		GOOS:       "linux",
		Home:       home,
		Getenv:     func(k string) string { return vars[k] },
		Executable: exe,
		Systemctl: func(context.Context, ...string) ([]byte, error) {
			t.Error("a desktop install must not run systemctl")
			return nil, errors.New("no systemctl in this test")
		},
	}
}

// TestInstallTwiceUninstallTwice: install → install → uninstall → uninstall
// leaves HOME exactly as it was, with and without an autostart folder that
// holds another program's entry.
func TestInstallTwiceUninstallTwice(t *testing.T) {
	t.Parallel()
	for _, pre := range []string{"empty home", "other autostart entry"} {
		t.Run(pre, func(t *testing.T) {
			t.Parallel()
			ctx := context.Background()
			home := t.TempDir()
			if pre == "other autostart entry" {
				p := filepath.Join(home, ".config", "autostart", "other.desktop")
				os.MkdirAll(filepath.Dir(p), 0o755)
				os.WriteFile(p, []byte("[Desktop Entry]\nType=Application\nName=Other\nExec=other\n"), 0o644)
			}
			before := snapshot(t, home)
			env := desktopEnv(t, home, "/opt/My Apps/broker")

			r1, err := installer.Install(ctx, env, installer.Options{})
			if err != nil || !r1.Changed || r1.Kind != installer.KindXDGAutostart {
				t.Fatalf("first install: %+v, %v", r1, err)
			}
			entry := filepath.Join(home, ".config", "autostart", "mcp-token-broker.desktop")
			if r1.Path != entry {
				t.Errorf("installed at %s, want %s", r1.Path, entry)
			}
			got, err := os.ReadFile(entry)
			if err != nil {
				t.Fatal(err)
			}
			golden(t, "installed-autostart.desktop", got)
			mid := snapshot(t, home)

			r2, err := installer.Install(ctx, env, installer.Options{})
			if err != nil || r2.Changed || !strings.Contains(r2.Message, "already installed") {
				t.Fatalf("second install: %+v, %v", r2, err)
			}
			if d := cmp.Diff(mid, snapshot(t, home)); d != "" {
				t.Errorf("the second install changed HOME (-first +second):\n%s", d)
			}
			st, err := installer.Status(env)
			if err != nil || !st.Installed || !st.Current || st.Problem != "" {
				t.Errorf("status after install: %+v, %v", st, err)
			}

			u1, err := installer.Uninstall(ctx, env)
			if err != nil || !u1.Changed {
				t.Fatalf("first uninstall: %+v, %v", u1, err)
			}
			u2, err := installer.Uninstall(ctx, env)
			if err != nil || u2.Changed || !strings.Contains(u2.Message, "not installed") {
				t.Fatalf("second uninstall: %+v, %v", u2, err)
			}
			if d := cmp.Diff(before, snapshot(t, home)); d != "" {
				t.Errorf("HOME differs after install, install, uninstall, uninstall (-before +after):\n%s", d)
			}
			st, err = installer.Status(env)
			if err != nil || st.Installed || st.Kind != installer.KindXDGAutostart || st.Path != entry {
				t.Errorf("status after uninstall: %+v, %v", st, err)
			}
		})
	}
}

func TestStatusSeesAnotherBinary(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	home := t.TempDir()
	old := desktopEnv(t, home, "/opt/old/broker")
	if _, err := installer.Install(ctx, old, installer.Options{}); err != nil {
		t.Fatal(err)
	}
	env := desktopEnv(t, home, "/home/alice/.local/bin/broker")
	st, err := installer.Status(env)
	if err != nil {
		t.Fatal(err)
	}
	if !st.Installed || st.Current || !strings.Contains(st.Problem, "/opt/old/broker") {
		t.Errorf("status with an entry for another binary: %+v", st)
	}
	b, _ := json.Marshal(st.State())
	want := `{"installed":true,"kind":"xdg-autostart","path":"` + st.Path + `","current":false,"problem":"` + st.Problem + `"}`
	if string(b) != want {
		t.Errorf("status JSON:\n got %s\nwant %s", b, want)
	}
	// Installing again points the entry here.
	r, err := installer.Install(ctx, env, installer.Options{})
	if err != nil || !r.Changed {
		t.Fatalf("reinstall: %+v, %v", r, err)
	}
	if st, _ := installer.Status(env); !st.Current {
		t.Errorf("after reinstall: %+v", st)
	}
}

func TestInstallHonoursXDGConfigHome(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	cfg := filepath.Join(t.TempDir(), "cfg")
	env := desktopEnv(t, home, "/opt/broker")
	env.Getenv = func(k string) string {
		return map[string]string{"WAYLAND_DISPLAY": "wayland-0", "XDG_CONFIG_HOME": cfg}[k]
	}
	r, err := installer.Install(context.Background(), env, installer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(cfg, "autostart", "mcp-token-broker.desktop"); r.Path != want {
		t.Errorf("path %s, want %s", r.Path, want)
	}
}

func TestInstallRefusesTemporaryBinary(t *testing.T) {
	t.Parallel()
	for _, exe := range []string{"broker", "/tmp/go-build123/b001/exe/broker"} {
		env := desktopEnv(t, t.TempDir(), exe)
		if _, err := installer.Install(context.Background(), env, installer.Options{}); err == nil {
			t.Errorf("installed an entry for %q", exe)
		}
	}
}

// waitFile waits until path has a line "--" (a fake broker's record is
// complete) and returns its lines.
func waitRecord(t *testing.T, path string) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if strings.HasSuffix(string(b), "--\n") {
			return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nothing started the fake broker (no complete record in %s)", path)
	return nil
}

// TestAutostartLaunchers installs the entry in a temporary HOME and has real
// autostart implementations start it, each of which must start exactly the
// installed binary with `run`:
//   - `dex --autostart` (minimal sessions) reads $XDG_CONFIG_HOME/autostart;
//   - `gio launch` (GLib, as GNOME does);
//   - systemd's xdg-autostart generator (GNOME and KDE on systemd turn
//     autostart entries into units with it), checked by systemd-analyze.
//
// Their output goes to a file, never a pipe: the started program could hold
// a pipe open.
func TestAutostartLaunchers(t *testing.T) {
	t.Parallel()
	dex := needTool(t, "dex")
	gio := needTool(t, "gio")
	analyze := needTool(t, "systemd-analyze")
	generator := "/usr/lib/systemd/user-generators/systemd-xdg-autostart-generator"
	if _, err := os.Stat(generator); err != nil {
		needTool(t, generator)
	}
	for name, rel := range weirdPaths("apps") {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			home := t.TempDir()
			exe := filepath.Join(home, rel)
			record := filepath.Join(t.TempDir(), "argv")
			fakeBroker(t, exe, record)
			env := desktopEnv(t, home, exe)
			r, err := installer.Install(context.Background(), env, installer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			empty := t.TempDir() // no system-wide autostart entries
			sessionEnv := []string{
				"HOME=" + home, "PATH=" + os.Getenv("PATH"),
				"XDG_CONFIG_HOME=" + filepath.Join(home, ".config"),
				"XDG_CONFIG_DIRS=" + empty, "XDG_DATA_DIRS=" + empty,
				"XDG_RUNTIME_DIR=" + t.TempDir(),
			}
			logPath := filepath.Join(t.TempDir(), "launcher.log")
			run := func(args ...string) {
				t.Helper()
				log, err := os.Create(logPath)
				if err != nil {
					t.Fatal(err)
				}
				defer log.Close()
				cmd := exec.Command(args[0], args[1:]...)
				cmd.Env = sessionEnv
				cmd.Stdout, cmd.Stderr = log, log
				if err := cmd.Run(); err != nil {
					b, _ := os.ReadFile(logPath)
					t.Fatalf("%v: %v\n%s", args, err, b)
				}
			}
			check := func(launcher string) {
				t.Helper()
				got := waitRecord(t, record)
				if d := cmp.Diff([]string{exe, "run", "--"}, got); d != "" {
					b, _ := os.ReadFile(logPath)
					t.Errorf("%s started (-want +got):\n%s\nit said:\n%s", launcher, d, b)
				}
				os.Remove(record)
			}

			run(dex, "--autostart", "--verbose")
			check("dex --autostart")
			run(gio, "launch", r.Path)
			check("gio launch")

			out := t.TempDir()
			run(generator, out, out, out)
			units, _ := filepath.Glob(filepath.Join(out, "*.service"))
			if len(units) != 1 {
				b, _ := os.ReadFile(logPath)
				t.Fatalf("the xdg-autostart generator made %v\n%s", units, b)
			}
			unit, _ := os.ReadFile(units[0])
			if !regexp.MustCompile(`(?m)^ExecStart=.* run$`).Match(unit) {
				t.Errorf("generated unit does not run `run`:\n%s", unit)
			}
			// verify fails when ExecStart's program does not exist.
			run(analyze, "verify", "--user", "--man=no", units[0])
			if b, _ := os.ReadFile(logPath); len(b) > 0 {
				t.Errorf("systemd-analyze verify on the generated unit:\n%s\n%s", b, unit)
			}
		})
	}
}
