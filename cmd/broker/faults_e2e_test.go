package main

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// TestDaemonRecoversFromUntrustedCert: the authority presents a
// certificate nobody trusts for a while (a captive portal, a TLS-inspecting
// proxy, a VPN coming up). The real daemon says so in status, is not
// parked by it: it probes again by itself once the right certificate is
// back, and a command that needs a token tries at once.
func TestDaemonRecoversFromUntrustedCert(t *testing.T) {
	t.Parallel()                                  // mostly waiting for the daemon's re-probe
	w := newDaemonWorld(t, 370*time.Second, "6m") // the first refresh is due 10 s after sign-in
	ctx := context.Background()
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	first := w.all()
	if err := w.sim.SetUntrustedCert(true); err != nil {
		t.Fatal(err)
	}
	w.startDaemon()
	untrusted := func() bool {
		p := w.status()
		return p.State == state.Degraded && strings.Contains(p.LastError, "certificate is not trusted")
	}
	w.waitFor("status to say that the certificate is not trusted", time.Minute, untrusted)
	if out, _ := w.broker("status"); !strings.Contains(out, "certificate is not trusted") {
		t.Errorf("status does not say what is wrong:\n%s", out)
	}

	// The right certificate is back: the daemon refreshes by itself.
	if err := w.sim.SetUntrustedCert(false); err != nil {
		t.Fatal(err)
	}
	w.waitFor("the daemon to refresh by itself", 3*time.Minute, func() bool {
		tok := w.all()
		return tok != "" && tok != first && w.status().State == state.OK
	})
	if out, code := w.broker("token"); code != 0 || !daemonJWT.MatchString(out) {
		t.Fatalf("token after the recovery exited %d", code)
	}

	// Again, and this time a command asks before the daemon's next probe.
	if err := w.sim.SetUntrustedCert(true); err != nil {
		t.Fatal(err)
	}
	c := w.client()
	defer c.Close()
	if err := c.RefreshNow(ctx, "data"); err == nil {
		t.Fatal("refresh-now with an untrusted certificate worked")
	}
	w.waitFor("status to say that the certificate is not trusted", 30*time.Second, untrusted)
	if err := w.sim.SetUntrustedCert(false); err != nil {
		t.Fatal(err)
	}
	p := w.status()
	if p.NextRefresh == nil || time.Until(*p.NextRefresh) < 20*time.Second {
		t.Fatalf("want the next probe well ahead: %+v", p)
	}
	w.waitFor("the token to have less than 6 min left", 30*time.Second, func() bool {
		p := w.status()
		return p.ExpiresOn != nil && time.Until(*p.ExpiresOn) < 6*time.Minute
	})
	before := w.all()
	// The token has less than 6 min left: the request gets its attempt now.
	if out, code := w.broker("token", "--min-validity", "6m"); code != 0 || !daemonJWT.MatchString(out) {
		t.Fatalf("token --min-validity 6m exited %d before the daemon's next probe", code)
	}
	if p := w.status(); p.State != state.OK || w.all() == before {
		t.Errorf("after the asked-for attempt: %+v", p)
	}
}
