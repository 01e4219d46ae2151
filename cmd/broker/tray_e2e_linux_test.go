package main

import (
	"bytes"
	"image"
	"image/png"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// TestTrayBinary runs the real `broker run` in a private desktop session
// (session bus, Xvfb, a real tray host): the icon shows up signed out, Sign
// in… in its menu signs in through the browser stand-in and turns icon and
// header to a valid token, and SIGTERM quits tray and daemon cleanly.
func TestTrayBinary(t *testing.T) {
	w := newDaemonWorld(t, time.Hour, "15m")
	bus := desktoptest.SessionBus(t)
	display := desktoptest.Xvfb(t, 800, 500)
	desktoptest.StartTrayHost(t, bus, display)
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()

	cmd := exec.Command(w.bin, "run")
	// Later entries win: the desktop replaces the world's "no bus".
	cmd.Env = append(append([]string{}, w.env...), "DBUS_SESSION_BUS_ADDRESS="+bus, "DISPLAY="+display)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("broker run printed:\n%s", out.String())
		}
	})

	it := desktoptest.WaitItem(t, conn)
	it.WaitEntry(t, "data — signed out")
	waitPixmap(t, it, assets.SignedOut)

	it.Click(t, "Sign in…")
	it.WaitEntry(t, entrasim.DefaultUsername+" — token valid until ")
	waitPixmap(t, it, assets.OK)
	w.waitFor("the token in the file target", 10*time.Second, func() bool {
		got, err := w.read()
		return err == nil && strings.HasPrefix(got["file"], "eyJ")
	})

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		exited <- err // for the cleanup
		if err != nil {
			t.Errorf("broker run after SIGTERM: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("broker run did not exit within 15s of SIGTERM")
	}
	if items := desktoptest.RegisteredItems(conn); len(items) != 0 {
		t.Errorf("the icon is still registered after exit: %q", items)
	}
}

// waitPixmap waits until the icon is the named embedded icon (as straight
// ARGB32).
func waitPixmap(t *testing.T, it *desktoptest.Item, name string) {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(assets.PNG(name)))
	if err != nil {
		t.Fatal(err)
	}
	n := img.(*image.NRGBA)
	var want []byte
	for i := 0; i < len(n.Pix); i += 4 {
		want = append(want, n.Pix[i+3], n.Pix[i], n.Pix[i+1], n.Pix[i+2])
	}
	for deadline := time.Now().Add(10 * time.Second); !bytes.Equal(it.Pixmap(t), want); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the icon is not %s within 10s", name)
		}
	}
}
