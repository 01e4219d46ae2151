//go:build linux

package desktoptest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
)

// KeyringPassword unlocks the login keyring that Keyring creates.
const KeyringPassword = "desktoptest"

// Keyring starts gnome-keyring-daemon with only its Secret Service component
// on the bus at busAddr, in a temporary HOME and XDG_DATA_HOME so that it
// creates a fresh login keyring, unlocked with a password given on stdin. It
// returns once org.freedesktop.secrets is owned on the bus and kills the
// daemon at the test's cleanup. DISPLAY is unset for the daemon so that no
// prompt can ever be shown (and hang).
//
// It does not change the test's environment: a test that uses go-keyring
// sets DBUS_SESSION_BUS_ADDRESS (and unsets DISPLAY) itself with t.Setenv,
// and so cannot be t.Parallel.
//
// gnome-keyring-daemon missing: t.Fatal when $CI is set, t.Skip otherwise.
func Keyring(t testing.TB, busAddr string) {
	t.Helper()
	startKeyring(t, busAddr, true)
}

// LockedKeyring is Keyring without the unlock: the Secret Service answers,
// but the login keyring is locked and (with no DISPLAY) every request to use
// it fails, like a desktop whose keyring was never unlocked.
func LockedKeyring(t testing.TB, busAddr string) {
	t.Helper()
	startKeyring(t, busAddr, false)
}

func startKeyring(t testing.TB, busAddr string, unlock bool) {
	t.Helper()
	bin := lookTool(t, "gnome-keyring-daemon", "gnome-keyring")

	home, err := os.MkdirTemp("", "desktoptest-keyring-")
	if err != nil {
		t.Fatalf("keyring: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(home) })
	runtime := filepath.Join(home, "run")
	data := filepath.Join(home, ".local", "share")
	for _, d := range []string{runtime, data} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatalf("keyring: %v", err)
		}
	}

	args := []string{"--foreground", "--components=secrets"}
	if unlock {
		args = append(args, "--unlock")
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutVars(os.Environ(),
		"HOME", "XDG_DATA_HOME", "XDG_RUNTIME_DIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME",
		"DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY", "GNOME_KEYRING_CONTROL"),
		"HOME="+home,
		"XDG_DATA_HOME="+data,
		"XDG_CONFIG_HOME="+filepath.Join(home, ".config"),
		"XDG_CACHE_HOME="+filepath.Join(home, ".cache"),
		"XDG_RUNTIME_DIR="+runtime,
		"DBUS_SESSION_BUS_ADDRESS="+busAddr,
	)
	if unlock {
		cmd.Stdin = strings.NewReader(KeyringPassword)
	}
	cmd.Stdout = &prefixWriter{t: t, prefix: "gnome-keyring-daemon: "}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("keyring: starting %s: %v", bin, err)
	}
	stop := stopper(cmd)
	t.Cleanup(stop)

	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := waitForName(ctx, busAddr, "org.freedesktop.secrets"); err != nil {
		stop()
		t.Fatalf("keyring: gnome-keyring-daemon did not come up: %v", err)
	}
}

// waitForName waits until name has an owner on the bus at addr. It uses a
// private connection, so it never touches the process's shared session bus
// connection.
func waitForName(ctx context.Context, addr, name string) error {
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return err
	}
	defer conn.Close()
	for {
		var owned bool
		err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&owned)
		if err != nil {
			return err
		}
		if owned {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}
