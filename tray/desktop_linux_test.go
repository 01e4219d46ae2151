package tray

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/png"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/godbus/dbus/v5"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// desktop is a private graphical session: a session bus, an X server and
// the test's own connection to the bus.
type desktop struct {
	bus, display string
	conn         *dbus.Conn
}

func newDesktop(t *testing.T) *desktop {
	t.Helper()
	d := &desktop{bus: desktoptest.SessionBus(t), display: desktoptest.Xvfb(t, 800, 500)}
	conn, err := dbus.Connect(d.bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	d.conn = conn
	return d
}

// helper is a tray process (the test binary in helper mode).
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines []string
	added chan struct{}
	done  chan struct{}
}

func startHelper(t *testing.T, d *desktop, env ...string) *helper {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(append(os.Environ(), helperEnv+"=1",
		"DBUS_SESSION_BUS_ADDRESS="+d.bus, "DISPLAY="+d.display), env...) // later values win
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = testWriter{t}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	h := &helper{cmd: cmd, stdin: stdin, added: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			h.mu.Lock()
			h.lines = append(h.lines, sc.Text())
			h.mu.Unlock()
			select {
			case h.added <- struct{}{}:
			default:
			}
		}
		cmd.Wait()
		close(h.done)
	}()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-h.done
	})
	return h
}

func (h *helper) set(t *testing.T, st state.Status) {
	t.Helper()
	b, _ := json.Marshal(st)
	if _, err := h.stdin.Write(append(b, '\n')); err != nil {
		t.Fatalf("sending status: %v", err)
	}
}

// expect waits for the helper to report line.
func (h *helper) expect(t *testing.T, line string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		h.mu.Lock()
		for i, l := range h.lines {
			if l == line {
				h.lines = append(h.lines[:i:i], h.lines[i+1:]...)
				h.mu.Unlock()
				return
			}
		}
		got := strings.Join(h.lines, " | ")
		h.mu.Unlock()
		select {
		case <-h.added:
		case <-deadline:
			t.Fatalf("the tray did not report %q within 10s; it reported: %s", line, got)
		}
	}
}

// exitCode waits for the helper to exit.
func (h *helper) exitCode(t *testing.T) int {
	t.Helper()
	select {
	case <-h.done:
		return h.cmd.ProcessState.ExitCode()
	case <-time.After(10 * time.Second):
		t.Fatal("the tray did not exit within 10s")
		return -1
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	defer func() { recover() }() // after the test ended
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// waitFor polls cond until it holds, for at most 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// registeredItems is the watcher's list of icons (nil when no watcher).
func (d *desktop) registeredItems() []string { return desktoptest.RegisteredItems(d.conn) }

// sni is our icon as the tray host sees it.
type sni struct{ *desktoptest.Item }

// waitItem waits until the watcher lists exactly one icon and returns it.
func (d *desktop) waitItem(t *testing.T) *sni { return &sni{desktoptest.WaitItem(t, d.conn)} }

// wantPixmap is the ARGB32 (straight alpha) form of an embedded icon, as
// the StatusNotifierItem protocol wants it.
func wantPixmap(t *testing.T, name string) []byte {
	t.Helper()
	img, err := png.Decode(bytes.NewReader(assets.PNG(name)))
	if err != nil {
		t.Fatal(err)
	}
	n, ok := img.(*image.NRGBA)
	if !ok {
		t.Fatalf("%s.png decodes to %T, want *image.NRGBA", name, img)
	}
	var out []byte
	for i := 0; i < len(n.Pix); i += 4 {
		out = append(out, n.Pix[i+3], n.Pix[i], n.Pix[i+1], n.Pix[i+2])
	}
	return out
}

// waitIcon waits until the icon shows the named state.
func (s *sni) waitIcon(t *testing.T, name string) {
	t.Helper()
	want := wantPixmap(t, name)
	waitFor(t, "the "+name+" icon", func() bool { return bytes.Equal(s.Pixmap(t), want) })
}

func signedIn(now time.Time, left time.Duration) state.Status {
	exp := now.Add(left)
	written := now.Add(-2 * time.Minute)
	return state.Status{Profiles: []state.Profile{{
		Name: "data", State: state.OK, Account: "alice@contoso.com", ExpiresOn: &exp,
		Targets: []state.Target{
			{Client: "claude-code", Server: "data", Path: "/home/alice/.claude.json", State: state.TargetOK, Written: &written},
			{Client: "vscode", Path: "/home/alice/.config/Code/User/mcp.json", State: state.TargetPending},
		},
	}}}
}

func withState(st state.Status, s, lastErr string) state.Status {
	p := st.Profiles[0]
	p.State, p.LastError = s, lastErr
	st.Profiles = []state.Profile{p}
	return st
}

// TestTrayOnDesktop runs the tray under a real tray host and drives it
// over D-Bus as the host and the user would.
func TestTrayOnDesktop(t *testing.T) {
	d := newDesktop(t)
	notes := startNotificationServer(t, d.bus)
	desktoptest.StartTrayHost(t, d.bus, d.display)
	h := startHelper(t, d)
	now := time.Now()
	ok := signedIn(now, 47*time.Minute)
	h.set(t, ok)

	s := d.waitItem(t)
	s.waitIcon(t, assets.OK)
	head := "alice@contoso.com — token valid until " + clock(*ok.Profiles[0].ExpiresOn, time.Local)
	s.WaitEntry(t, head)
	s.WaitEntry(t, "    ✓ claude-code (data) — /home/alice/.claude.json, written ")
	s.WaitEntry(t, "    … vscode — pending")
	if tip := s.Property(t, "ToolTip"); !strings.Contains(tip.String(), head) {
		t.Errorf("tooltip = %v, want it to contain %q", tip, head)
	}

	s.Click(t, "Refresh now")
	h.expect(t, "RefreshNow data")

	xclip := desktoptest.Need(t, "xclip", "xclip")
	s.Click(t, "Copy Authorization header")
	h.expect(t, "Token data 10m0s")
	waitFor(t, "the clipboard to hold the header", func() bool {
		out, _ := exec.Command(xclip, "-display", d.display, "-o", "-selection", "clipboard").Output()
		return string(out) == "Authorization: Bearer "+fakeToken
	})

	// The refresh token is revoked: the daemon says sign-in required.
	changed := time.Now()
	h.set(t, withState(ok, state.SignInRequired, "AADSTS700082: the refresh token has expired"))
	s.waitIcon(t, assets.SignInRequired)
	t.Logf("state change to icon on the bus: %v", time.Since(changed).Round(time.Millisecond))
	s.WaitEntry(t, "alice@contoso.com — sign-in required")
	n := notes.next(t)
	if n.Summary != "Sign-in required" || !contains(n.Actions, signInAction) || !n.Image {
		t.Errorf("notification %+v, want a sign-in-required one with a sign-in action and an image", n)
	}
	s.Click(t, "Sign in…")
	h.expect(t, "SignIn data")
	// The notification's button signs in too.
	notes.invoke(t, n.ID, signInAction)
	h.expect(t, "SignIn data")

	h.set(t, withState(ok, state.Degraded, "network unreachable"))
	s.waitIcon(t, assets.Warning)
	s.WaitEntry(t, "alice@contoso.com — refresh failing, token valid until ")
	h.set(t, ok)
	s.waitIcon(t, assets.OK)
	if n := notes.next(t); n.Summary != "Recovered" {
		t.Errorf("notification %+v, want Recovered", n)
	}

	s.Click(t, "Open config")
	h.expect(t, "open /cfg/config.toml")
	s.Click(t, "Start at login")
	h.expect(t, "SetInstalled true")
	waitFor(t, "Start at login to be checked", func() bool { return s.WaitEntry(t, "Start at login").Checked })

	s.Click(t, "Quit")
	h.expect(t, "quit")
	h.expect(t, "exited")
	if code := h.exitCode(t); code != 0 {
		t.Errorf("the tray exited with %d after Quit", code)
	}
	waitFor(t, "the icon to leave the tray", func() bool { return len(d.registeredItems()) == 0 })
}

// TestTrayHostStartedLater starts the broker's tray before any tray host,
// then restarts the host: the icon must show up each time. SIGTERM then
// quits the tray cleanly.
func TestTrayHostStartedLater(t *testing.T) {
	d := newDesktop(t)
	h := startHelper(t, d)
	h.set(t, signedIn(time.Now(), time.Hour))
	h.expect(t, "log: no tray host on the session bus yet; waiting for one")

	host := desktoptest.StartTrayHost(t, d.bus, d.display)
	s := d.waitItem(t)
	s.waitIcon(t, assets.OK)

	host.Stop()
	waitFor(t, "the old host to leave the bus", func() bool { return len(d.registeredItems()) == 0 })
	desktoptest.StartTrayHost(t, d.bus, d.display)
	s = d.waitItem(t)
	s.waitIcon(t, assets.OK)
	s.WaitEntry(t, "alice@contoso.com — token valid until ")

	if err := h.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "exited")
	if code := h.exitCode(t); code != 0 {
		t.Errorf("the tray exited with %d after SIGTERM", code)
	}
}

func TestAvailable(t *testing.T) {
	t.Run("no session bus", func(t *testing.T) {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
		ok, why := Available(context.Background())
		if ok || !strings.Contains(why, "DBUS_SESSION_BUS_ADDRESS is not set") {
			t.Errorf("Available() = %v, %q; want false and why", ok, why)
		}
	})
	t.Run("autolaunch", func(t *testing.T) {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", "autolaunch:")
		if ok, why := Available(context.Background()); ok || !strings.Contains(why, "autolaunch") {
			t.Errorf("Available() = %v, %q; want false", ok, why)
		}
	})
	d := newDesktop(t)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", d.bus)
	if ok, why := Available(context.Background()); ok || !strings.Contains(why, "no tray host") {
		t.Errorf("without a tray host: Available() = %v, %q; want false, no tray host", ok, why)
	}
	desktoptest.StartTrayHost(t, d.bus, d.display)
	if ok, why := Available(context.Background()); !ok {
		t.Errorf("with a tray host: Available() = false, %q", why)
	}
}

func contains(list []string, s string) bool {
	for _, l := range list {
		if l == s {
			return true
		}
	}
	return false
}

// shownNote is one Notify call received by the fake notification server.
type shownNote struct {
	ID      uint32
	Summary string
	Body    string
	Actions []string
	Image   bool // has an image-data hint
}

// noteServer is a minimal org.freedesktop.Notifications on the test bus.
type noteServer struct {
	conn  *dbus.Conn
	mu    sync.Mutex
	next_ uint32
	shown chan shownNote
	// clickFirst: the button is pressed (ActionInvoked) before Notify
	// returns the notification's id, the quickest a user can be.
	clickFirst string
}

func startNotificationServer(t *testing.T, bus string) *noteServer {
	t.Helper()
	conn, err := dbus.Connect(bus)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	s := &noteServer{conn: conn, shown: make(chan shownNote, 16)}
	if err := conn.Export(s, notifyPath, notifyIface); err != nil {
		t.Fatal(err)
	}
	if r, err := conn.RequestName(notifyName, dbus.NameFlagDoNotQueue); err != nil || r != dbus.RequestNameReplyPrimaryOwner {
		t.Fatalf("owning %s: %v %v", notifyName, r, err)
	}
	return s
}

func (s *noteServer) Notify(app string, replaces uint32, icon, summary, body string, actions []string,
	hints map[string]dbus.Variant, timeout int32) (uint32, *dbus.Error) {
	s.mu.Lock()
	s.next_++
	id := s.next_
	s.mu.Unlock()
	_, img := hints["image-data"]
	s.shown <- shownNote{ID: id, Summary: summary, Body: body, Actions: actions, Image: img}
	if s.clickFirst != "" && slices.Contains(actions, s.clickFirst) {
		_ = s.conn.Emit(notifyPath, notifyIface+".ActionInvoked", id, s.clickFirst)
	}
	return id, nil
}

func (s *noteServer) GetCapabilities() ([]string, *dbus.Error) {
	return []string{"actions", "body"}, nil
}

func (s *noteServer) CloseNotification(id uint32) *dbus.Error { return nil }

func (s *noteServer) GetServerInformation() (string, string, string, string, *dbus.Error) {
	return "test", "test", "1", "1.2", nil
}

// next returns the next notification shown (skipping "… copied" ones).
func (s *noteServer) next(t *testing.T) shownNote {
	t.Helper()
	for {
		select {
		case n := <-s.shown:
			if strings.HasSuffix(n.Summary, " copied") {
				continue
			}
			return n
		case <-time.After(10 * time.Second):
			t.Fatal("no notification within 10s")
			return shownNote{}
		}
	}
}

// invoke presses a notification's button.
func (s *noteServer) invoke(t *testing.T, id uint32, action string) {
	t.Helper()
	if err := s.conn.Emit(notifyPath, notifyIface+".ActionInvoked", id, action); err != nil {
		t.Fatal(err)
	}
}

// TestTrayWithDaemon drives the real daemon from the tray: sign in from the
// menu (real MSAL against the simulator), then the simulator revokes the
// refresh token and Refresh now turns icon and header to sign-in required;
// signing in again from the menu recovers.
func TestTrayWithDaemon(t *testing.T) {
	d := newDesktop(t)
	desktoptest.StartTrayHost(t, d.bus, d.display)
	target := filepath.Join(t.TempDir(), "data.token")
	h := startHelper(t, d, helperEnv+"=daemon", "TRAY_TEST_TARGET="+target)

	s := d.waitItem(t)
	s.waitIcon(t, assets.SignedOut)
	s.WaitEntry(t, "data — signed out")

	s.Click(t, "Sign in…")
	s.waitIcon(t, assets.OK)
	s.WaitEntry(t, entrasim.DefaultUsername+" — token valid until ")
	s.WaitEntry(t, "    ✓ file — "+target)
	if b, err := os.ReadFile(target); err != nil || !strings.HasPrefix(string(b), "eyJ") {
		t.Errorf("the file target holds %q, %v; want the token", b, err)
	}

	if _, err := io.WriteString(h.stdin, "revoke\n"); err != nil {
		t.Fatal(err)
	}
	h.expect(t, "revoked")
	s.Click(t, "Refresh now")
	s.waitIcon(t, assets.SignInRequired)
	s.WaitEntry(t, entrasim.DefaultUsername+" — sign-in required")

	s.Click(t, "Sign in…")
	s.waitIcon(t, assets.OK)
	s.WaitEntry(t, entrasim.DefaultUsername+" — token valid until ")

	s.Click(t, "Quit")
	h.expect(t, "quit")
	h.expect(t, "exited")
	if code := h.exitCode(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}

// TestNotificationButtonBeforeItsID: the Sign in button of a notification
// pressed before the notification service's Notify call has returned the
// id to the tray still signs in (the tray once dropped it: the id was not
// yet known, and TestTrayChallengeNotice failed on that race).
func TestNotificationButtonBeforeItsID(t *testing.T) {
	d := newDesktop(t)
	notes := startNotificationServer(t, d.bus)
	notes.clickFirst = signInAction
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", d.bus)
	signedIn := make(chan string, 1)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	n := newNotifier(ctx, slog.New(slog.DiscardHandler), func(profile string) { signedIn <- profile })
	defer n.close()
	if err := n.notify(ctx, notice{Profile: "data", Summary: "Sign in again for demo", Body: "why", SignIn: true}); err != nil {
		t.Fatal(err)
	}
	notes.next(t)
	select {
	case p := <-signedIn:
		if p != "data" {
			t.Errorf("signed in %q, want data", p)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the button pressed before Notify returned did not sign in")
	}
}
