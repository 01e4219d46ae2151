//go:build linux

package desktoptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"
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
	// The host races itself at start: its tray part can call its own
	// watcher before the watcher serves its object, get UnknownObject and
	// die ("Pattern match failure in do expression at app/Main.hs:177").
	// So wait until the host is registered with its watcher and still
	// alive, and start it again when it died.
	var err error
	for attempt := 1; attempt <= 4; attempt++ {
		var h *TrayHost
		if h, err = startTrayHost(t, bin, busAddr, display); err == nil {
			return h
		}
		t.Logf("tray host: attempt %d: %v", attempt, err)
	}
	t.Fatalf("tray host: %v", err)
	return nil
}

func startTrayHost(t testing.TB, bin, busAddr, display string) (*TrayHost, error) {
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
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	stop := func() {
		select {
		case <-exited:
			return
		default:
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	}
	t.Cleanup(stop)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := waitForHostReady(ctx, busAddr, exited); err != nil {
		stop()
		return nil, err
	}
	// Still alive a moment later?
	select {
	case <-exited:
		return nil, fmt.Errorf("exited right after it started")
	case <-time.After(200 * time.Millisecond):
	}
	return &TrayHost{stop: stop}, nil
}

// waitForHostReady waits until the watcher on the bus says a host is
// registered, or the host process exited.
func waitForHostReady(ctx context.Context, addr string, exited <-chan struct{}) error {
	conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
	if err != nil {
		return err
	}
	defer conn.Close()
	watcher := conn.Object(WatcherName, "/StatusNotifierWatcher")
	for {
		v, err := watcher.GetProperty(WatcherName + ".IsStatusNotifierHostRegistered")
		if err == nil && v.Value() == true {
			return nil
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before its watcher had a host (%v)", err)
		case <-ctx.Done():
			return fmt.Errorf("no host registered with %s: %v", WatcherName, err)
		case <-time.After(30 * time.Millisecond):
		}
	}
}

// Stop stops the tray host and waits for it to exit.
func (h *TrayHost) Stop() { h.stop() }
