package tray

import (
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// TestTrayChallengeNotice: the real daemon under a real tray host. A
// server's Conditional Access challenge, handed to the daemon over the
// local API as the bridge and the proxy do, makes the profile sign-in
// required: the tray notifies once, naming the server and the reason,
// and its button signs in with the claims. Then a server's scope that
// has no consent: one notice naming the server and the scope, none more
// when the challenge comes again; the sign-in from the menu consents and
// the next notice is the recovery.
func TestTrayChallengeNotice(t *testing.T) {
	d := newDesktop(t)
	notes := startNotificationServer(t, d.bus)
	desktoptest.StartTrayHost(t, d.bus, d.display)
	target := filepath.Join(t.TempDir(), "data.token")
	h := startHelper(t, d, helperEnv+"=daemon", "TRAY_TEST_TARGET="+target)
	say := func(line, want string) {
		t.Helper()
		if _, err := io.WriteString(h.stdin, line+"\n"); err != nil {
			t.Fatal(err)
		}
		h.expect(t, want)
	}

	// A sign-in ends when its token is written: one started before that
	// joins it (the daemon runs one sign-in per profile at a time).
	written := func(prev string) string {
		t.Helper()
		var now string
		waitFor(t, "the target to hold a new token", func() bool {
			b, _ := os.ReadFile(target)
			now = string(b)
			return strings.HasPrefix(now, "eyJ") && now != prev
		})
		return now
	}

	s := d.waitItem(t)
	s.waitIcon(t, assets.SignedOut)
	s.Click(t, "Sign in…")
	s.waitIcon(t, assets.OK)
	first := written("")

	say("claims", "challenged sign-in-required")
	s.waitIcon(t, assets.SignInRequired)
	n := notes.next(t)
	if n.Summary != "Sign in again for demo" || !strings.Contains(n.Body, "your organisation asks you to sign in again for demo") || !contains(n.Actions, signInAction) {
		t.Errorf("notification %+v, want one naming demo and the reason, with a sign-in action", n)
	}
	s.WaitEntry(t, "    your organisation asks you to sign in again for demo")
	notes.invoke(t, n.ID, signInAction) // the sign-in carries the claims
	s.waitIcon(t, assets.OK)
	if n := notes.next(t); n.Summary != "Recovered" {
		t.Errorf("notification %+v, want Recovered", n)
	}
	second := written(first)
	if c, err := token.ParseClaims(second); err != nil || !slices.Contains(c.Acrs, "c1") {
		t.Errorf("the token of the sign-in from the notification: %+v %v, want acrs c1", c, err)
	}

	say("scope", "challenged sign-in-required")
	s.waitIcon(t, assets.SignInRequired)
	n = notes.next(t)
	if n.Summary != "Sign in again for wiki" || !strings.Contains(n.Body, "wiki needs scope api://mcp-demo-api/Tools.Write") {
		t.Errorf("notification %+v, want one naming wiki and the scope", n)
	}
	s.WaitEntry(t, "    wiki needs scope api://mcp-demo-api/Tools.Write")
	// The same challenge again: the state is set anew, the user is not
	// told again.
	say("scope", "challenged sign-in-required")
	s.Click(t, "Sign in…") // consents to the scope
	s.waitIcon(t, assets.OK)
	s.WaitEntry(t, entrasim.DefaultUsername+" — token valid until ")
	if n := notes.next(t); n.Summary != "Recovered" {
		t.Errorf("notification %+v, want Recovered (and no second sign-in notice)", n)
	}
	if c, err := token.ParseClaims(written(second)); err != nil || !slices.Contains(c.Scp, "Tools.Write") {
		t.Errorf("the token of the sign-in after the scope challenge: %+v %v, want scp Tools.Write", c, err)
	}

	s.Click(t, "Quit")
	h.expect(t, "quit")
	h.expect(t, "exited")
	if code := h.exitCode(t); code != 0 {
		t.Errorf("exit code %d", code)
	}
}
