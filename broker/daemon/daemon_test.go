package daemon

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// harness runs a Daemon with one profile "data" (targets a and b) inside a
// synctest bubble, so that hours pass in milliseconds.
type harness struct {
	t       *testing.T
	clock   *offsetClock
	auth    *fakeAuth
	targets *fakeTargets
	d       *Daemon
	logs    *syncBuffer
	cancel  context.CancelFunc
	done    chan error
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type setup struct {
	lifetime      time.Duration
	refreshBefore time.Duration
	signedIn      bool
	u             float64
	stateDir      string
	failTarget    int // writes of target b that fail first
	network       func() string
}

func start(t *testing.T, s setup) *harness {
	t.Helper()
	if s.lifetime == 0 {
		s.lifetime = time.Hour
	}
	h := &harness{t: t, clock: &offsetClock{}, logs: &syncBuffer{}}
	h.auth = newFakeAuth(h.clock, s.lifetime, s.signedIn)
	h.targets = &fakeTargets{clock: h.clock}
	cfg := &config.Config{
		Settings: config.Settings{RefreshBefore: config.Duration{Duration: s.refreshBefore}},
		Profiles: map[string]*config.Profile{"data": {
			Tenant: "contoso", ClientID: "c", Scopes: []string{"api://data/.default"},
			Targets: []config.Target{{Client: "file", Server: "a", Path: "/a"}, {Client: "file", Server: "b", Path: "/b"}},
		}},
	}
	if s.failTarget > 0 {
		ft, _ := h.targets.new(config.Target{Profile: "data", Server: "b"})
		ft.(*fakeTarget).failN = s.failTarget
	}
	u := s.u
	d, err := New(Options{
		Config:    cfg,
		Engine:    fakeEngine{"data": h.auth},
		NewTarget: h.targets.new,
		StateDir:  s.stateDir,
		Logger:    slog.New(slog.NewTextHandler(h.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Clock:     h.clock,
		Rand:      func() float64 { return u },
		NoWatch:   true,
		Network:   s.network,
	})
	if err != nil {
		t.Fatal(err)
	}
	h.d = d
	ctx, cancel := context.WithCancel(context.Background())
	h.cancel = cancel
	h.done = make(chan error, 1)
	go func() { h.done <- d.Run(ctx) }()
	synctest.Wait()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("daemon log:\n%s", h.logs.String())
		}
	})
	return h
}

func (h *harness) stop() {
	h.cancel()
	if err := <-h.done; err != nil {
		h.t.Errorf("Run: %v", err)
	}
}

func (h *harness) profile() state.Profile {
	st := h.d.Status()
	if len(st.Profiles) != 1 {
		h.t.Fatalf("status has %d profiles", len(st.Profiles))
	}
	return st.Profiles[0]
}

// sleep lets d pass on the fake clock and everything settle.
func sleep(d time.Duration) {
	time.Sleep(d)
	synctest.Wait()
}

func TestRefreshesBeforeExpiryOnSchedule(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		a, b := h.targets.get("data/a"), h.targets.get("data/b")
		if a.current().Value != "tok-1" || b.current().Value != "tok-1" {
			t.Fatalf("at start the targets hold %q and %q, want tok-1", a.current().Value, b.current().Value.Reveal())
		}
		if p := h.profile(); p.State != state.OK || p.NextRefresh == nil || p.Account != "alice@contoso.com" {
			t.Fatalf("status at start: %+v", p)
		}
		// Three hours, minute by minute: every target always holds a token
		// with more than 14 minutes left (refresh_before 15m, jitter 30 s).
		for range 180 {
			sleep(time.Minute)
			now := h.clock.Now()
			for _, tgt := range []*fakeTarget{a, b} {
				if c := tgt.current(); !c.ValidFor(now, 14*time.Minute) {
					t.Fatalf("at %v a target holds %q expiring at %v", now, c.Value, c.ExpiresOn)
				}
			}
		}
		// Each refresh happened exactly when 15m30s were left of the token
		// it replaced (refresh_before 15m, jitter 10% × 0.5).
		refs := h.auth.refreshes()
		if len(refs) != 4 {
			t.Fatalf("%d refreshes in 3h of 60-minute tokens, want 4", len(refs))
		}
		exp := a.writes[0].tok.ExpiresOn
		for i, at := range refs {
			if want := exp.Add(-15*time.Minute - 30*time.Second); !at.Equal(want) {
				t.Errorf("refresh %d at %v, want %v", i+1, at, want)
			}
			exp = at.Add(time.Hour).Truncate(time.Second)
		}
		if got := a.count(); got != 5 {
			t.Errorf("target a written %d times, want 5 (start + 4 refreshes)", got)
		}
	})
}

func TestSuspendCaughtWithin60s(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0})
		defer h.stop()
		sleep(10 * time.Minute)
		if n := len(h.auth.refreshes()); n != 0 {
			t.Fatalf("%d refreshes before the suspend", n)
		}
		// The laptop sleeps for 40 minutes: the wall clock jumps, the
		// monotonic clock (and so every timer) does not.
		h.clock.jump(40 * time.Minute)
		woke := time.Now()
		for len(h.auth.refreshes()) == 0 {
			if time.Since(woke) > 60*time.Second {
				t.Fatalf("no refresh within 60 s of waking")
			}
			sleep(time.Second)
		}
		t.Logf("refreshed %v after waking", time.Since(woke))
		if c := h.targets.get("data/a").current(); c.Value != "tok-2" {
			t.Errorf("target holds %q after the refresh", c.Value.Reveal())
		}
	})
}

func TestTemporaryFailuresBackOffAndKeepServing(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		const u = 0.9999999 // the full backoff step
		h := start(t, setup{signedIn: true, u: u})
		defer h.stop()
		const failures = 10
		for range failures {
			h.auth.fail(tempErr(0))
		}
		due := h.profile().NextRefresh
		sleep(due.Sub(h.clock.Now()))
		for len(h.auth.refreshes()) < failures+1 {
			sleep(time.Second)
			p := h.profile()
			if len(h.auth.refreshes()) <= failures && p.State != state.Degraded {
				t.Fatalf("state %q during the outage", p.State)
			}
			if len(h.auth.refreshes()) > failures {
				break
			}
			// The current token is still served while valid.
			tok, err := h.d.Token(t.Context(), "data", time.Minute)
			if err != nil || tok.Value != "tok-1" {
				t.Fatalf("Token during the outage: %q, %v", tok.Value, err)
			}
		}
		refs := h.auth.refreshes()
		for i := 1; i < len(refs); i++ {
			gap := refs[i].Sub(refs[i-1])
			want := backoff(i, u)
			if gap < want || gap > want+time.Second {
				t.Errorf("retry %d after %v, want %v", i, gap, want)
			}
		}
		if got := refs[len(refs)-1].Sub(refs[len(refs)-2]); got > backoffMax+time.Second {
			t.Errorf("last gap %v beyond the 5 min cap", got)
		}
		// Recovery: the retry that succeeds delivers at once.
		if p := h.profile(); p.State != state.OK || p.LastError != "" {
			t.Errorf("after recovery: %+v", p)
		}
		if c := h.targets.get("data/b").current(); c.Value != "tok-2" {
			t.Errorf("target holds %q after recovery", c.Value.Reveal())
		}
	})
}

func TestRetryAfterIsHonoured(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		h.auth.fail(tempErr(2 * time.Minute))
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()))
		first := h.auth.refreshes()
		if len(first) != 1 {
			t.Fatalf("%d attempts at the due time", len(first))
		}
		// A token request does not jump the queue either.
		if _, err := h.d.Token(t.Context(), "data", 50*time.Minute); auth.ClassOf(err) != auth.ClassTemporary {
			t.Errorf("Token during Retry-After: %v, want the temporary failure", err)
		}
		sleep(2*time.Minute - time.Second)
		if n := len(h.auth.refreshes()); n != 1 {
			t.Fatalf("%d attempts within the Retry-After", n)
		}
		sleep(2 * time.Second)
		refs := h.auth.refreshes()
		if len(refs) != 2 || refs[1].Sub(refs[0]) != 2*time.Minute {
			t.Fatalf("retries at %v, want one 2m after the first", refs)
		}
	})
}

func TestSignInRequiredStopsThenSharedSignInResumes(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		h.auth.fail(errSignIn)
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()))
		sleep(2 * time.Hour)
		if n := len(h.auth.refreshes()); n != 1 {
			t.Fatalf("%d attempts after the refresh token was revoked, want 1", n)
		}
		p := h.profile()
		if p.State != state.SignInRequired || !strings.Contains(p.LastError, "revoked") {
			t.Fatalf("status: %+v", p)
		}
		if _, err := h.d.Token(t.Context(), "data", 0); !errors.Is(err, auth.ErrSignInRequired) {
			t.Fatalf("Token: %v, want sign-in required", err)
		}
		if !strings.Contains(h.logs.String(), "sign-in required") {
			t.Error("no sign-in-required event in the log")
		}

		// Five clients ask at once: one sign-in (one browser tab).
		h.auth.mu.Lock()
		h.auth.loginGo = make(chan struct{})
		h.auth.mu.Unlock()
		errs := make(chan error, 5)
		for range 5 {
			go func() { errs <- h.d.SignIn(t.Context(), "") }()
		}
		synctest.Wait()
		close(h.auth.loginGo)
		for range 5 {
			if err := <-errs; err != nil {
				t.Errorf("SignIn: %v", err)
			}
		}
		if h.auth.logins != 1 {
			t.Errorf("%d interactive sign-ins, want 1", h.auth.logins)
		}
		if p := h.profile(); p.State != state.OK {
			t.Errorf("after sign-in: %+v", p)
		}
		if c := h.targets.get("data/a").current(); c.Value != "tok-2" {
			t.Errorf("target holds %q after sign-in", c.Value.Reveal())
		}
		// And the schedule runs again.
		sleep(time.Hour)
		if n := len(h.auth.refreshes()); n != 2 {
			t.Errorf("%d refreshes after sign-in + 1h, want 2 in all", n)
		}
	})
}

func TestLoginByAnotherProcessIsNoticed(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: false, stateDir: dir})
		defer h.stop()
		if p := h.profile(); p.State != state.SignedOut {
			t.Fatalf("status: %+v", p)
		}
		if _, err := h.d.Token(t.Context(), "", 0); !errors.Is(err, auth.ErrSignInRequired) {
			t.Fatalf("Token: %v", err)
		}
		sleep(time.Minute)
		// `broker login` in another process signs in and writes the cache.
		h.auth.mu.Lock()
		h.auth.signedIn = true
		h.auth.cur = h.auth.issue()
		h.auth.mu.Unlock()
		if err := os.WriteFile(filepath.Join(dir, "msal-cache.json"), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
		sleep(cachePollEvery + time.Second)
		if p := h.profile(); p.State != state.OK {
			t.Fatalf("after another process signed in: %+v", p)
		}
		if c := h.targets.get("data/a").current(); c.Value != "tok-1" {
			t.Errorf("target holds %q", c.Value.Reveal())
		}
	})
}

// TestMisconfigurationIsReprobed: a misconfiguration (or an untrusted
// certificate) is not terminal: it is reported once, shown in status,
// probed again slowly (never sooner than a minute apart, never past the
// token's expiry), and the profile recovers by itself once it is fixed.
func TestMisconfigurationIsReprobed(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		misconf := &auth.Error{Class: auth.ClassMisconfigured, Message: "the authority's TLS certificate is not trusted", Hint: "set ca_file"}
		for range 5 {
			h.auth.fail(misconf)
		}
		exp := *h.profile().ExpiresOn
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()))
		p := h.profile()
		if p.State != state.Degraded || !strings.Contains(p.LastError, "not trusted") || p.NextRefresh == nil {
			t.Fatalf("after the first failure: %+v", p)
		}
		if got := p.NextRefresh.Sub(h.clock.Now()); got < misconfiguredRetry {
			t.Errorf("probed again in %v, want at least %v", got, misconfiguredRetry)
		}
		sleep(10 * time.Minute)
		refs := h.auth.refreshes()
		if len(refs) != 6 {
			t.Fatalf("%d attempts, want 5 failed ones and the one that worked", len(refs))
		}
		for i := 1; i < len(refs); i++ {
			if gap := refs[i].Sub(refs[i-1]); gap < misconfiguredRetry || refs[i].After(exp) {
				t.Errorf("attempt %d %v after the one before (at %v, token expired at %v)", i, gap, refs[i], exp)
			}
		}
		if n := strings.Count(h.logs.String(), "profile misconfigured"); n != 1 {
			t.Errorf("reported %d times, want once", n)
		}
		if p := h.profile(); p.State != state.OK || p.LastError != "" {
			t.Errorf("after the fix: %+v", p)
		}
		if c := h.targets.get("data/a").current(); c.Value != "tok-2" {
			t.Errorf("target holds %q after recovery", c.Value.Reveal())
		}
	})
}

// TestRequestGetsAnAttemptDuringBackoff: once the authority is back, a
// request that the current token cannot serve does not wait for the
// backoff's timer: it gets one real attempt, at most one every askGap.
func TestRequestGetsAnAttemptDuringBackoff(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		for range 50 {
			h.auth.fail(tempErr(0))
		}
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()) + 6*time.Minute)
		p := h.profile()
		if p.State != state.Degraded || p.NextRefresh.Sub(h.clock.Now()) < 10*time.Second {
			t.Fatalf("want a failing profile with a long backoff: %+v (now %v)", p, h.clock.Now())
		}
		n := len(h.auth.refreshes())
		// Still failing: the first request tries, the next one within
		// askGap gets the stored error without an attempt.
		if _, err := h.d.Token(t.Context(), "data", 10*time.Minute); auth.ClassOf(err) != auth.ClassTemporary {
			t.Fatalf("Token: %v", err)
		}
		if got := len(h.auth.refreshes()); got != n+1 {
			t.Fatalf("%d attempts for the first request, want 1", got-n)
		}
		if _, err := h.d.Token(t.Context(), "data", 10*time.Minute); auth.ClassOf(err) != auth.ClassTemporary {
			t.Fatalf("Token: %v", err)
		}
		if got := len(h.auth.refreshes()); got != n+1 {
			t.Fatalf("a second request within %v made an attempt", askGap)
		}
		// The authority is back.
		h.auth.mu.Lock()
		h.auth.failures = nil
		h.auth.mu.Unlock()
		sleep(askGap)
		tok, err := h.d.Token(t.Context(), "data", 10*time.Minute)
		if err != nil || !tok.ValidFor(h.clock.Now(), 10*time.Minute) {
			t.Fatalf("Token once the authority is back: %v %v", tok.ExpiresOn, err)
		}
		if p := h.profile(); p.State != state.OK {
			t.Errorf("status: %+v", p)
		}
	})
}

// TestRetriesNeverSleepPastExpiry: during a long outage the backoff (up to
// 5 min) is cut short so that an attempt lands at the token's expiry.
func TestRetriesNeverSleepPastExpiry(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.9999999})
		defer h.stop()
		for range 100 {
			h.auth.fail(tempErr(0))
		}
		exp := *h.profile().ExpiresOn
		sleep(exp.Sub(h.clock.Now()) + time.Minute)
		refs := h.auth.refreshes()
		atExpiry := false
		for i := 1; i < len(refs); i++ {
			if refs[i-1].Before(exp) && refs[i].After(exp) {
				t.Errorf("a retry slept past the expiry: %v then %v (expiry %v)", refs[i-1], refs[i], exp)
			}
			atExpiry = atExpiry || refs[i].Equal(exp)
		}
		if !atExpiry {
			t.Errorf("no attempt at the expiry %v: %v", exp, refs)
		}
	})
}

// TestWakeUpRetriesAtOnce: after the machine slept (the wall clock ran on
// while the monotonic clock stood still), a failed profile tries again
// at once instead of finishing a backoff that was started before.
func TestWakeUpRetriesAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		for range 100 {
			h.auth.fail(tempErr(0))
		}
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()) + 390*time.Second)
		if left := h.profile().NextRefresh.Sub(h.clock.Now()); left < 2*time.Minute+tickEvery {
			t.Fatalf("want a long backoff ahead, have %v", left)
		}
		n := len(h.auth.refreshes())
		h.clock.jump(90 * time.Second) // asleep for 90 s
		sleep(tickEvery + time.Second)
		if got := len(h.auth.refreshes()); got != n+1 {
			t.Errorf("%d attempts after the wake-up, want 1", got-n)
		}
	})
}

// TestNetworkChangeRetriesAtOnce: when the network changes (a VPN comes
// up, another Wi-Fi), a failed profile tries again at once instead of
// finishing its backoff.
func TestNetworkChangeRetriesAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		var network atomic.Value
		network.Store("10.0.0.2/24")
		h := start(t, setup{signedIn: true, u: 0.5, network: func() string { return network.Load().(string) }})
		defer h.stop()
		for range 100 {
			h.auth.fail(tempErr(0))
		}
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()) + 390*time.Second)
		if left := h.profile().NextRefresh.Sub(h.clock.Now()); left < 2*time.Minute {
			t.Fatalf("want a long backoff ahead, have %v", left)
		}
		n := len(h.auth.refreshes())
		sleep(cachePollEvery)
		if got := len(h.auth.refreshes()); got != n {
			t.Fatalf("%d attempts with the network unchanged", got-n)
		}
		network.Store("10.0.0.2/24 10.8.0.5/16") // the VPN is up
		sleep(cachePollEvery + time.Second)
		if got := len(h.auth.refreshes()); got != n+1 {
			t.Errorf("%d attempts after the network changed, want 1", got-n)
		}
	})
}

// TestSyncRetriesAFailedProfile: `broker sync` on a profile whose refresh
// failed writes the current token and has the refresh tried at once.
func TestSyncRetriesAFailedProfile(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		for range 100 {
			h.auth.fail(tempErr(0))
		}
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()) + 390*time.Second)
		if left := h.profile().NextRefresh.Sub(h.clock.Now()); left < 2*time.Minute {
			t.Fatalf("want a long backoff ahead, have %v", left)
		}
		n := len(h.auth.refreshes())
		if err := h.d.Sync(t.Context(), "data"); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		synctest.Wait()
		if got := len(h.auth.refreshes()); got != n+1 {
			t.Errorf("%d attempts after sync, want 1", got-n)
		}
	})
}

// TestSyncWaitIsBounded: a target whose write hangs (another program
// holds its lock) makes sync give up after syncWait with an error that
// names the target and says what it waits for; the others are written.
func TestSyncWaitIsBounded(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true})
		defer h.stop()
		block := make(chan struct{})
		defer close(block)
		a := h.targets.get("data/a")
		a.mu.Lock()
		a.block = block
		a.mu.Unlock()
		before := h.clock.Now()
		err := h.d.Sync(t.Context(), "data")
		if waited := h.clock.Now().Sub(before); waited != syncWait {
			t.Errorf("Sync waited %v, want %v", waited, syncWait)
		}
		if err == nil || !strings.Contains(err.Error(), "file a (/a)") || !strings.Contains(err.Error(), "still being written after 20s") {
			t.Errorf("Sync: %v", err)
		}
		if strings.Contains(err.Error(), "file b") || h.targets.get("data/b").count() != 2 {
			t.Errorf("target b: %d writes, err %v", h.targets.get("data/b").count(), err)
		}
	})
}

// TestSyncDoesNotWaitForAHangingRefresh: sync writes the current token
// while a refresh hangs, and asks a failed profile to retry at once.
func TestSyncDoesNotWaitForAHangingRefresh(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		hang := make(chan struct{})
		h.auth.mu.Lock()
		h.auth.hang = hang
		h.auth.mu.Unlock()
		sleep(h.profile().NextRefresh.Sub(h.clock.Now()) + time.Second)
		if p := h.profile(); p.State != state.Refreshing {
			t.Fatalf("want a refresh in flight: %+v", p)
		}
		before := h.clock.Now()
		if err := h.d.Sync(t.Context(), "data"); err != nil {
			t.Fatalf("Sync: %v", err)
		}
		if waited := h.clock.Now().Sub(before); waited != 0 {
			t.Errorf("Sync waited %v for the refresh", waited)
		}
		if n := h.targets.get("data/a").count(); n != 2 {
			t.Errorf("%d writes, want the first and the sync's", n)
		}
		close(hang)
	})
}

func TestFailingTargetDoesNotHoldOthersBack(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.9999999, failTarget: 3})
		defer h.stop()
		a, b := h.targets.get("data/a"), h.targets.get("data/b")
		if a.current().Value != "tok-1" {
			t.Fatal("target a not written at once")
		}
		p := h.profile()
		if p.Targets[1].State != state.TargetError || p.Targets[1].Error != "disk full" || p.Targets[0].State != state.TargetOK {
			t.Fatalf("targets: %+v", p.Targets)
		}
		// The same words as `broker sync` without the daemon.
		if p.Targets[0].Result != delivery.Wrote || p.Targets[1].Result != delivery.Failed {
			t.Fatalf("results: %+v", p.Targets)
		}
		// Retried after 1 s, 2 s, 4 s.
		sleep(6 * time.Second)
		if b.current().Value != "" {
			t.Fatalf("target b written too early (after %d failures)", 3-b.failN)
		}
		sleep(time.Second + time.Millisecond)
		if b.current().Value != "tok-1" {
			t.Fatal("target b not written after its backoff")
		}
		if p := h.profile(); p.Targets[1].State != state.TargetOK || p.Targets[1].Written == nil {
			t.Errorf("targets: %+v", p.Targets)
		}
	})
}

func TestSyncSignOutAndRefreshNow(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		h := start(t, setup{signedIn: true, u: 0.5})
		defer h.stop()
		if err := h.d.Sync(t.Context(), ""); err != nil {
			t.Fatal(err)
		}
		if n := h.targets.get("data/a").count(); n != 2 {
			t.Errorf("%d writes after sync, want 2", n)
		}
		if err := h.d.RefreshNow(t.Context(), "data"); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if c := h.targets.get("data/a").current(); c.Value != "tok-2" {
			t.Errorf("after refresh-now: %q", c.Value.Reveal())
		}
		// A caller that needs more validity than is left gets a refresh.
		sleep(30 * time.Minute)
		tok, err := h.d.Token(t.Context(), "data", 40*time.Minute)
		if err != nil || tok.Value != "tok-3" {
			t.Errorf("Token(40m): %q, %v", tok.Value, err)
		}
		if _, err := h.d.Token(t.Context(), "nope", 0); err == nil {
			t.Error("unknown profile accepted")
		}
		if err := h.d.SignOut(t.Context(), "data"); err != nil {
			t.Fatal(err)
		}
		if a := h.targets.get("data/a"); !a.removed {
			t.Error("token not removed from the target")
		}
		if p := h.profile(); p.State != state.SignedOut || p.ExpiresOn != nil {
			t.Errorf("after sign-out: %+v", p)
		}
		// The scrubbed target holds no token: status does not call it ok.
		synctest.Wait()
		for _, tg := range h.profile().Targets {
			if tg.State != state.TargetPending || tg.Written != nil {
				t.Errorf("target after sign-out: %+v", tg)
			}
		}
		if _, err := h.d.Token(t.Context(), "data", 0); !errors.Is(err, auth.ErrSignInRequired) {
			t.Errorf("Token after sign-out: %v", err)
		}
	})
}

func TestShortLifetimeNeverLoopsTightly(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		// The authority hands out 6-minute tokens, refresh_before is 15m.
		h := start(t, setup{signedIn: true, lifetime: 6 * time.Minute, refreshBefore: 15 * time.Minute})
		defer h.stop()
		sleep(time.Hour)
		refs := h.auth.refreshes()
		if len(refs) > 25 || len(refs) < 10 {
			t.Errorf("%d refreshes in an hour of 6-minute tokens", len(refs))
		}
		for i := 1; i < len(refs); i++ {
			if gap := refs[i].Sub(refs[i-1]); gap < minRefreshGap {
				t.Fatalf("refreshes %v apart", gap)
			}
		}
	})
}

func TestShutdownFinishesWriteInProgress(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		clock := &offsetClock{}
		a := newFakeAuth(clock, time.Hour, true)
		var mu sync.Mutex
		var finished bool
		started := make(chan struct{})
		slow := targetFunc(func(ctx context.Context) error {
			close(started)
			time.Sleep(2 * time.Second) // a long write (31 MB file)
			if ctx.Err() != nil {
				return ctx.Err()
			}
			mu.Lock()
			finished = true
			mu.Unlock()
			return nil
		})
		d, err := New(Options{
			Config: &config.Config{Profiles: map[string]*config.Profile{"data": {
				Targets: []config.Target{{Client: "file", Path: "/x"}}}}},
			Engine:    fakeEngine{"data": a},
			NewTarget: func(config.Target) (Target, error) { return slow, nil },
			Clock:     clock,
			NoWatch:   true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		<-started
		cancel()
		<-done
		mu.Lock()
		defer mu.Unlock()
		if !finished {
			t.Error("Run returned before the write in progress finished")
		}
	})
}

// lapsedAuth has an account whose sign-in has lapsed.
type lapsedAuth struct{ *fakeAuth }

func (lapsedAuth) Account(context.Context) (string, bool) { return "alice@contoso.com", true }

func TestLapsedSignInAtStartIsSignInRequired(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		clock := &offsetClock{}
		a := lapsedAuth{newFakeAuth(clock, time.Hour, false)}
		d, err := New(Options{
			Config:    &config.Config{Profiles: map[string]*config.Profile{"data": {}}},
			Engine:    engineFunc(func(string) (Auth, error) { return a, nil }),
			NewTarget: func(config.Target) (Target, error) { return nil, errors.New("none") },
			Clock:     clock,
			NoWatch:   true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()
		p := d.Status().Profiles[0]
		if p.State != state.SignInRequired || p.Account != "alice@contoso.com" {
			t.Errorf("status: %+v", p)
		}
		cancel()
		<-done
	})
}

type engineFunc func(string) (Auth, error)

func (f engineFunc) Auth(p string) (Auth, error) { return f(p) }

func TestProfileWithoutClientAnswersAtOnce(t *testing.T) {
	t.Parallel()
	synctest.Test(t, func(t *testing.T) {
		bad := &auth.Error{Class: auth.ClassMisconfigured, Message: "authority is not a URL", Hint: "fix authority"}
		d, err := New(Options{
			Config:    &config.Config{Profiles: map[string]*config.Profile{"data": {}}},
			Engine:    engineFunc(func(string) (Auth, error) { return nil, bad }),
			NewTarget: func(config.Target) (Target, error) { return nil, errors.New("none") },
			NoWatch:   true,
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- d.Run(ctx) }()
		synctest.Wait()
		start := time.Now()
		if _, err := d.Token(t.Context(), "data", time.Minute); auth.ClassOf(err) != auth.ClassMisconfigured {
			t.Errorf("Token: %v", err)
		}
		if err := d.SignIn(t.Context(), "data"); auth.ClassOf(err) != auth.ClassMisconfigured {
			t.Errorf("SignIn: %v", err)
		}
		if time.Since(start) != 0 {
			t.Errorf("answered after %v", time.Since(start))
		}
		if p := d.Status().Profiles[0]; p.State != state.Degraded || !strings.Contains(p.LastError, "not a URL") {
			t.Errorf("status: %+v", p)
		}
		cancel()
		<-done
	})
}
