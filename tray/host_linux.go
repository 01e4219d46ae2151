package tray

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/godbus/dbus/v5"
)

// The StatusNotifierItem names (freedesktop/KDE tray protocol).
const (
	watcherName  = "org.kde.StatusNotifierWatcher"
	watcherPath  = "/StatusNotifierWatcher"
	watcherIface = "org.kde.StatusNotifierWatcher"
)

// busTimeout bounds each D-Bus call made while deciding about the tray.
const busTimeout = 3 * time.Second

// Available reports whether a tray icon can be shown now: the session bus
// is reachable and has a StatusNotifierWatcher (a tray host). why says what
// is missing. It uses a private connection and never starts a bus
// (no dbus-launch autolaunch): without DBUS_SESSION_BUS_ADDRESS there is no
// tray.
func Available(ctx context.Context) (ok bool, why string) {
	conn, err := dialSession(ctx)
	if err != nil {
		return false, err.Error()
	}
	defer conn.Close()
	has, err := nameHasOwner(ctx, conn, watcherName)
	if err != nil {
		return false, fmt.Sprintf("asking the session bus for a tray host: %v", err)
	}
	if !has {
		return false, "no tray host on the session bus (no " + watcherName + ")"
	}
	return true, ""
}

// dialSession opens a private connection to the session bus named by
// DBUS_SESSION_BUS_ADDRESS. It refuses to autolaunch a bus.
func dialSession(ctx context.Context) (*dbus.Conn, error) {
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		return nil, fmt.Errorf("%w: DBUS_SESSION_BUS_ADDRESS is not set (no desktop session bus)", ErrUnavailable)
	}
	if strings.HasPrefix(addr, "autolaunch:") {
		return nil, fmt.Errorf("%w: the session bus address is autolaunch:, which would start a bus", ErrUnavailable)
	}
	// The connection lives as long as ctx; connecting is bounded by
	// busTimeout (a wedged bus must not hang `broker run`).
	type result struct {
		conn *dbus.Conn
		err  error
	}
	ch := make(chan result, 1)
	go func() {
		conn, err := dbus.Connect(addr, dbus.WithContext(ctx))
		ch <- result{conn, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%w: connecting to the session bus: %v", ErrUnavailable, r.err)
		}
		return r.conn, nil
	case <-time.After(busTimeout):
		go func() {
			if r := <-ch; r.conn != nil {
				r.conn.Close()
			}
		}()
		return nil, fmt.Errorf("%w: the session bus at %s did not answer within %s", ErrUnavailable, addr, busTimeout)
	}
}

func nameHasOwner(ctx context.Context, conn *dbus.Conn, name string) (bool, error) {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	var has bool
	err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.NameHasOwner", 0, name).Store(&has)
	return has, err
}

// watchOwner subscribes conn to owner changes of name; the returned
// channel receives each new owner ("" when the name was released).
func watchOwner(conn *dbus.Conn, name string) (<-chan string, error) {
	if err := conn.AddMatchSignal(
		dbus.WithMatchSender("org.freedesktop.DBus"),
		dbus.WithMatchInterface("org.freedesktop.DBus"),
		dbus.WithMatchMember("NameOwnerChanged"),
		dbus.WithMatchArg(0, name),
	); err != nil {
		return nil, fmt.Errorf("watching %s: %w", name, err)
	}
	sigs := make(chan *dbus.Signal, 16)
	conn.Signal(sigs)
	owners := make(chan string, 16)
	go func() {
		defer close(owners)
		for sig := range sigs {
			if sig.Name != "org.freedesktop.DBus.NameOwnerChanged" || len(sig.Body) != 3 {
				continue
			}
			if n, _ := sig.Body[0].(string); n != name {
				continue
			}
			owner, _ := sig.Body[2].(string)
			select {
			case owners <- owner:
			default:
			}
		}
	}()
	return owners, nil
}

// waitForHost returns when the session bus has a tray host, waiting for
// one to appear if needed; it returns an error wrapping ErrUnavailable when
// there is no session bus.
func waitForHost(ctx context.Context, log *slog.Logger) error {
	conn, err := dialSession(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	owners, err := watchOwner(conn, watcherName)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrUnavailable, err)
	}
	has, err := nameHasOwner(ctx, conn, watcherName)
	if err != nil {
		return fmt.Errorf("%w: asking the session bus for a tray host: %v", ErrUnavailable, err)
	}
	if has {
		return nil
	}
	log.Info("no tray host on the session bus yet; waiting for one", "name", watcherName)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case owner, ok := <-owners:
			if !ok {
				return fmt.Errorf("%w: lost the session bus", ErrUnavailable)
			}
			if owner != "" {
				log.Info("tray host appeared", "owner", owner)
				return nil
			}
		}
	}
}

// itemName is the bus name systray owns for its StatusNotifierItem.
func itemName() string { return fmt.Sprintf("org.kde.StatusNotifierItem-%d-1", os.Getpid()) }

// keepRegistered makes sure the tray host lists our icon: now, and every
// time a new StatusNotifierWatcher takes the name (a panel restarted, or
// started after the broker). systray registers on its own too, but its
// watch loop stops at the first unrelated signal on the shared session
// connection (any signal with fewer than three arguments), so this one runs
// on a private connection and registers by bus name only when the watcher
// does not list the item already.
func keepRegistered(ctx context.Context, log *slog.Logger) {
	conn, err := dialSession(ctx)
	if err != nil {
		log.Warn("tray: cannot watch for tray hosts", "err", err)
		return
	}
	defer conn.Close()
	owners, err := watchOwner(conn, watcherName)
	if err != nil {
		log.Warn("tray: cannot watch for tray hosts", "err", err)
		return
	}
	// systray registers on its own first; check after it, and retry with
	// a growing wait while the watcher is not ready: a host owns its name
	// a moment before it serves /StatusNotifierWatcher, and systray's own
	// attempt fails with UnknownObject then and is never retried.
	check := time.After(time.Second)
	retry := time.Second
	for {
		select {
		case <-ctx.Done():
			return
		case owner, ok := <-owners:
			if !ok {
				return
			}
			if owner == "" {
				log.Info("tray host went away; waiting for the next one")
				check = nil
				continue
			}
			log.Info("tray host appeared", "owner", owner)
			check, retry = time.After(300*time.Millisecond), time.Second
		case <-check:
			check = nil
			if err := ensureRegistered(ctx, conn); err != nil {
				log.Info("tray: registering with the tray host; will retry", "err", err, "in", retry)
				check = time.After(retry)
				retry = min(2*retry, 30*time.Second)
			}
		}
	}
}

// ensureRegistered registers our item with the watcher unless it lists it.
func ensureRegistered(ctx context.Context, conn *dbus.Conn) error {
	ctx, cancel := context.WithTimeout(ctx, busTimeout)
	defer cancel()
	name := itemName()
	var owner string
	if err := conn.BusObject().CallWithContext(ctx, "org.freedesktop.DBus.GetNameOwner", 0, name).Store(&owner); err != nil {
		return fmt.Errorf("finding the tray item %s: %w", name, err)
	}
	watcher := conn.Object(watcherName, watcherPath)
	v, err := watcher.GetProperty(watcherIface + ".RegisteredStatusNotifierItems")
	if err != nil {
		return fmt.Errorf("reading the registered items: %w", err)
	}
	items, _ := v.Value().([]string)
	for _, it := range items {
		if strings.HasPrefix(it, owner+"/") || it == owner || strings.HasPrefix(it, name) {
			return nil
		}
	}
	call := watcher.CallWithContext(ctx, watcherIface+".RegisterStatusNotifierItem", 0, name)
	if call.Err != nil {
		return fmt.Errorf("registering %s: %w", name, call.Err)
	}
	return nil
}
