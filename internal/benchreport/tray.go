//go:build linux

package main

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// tray: the memory of `broker run` with its tray icon shown by a real tray
// host (gtk-sni-tray-standalone on Xvfb, under a private session bus),
// set up by the same helpers as the desktop tests. testing.Benchmark gives
// those helpers the testing.TB they take (and runs their cleanups).
func (r *run) tray() {
	step("daemon with the tray")
	var m memory
	var err error
	done := false
	testing.Benchmark(func(b *testing.B) {
		if done {
			return // testing.Benchmark calls again when a run took < 1 s
		}
		done = true
		err = errors.New("the tray host could not be started (see the output above)")
		m, err = r.trayMemory(b)
	})
	if err != nil {
		r.fail(2, tMemory, "`broker run` with the tray", err)
		return
	}
	r.add(2, tMemory, row{what: "`broker run` with its tray icon in a tray host, every target written, VmRSS (anon + file); PSS; VmHWM", value: m.String(), target: "≤ 30 MB", verdict: verdict(float64(m.rss), 30<<20)})
	if r.mcpRemoteRSS > 0 {
		r.add(2, tMemory, row{what: "one mcp-remote ÷ the daemon with the tray (VmRSS)", value: fmt.Sprintf("%.1f×", float64(r.mcpRemoteRSS)/float64(m.rss)), target: "—", verdict: "—"})
	}
	r.note(2, "Memory is read from /proc/PID/status 3 s after every target was written (VmHWM is the peak since the process started). The tray run uses a private dbus-daemon, Xvfb and gtk-sni-tray-standalone, as internal/desktoptest does for the desktop tests; the tokens are in the file store in both runs.")
}

func (r *run) trayMemory(b *testing.B) (memory, error) {
	if os.Getenv("CI") == "" {
		// desktoptest skips when a tool is missing unless CI is set: a
		// benchmark must not skip silently.
		b.Setenv("CI", "true")
	}
	bus := desktoptest.SessionBus(b)
	display := desktoptest.Xvfb(b, 800, 500)
	desktoptest.StartTrayHost(b, bus, display)
	conn, err := dbus.Connect(bus)
	if err != nil {
		return memory{}, err
	}
	defer conn.Close()
	d, _, err := r.a.startDaemon([]string{"DBUS_SESSION_BUS_ADDRESS=" + bus, "DISPLAY=" + display})
	if err != nil {
		return memory{}, err
	}
	defer d.stop()
	desktoptest.WaitItem(b, conn)
	if err := r.a.waitSettled(30 * time.Second); err != nil {
		return memory{}, err
	}
	time.Sleep(3 * time.Second)
	return memOf(d.pid())
}

// keyringLatency: `broker headers` and `token` without the daemon when the
// tokens are in the Secret Service (gnome-keyring on a private session
// bus, as desktoptest sets it up), which is where a desktop user's are.
func (r *run) keyringLatency() {
	step("latency without the daemon, keyring")
	var res map[string]durations
	var err error
	done := false
	testing.Benchmark(func(b *testing.B) {
		if done {
			return
		}
		done = true
		err = errors.New("the keyring could not be started")
		res, err = r.keyringRuns(b)
	})
	if err != nil {
		r.fail(1, tLatency, "without the daemon, keyring", err)
		return
	}
	for _, c := range []string{"headers", "token"} {
		ds := res[c]
		r.latency["keyring "+c] = ds
		r.add(1, tLatency, row{what: "`broker " + c + "` without the daemon (persistent cache, gnome-keyring)", value: ds.spread(), target: "≤ 30 ms median", verdict: verdict(float64(ds.median()), float64(30*time.Millisecond))})
	}
}

func (r *run) keyringRuns(b *testing.B) (map[string]durations, error) {
	if os.Getenv("CI") == "" {
		b.Setenv("CI", "true") // a missing tool fails instead of skipping
	}
	bus := desktoptest.SessionBus(b)
	desktoptest.Keyring(b, bus)
	h, err := newHome(r.root, r.o.broker, r.self, r.ca, r.sim, "k", "", []string{"a"})
	if err != nil {
		return nil, err
	}
	h.env = append(h.env, "DBUS_SESSION_BUS_ADDRESS="+bus) // later entries win
	if _, err := h.run("login"); err != nil {
		return nil, err
	}
	st, err := h.run("status", "--json")
	if err != nil {
		return nil, err
	}
	if !strings.Contains(string(st), `"storage": "keyring"`) {
		return nil, fmt.Errorf("the tokens are not in the keyring: %s", st)
	}
	res := map[string]durations{}
	for _, c := range []string{"headers", "token"} {
		ds, _, err := timeCmd(h.env, 5, r.o.runs, succeeded, r.o.broker, c)
		if err != nil {
			return nil, err
		}
		res[c] = ds
	}
	return res, nil
}
