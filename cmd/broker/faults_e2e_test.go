package main

import (
	"context"
	"os/exec"
	"strings"
	"sync"
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

// TestNoRefreshStormWithoutDaemon: 20 `broker headers` at once, no daemon,
// the cached token inside MSAL's 5-minute window: one process refreshes,
// the others wait for it and answer with its token.
func TestNoRefreshStormWithoutDaemon(t *testing.T) {
	t.Parallel()
	w := newDaemonWorld(t, 310*time.Second, "5m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	w.waitFor("the token to have less than 5 min left", 30*time.Second, func() bool {
		exp, err := jwtExp(w.all())
		return err == nil && time.Until(exp) < 5*time.Minute
	})
	w.sim.SetLifetime(time.Hour)
	since := time.Now()
	const n = 20
	var wg sync.WaitGroup
	outs := make([]string, n)
	codes := make([]int, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, w.bin, "headers")
			cmd.Env = w.env
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			outs[i] = string(out)
			if ee, ok := err.(*exec.ExitError); ok {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
			if codes[i] != 0 {
				outs[i] = stderr.String()
			}
		}()
	}
	wg.Wait()
	for i := range n {
		if codes[i] != 0 || !strings.Contains(outs[i], `{"Authorization":"Bearer eyJ`) {
			t.Errorf("headers %d exited %d: %s", i, codes[i], daemonJWT.ReplaceAllString(outs[i], "<token>"))
		}
	}
	grants := 0
	for _, r := range w.tokenRequests(since) {
		if r.GrantType == "refresh_token" {
			grants++
		}
	}
	if grants != 1 {
		t.Errorf("%d concurrent headers made %d refresh_token grants, want 1", n, grants)
	}
}

// TestServerAsksAgainAfterRefusal: Claude Code runs the helper again after
// a 401, naming the server. The second ask of the same server within a
// minute gets a fresh token (the first was refused although valid), a
// third does not cause another refresh, and an ask that names no server
// never does; with and without the daemon.
func TestServerAsksAgainAfterRefusal(t *testing.T) {
	t.Parallel()
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	headers := func(env ...string) string {
		t.Helper()
		cmd := exec.Command(w.bin, "headers")
		cmd.Env = append(append([]string(nil), w.env...), env...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("headers: %v: %s", err, stderr.String())
		}
		tok := daemonJWT.FindString(string(out))
		if tok == "" {
			t.Fatalf("headers printed no token")
		}
		return tok
	}
	grants := func(since time.Time) int {
		n := 0
		for _, r := range w.tokenRequests(since) {
			if r.GrantType == "refresh_token" {
				n++
			}
		}
		return n
	}
	check := func(t *testing.T, server string) {
		claude := []string{"CLAUDE_CODE_MCP_SERVER_NAME=" + server, "CLAUDE_CODE_MCP_SERVER_URL=" + w.sim.MCPURL()}
		since := time.Now()
		plain1, plain2 := headers(), headers()
		if plain1 != plain2 || grants(since) != 0 {
			t.Fatalf("asks without a server name: new token %v, %d refreshes", plain1 != plain2, grants(since))
		}
		first := headers(claude...)
		if first != plain1 || grants(since) != 0 {
			t.Fatalf("the server's first ask: new token %v, %d refreshes", first != plain1, grants(since))
		}
		second := headers(claude...) // after a 401
		if second == first || grants(since) != 1 {
			t.Fatalf("the second ask: new token %v, %d refreshes, want a new token from 1", second != first, grants(since))
		}
		third := headers(claude...) // refused again: no refresh loop
		if third != second || grants(since) != 1 {
			t.Fatalf("the third ask: new token %v, %d refreshes, want the same token", third != second, grants(since))
		}
		other := headers("CLAUDE_CODE_MCP_SERVER_NAME=other-"+server, "CLAUDE_CODE_MCP_SERVER_URL="+w.sim.MCPURL())
		if other != second || grants(since) != 1 {
			t.Fatalf("another server's first ask: new token %v, %d refreshes", other != second, grants(since))
		}
	}
	t.Run("no daemon", func(t *testing.T) { check(t, "data-api") })
	w.startDaemon()
	t.Run("daemon", func(t *testing.T) { check(t, "data-api-2") })
}

// TestSyncDoesNotQueueBehindAHangingRefresh: `broker sync` through the
// daemon writes the current token while a refresh hangs at the
// authority; it does not wait for it.
func TestSyncDoesNotQueueBehindAHangingRefresh(t *testing.T) {
	t.Parallel()
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	w.startDaemon()
	w.sim.SetDelay(20 * time.Second)
	c := w.client()
	defer c.Close()
	refreshed := make(chan error, 1)
	go func() { refreshed <- c.RefreshNow(context.Background(), "data") }()
	w.waitFor("the refresh to hang", 15*time.Second, func() bool { return w.status().State == state.Refreshing })
	out, code := w.broker("sync")
	if code != 0 || !strings.Contains(out, "token.txt") {
		t.Fatalf("sync exited %d:\n%s", code, out)
	}
	if p := w.status(); p.State != state.Refreshing {
		t.Errorf("sync returned after the refresh ended (%s), so it waited for it", p.State)
	}
	w.sim.SetDelay(0)
	if err := <-refreshed; err != nil {
		t.Logf("the slow refresh: %v", err)
	}
}
