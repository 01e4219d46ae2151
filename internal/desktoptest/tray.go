//go:build linux

package desktoptest

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
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

// Item is a StatusNotifierItem (a tray icon) as a tray host sees it, read
// and driven over D-Bus: its properties, its com.canonical.dbusmenu menu.
type Item struct {
	obj  dbus.BusObject
	menu dbus.BusObject
}

// RegisteredItems is the watcher's RegisteredStatusNotifierItems (nil when
// there is no watcher). conn is a connection to the session bus.
func RegisteredItems(conn *dbus.Conn) []string {
	v, err := conn.Object(WatcherName, "/StatusNotifierWatcher").GetProperty(WatcherName + ".RegisteredStatusNotifierItems")
	if err != nil {
		return nil
	}
	items, _ := v.Value().([]string)
	return items
}

// WaitItem waits up to 10 s until the watcher lists an icon, fails the test
// unless it lists exactly one, and returns it.
func WaitItem(t testing.TB, conn *dbus.Conn) *Item {
	t.Helper()
	var items []string
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		if items = RegisteredItems(conn); len(items) > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no icon registered with the tray host within 10s")
		}
	}
	if len(items) != 1 {
		t.Fatalf("the watcher lists %d icons, want 1: %q", len(items), items)
	}
	// An entry is "BUSNAME/PATH", or a bus name alone (path
	// /StatusNotifierItem).
	svc, path := items[0], dbus.ObjectPath("/StatusNotifierItem")
	if i := strings.Index(svc, "/"); i >= 0 {
		svc, path = svc[:i], dbus.ObjectPath(svc[i:])
	}
	obj := conn.Object(svc, path)
	mv, err := obj.GetProperty("org.kde.StatusNotifierItem.Menu")
	if err != nil {
		t.Fatalf("reading the icon's menu path: %v", err)
	}
	mp, _ := mv.Value().(dbus.ObjectPath)
	return &Item{obj: obj, menu: conn.Object(svc, mp)}
}

// Property reads one org.kde.StatusNotifierItem property.
func (it *Item) Property(t testing.TB, name string) dbus.Variant {
	t.Helper()
	v, err := it.obj.GetProperty("org.kde.StatusNotifierItem." + name)
	if err != nil {
		t.Fatalf("reading %s: %v", name, err)
	}
	return v
}

// Pixmap is the icon's IconPixmap: the ARGB32 bytes of its first image.
func (it *Item) Pixmap(t testing.TB) []byte {
	t.Helper()
	v := it.Property(t, "IconPixmap")
	var px []struct {
		W, H int32
		Pix  []byte
	}
	if err := dbus.Store([]any{v.Value()}, &px); err != nil || len(px) == 0 {
		t.Fatalf("IconPixmap %v: %v", v, err)
	}
	return px[0].Pix
}

// MenuEntry is one top-level menu item read with GetLayout.
type MenuEntry struct {
	ID        int32
	Label     string
	Enabled   bool
	Checked   bool
	Separator bool
}

// Menu reads the top level of the icon's menu (visible items only).
func (it *Item) Menu(t testing.TB) []MenuEntry {
	t.Helper()
	var rev uint32
	var root []any
	call := it.menu.Call("com.canonical.dbusmenu.GetLayout", 0, int32(0), int32(-1), []string{})
	if err := call.Store(&rev, &root); err != nil {
		t.Fatalf("GetLayout: %v", err)
	}
	var out []MenuEntry
	children, _ := root[2].([]dbus.Variant)
	for _, c := range children {
		f, _ := c.Value().([]any)
		if len(f) < 2 {
			continue
		}
		props, _ := f[1].(map[string]dbus.Variant)
		id, _ := f[0].(int32)
		e := MenuEntry{ID: id, Enabled: true}
		if v, ok := props["label"]; ok {
			e.Label, _ = v.Value().(string)
		}
		if v, ok := props["enabled"]; ok {
			e.Enabled, _ = v.Value().(bool)
		}
		if v, ok := props["toggle-state"]; ok {
			n, _ := v.Value().(int32)
			e.Checked = n == 1
		}
		if v, ok := props["type"]; ok && v.Value() == "separator" {
			e.Separator = true
		}
		if v, ok := props["visible"]; ok && v.Value() == false {
			continue
		}
		out = append(out, e)
	}
	return out
}

// WaitEntry waits up to 10 s until the menu has an item whose label starts
// with prefix and returns it.
func (it *Item) WaitEntry(t testing.TB, prefix string) MenuEntry {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		menu := it.Menu(t)
		var labels []string
		for _, e := range menu {
			if strings.HasPrefix(e.Label, prefix) {
				return e
			}
			labels = append(labels, e.Label)
		}
		if time.Now().After(deadline) {
			t.Fatalf("no menu item %q within 10s; the menu has %q", prefix, labels)
		}
	}
}

// Click clicks the enabled menu item whose label starts with label, as a
// tray host does (com.canonical.dbusmenu Event "clicked").
func (it *Item) Click(t testing.TB, label string) {
	t.Helper()
	e := it.WaitEntry(t, label)
	if !e.Enabled {
		t.Fatalf("menu item %q is disabled", e.Label)
	}
	call := it.menu.Call("com.canonical.dbusmenu.Event", 0, e.ID, "clicked", dbus.MakeVariant(""), uint32(0))
	if call.Err != nil {
		t.Fatalf("clicking %q: %v", e.Label, call.Err)
	}
}
