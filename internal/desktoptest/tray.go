//go:build linux

package desktoptest

import (
	"context"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// WatcherName is the bus name of the StatusNotifierWatcher that a tray host
// provides.
const WatcherName = "org.kde.StatusNotifierWatcher"

// TrayHost is a running tray host: gtk-sni-tray-standalone, a real GTK
// StatusNotifierItem host with its own StatusNotifierWatcher.
type TrayHost struct {
	stop func()
}

// StartTrayHost starts `gtk-sni-tray-standalone --watcher` as a bar at the
// top of display, on the bus at busAddr, and returns once it owns
// org.kde.StatusNotifierWatcher. It is stopped at the test's cleanup, or
// earlier with Stop (a test can then start another one, as when a panel
// restarts).
//
// gtk-sni-tray-standalone missing: t.Fatal when $CI is set, t.Skip
// otherwise (Debian package haskell-gtk-sni-tray-utils).
func StartTrayHost(t testing.TB, busAddr, display string) *TrayHost {
	t.Helper()
	bin := lookTool(t, "gtk-sni-tray-standalone", "haskell-gtk-sni-tray-utils")
	home := t.TempDir()
	cmd := exec.Command(bin, "--watcher", "--top", "--end", "--size", "30", "--color", "#1e2329")
	cmd.Env = append(withoutVars(os.Environ(), "DISPLAY", "DBUS_SESSION_BUS_ADDRESS", "WAYLAND_DISPLAY",
		"HOME", "XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_DATA_HOME"),
		"DISPLAY="+display,
		"DBUS_SESSION_BUS_ADDRESS="+busAddr,
		"GDK_BACKEND=x11",
		"NO_AT_BRIDGE=1", // no accessibility bus (it would try to start one)
		"HOME="+home,
		"XDG_CONFIG_HOME="+home+"/.config",
		"XDG_CACHE_HOME="+home+"/.cache",
		"XDG_DATA_HOME="+home+"/.local/share",
	)
	cmd.Stdout = &prefixWriter{t: t, prefix: "tray host: "}
	cmd.Stderr = cmd.Stdout
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("tray host: starting %s: %v", bin, err)
	}
	stop := stopper(cmd)
	t.Cleanup(stop)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitForName(ctx, busAddr, WatcherName); err != nil {
		stop()
		t.Fatalf("tray host: no %s on the bus: %v", WatcherName, err)
	}
	return &TrayHost{stop: stop}
}

// Stop stops the tray host and waits for it to exit.
func (h *TrayHost) Stop() { h.stop() }
