package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Auth is one profile's sign-in client as the daemon uses it (the engine's
// *auth.Client, adapted). Token is silent: it returns a cached token with
// at least minValidity left or refreshes; Refresh really redeems the
// refresh token. Errors are classified by auth.ClassOf. Safe for
// concurrent use.
type Auth interface {
	Login(ctx context.Context, deviceCode bool) (token.Token, error)
	Token(ctx context.Context, minValidity time.Duration) (token.Token, error)
	Refresh(ctx context.Context) (token.Token, error)
	Logout(ctx context.Context) error
}

// attemptTimeout bounds one call to the authority.
const attemptTimeout = 60 * time.Second

// syncWait bounds how long sync waits for the targets' writes; a write
// still going on then is reported as such (and finishes by itself).
const syncWait = 20 * time.Second

// loginTimeout bounds one interactive sign-in.
const loginTimeout = 10 * time.Minute

// op is work done on the refresher's own goroutine (which owns the
// token): a token request, a sign-in's token, a sign-out.
type op func(ctx context.Context)

// refresher owns one profile's current token: it refreshes it on schedule,
// applies the failure policy and fans every new token out to the
// profile's targets.
type refresher struct {
	name          string
	prof          *config.Profile
	auth          Auth
	d             *Daemon
	log           *slog.Logger
	refreshBefore time.Duration
	targets       []*targetWorker

	ops  chan op
	poke chan struct{} // buffer 1: the token cache may have changed
	wake chan struct{} // buffer 1: look at the schedule now (it was moved)
	// ctx is the refresher's life (set by run); stopped closes when run ends.
	ctx     context.Context
	stopped chan struct{}
	// broken is why the profile has no sign-in client (set before start,
	// never changed): every request answers it at once.
	broken error

	mu       sync.Mutex
	tok      token.Token
	st       string
	lastErr  error
	reported string    // last misconfiguration reported, so it is reported once
	next     time.Time // next attempt; zero while waiting for the user
	failures int       // consecutive failures that are retried
	asked    time.Time // the last attempt a request asked for (rate limit)
	stamp    string    // the token cache as last seen by the loop
	login    *loginCall
	prompt   string         // the device-code instructions of the sign-in in flight
	bg       sync.WaitGroup // sign-ins in flight
	// challengedBy is the server whose challenge made the profile
	// "sign-in required" ("" for none); a new token clears it.
	challengedBy string
}

type loginCall struct {
	done chan struct{}
	err  error
}

func newRefresher(d *Daemon, p *config.Profile, a Auth, refreshBefore time.Duration) *refresher {
	return &refresher{
		name:          p.Name,
		prof:          p,
		auth:          a,
		d:             d,
		log:           d.log.With("profile", p.Name),
		refreshBefore: refreshBefore,
		ops:           make(chan op),
		stopped:       make(chan struct{}),
		poke:          make(chan struct{}, 1),
		wake:          make(chan struct{}, 1),
		st:            state.SignedOut,
	}
}

// snapshot returns the current token, state and last error.
func (r *refresher) snapshot() (token.Token, string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.tok, r.st, r.lastErr
}

func (r *refresher) status() state.Profile {
	r.mu.Lock()
	p := state.Profile{Name: r.name, State: r.st, Account: r.tok.Account, Source: r.prof.Login, Targets: []state.Target{}}
	if !r.tok.ExpiresOn.IsZero() {
		e := r.tok.ExpiresOn
		p.ExpiresOn = &e
	}
	if !r.next.IsZero() {
		n := r.next
		p.NextRefresh = &n
	}
	if r.lastErr != nil {
		p.LastError = r.lastErr.Error()
	}
	p.SignInPrompt = r.prompt
	if r.st == state.SignInRequired {
		p.ChallengedBy = r.challengedBy
	}
	r.mu.Unlock()
	if a, ok := r.auth.(interface{ ExtraScopes() []string }); ok {
		p.AddedScopes = a.ExtraScopes()
	}
	for _, t := range r.targets {
		p.Targets = append(p.Targets, t.status())
	}
	return p
}

// setState changes the state and tells subscribers; the caller logs.
func (r *refresher) set(f func()) {
	r.mu.Lock()
	f()
	r.mu.Unlock()
	r.d.notify()
}

// run is the refresher's loop; it returns when ctx ends.
func (r *refresher) run(ctx context.Context) {
	defer close(r.stopped)
	defer r.d.forgetToken(r.name) // the hot path asks a daemon without it
	var wg sync.WaitGroup
	for _, t := range r.targets {
		wg.Add(1)
		go func() { defer wg.Done(); t.run(ctx) }()
	}
	defer wg.Wait()
	defer r.bg.Wait()

	r.load(ctx)
	r.stamp = r.d.cacheStamp()
	for {
		now := r.d.clock.Now()
		r.mu.Lock()
		next := r.next
		r.mu.Unlock()
		if !next.IsZero() && !now.Before(next) {
			r.attempt(ctx, false)
			continue
		}
		wait := tickEvery
		if !next.IsZero() {
			wait = min(wait, next.Sub(now))
		}
		select {
		case <-ctx.Done():
			return
		case <-r.d.clock.After(wait):
			if r.d.clock.Now().Sub(now) > wait+wakeSlack {
				// The wall clock ran on while the monotonic one did not:
				// the machine slept. Whatever failed before may work now.
				r.retrySoon("wake-up")
			}
		case <-r.wake:
		case o := <-r.ops:
			o(ctx)
		case <-r.poke:
			if st := r.d.cacheStamp(); st != r.stamp {
				r.stamp = st
				r.cacheChanged(ctx)
			}
		}
	}
}

// load reads the current token from the cache at start (silently, without
// forcing a refresh) and writes it to every target.
func (r *refresher) load(ctx context.Context) {
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	tok, err := r.auth.Token(actx, 0)
	cancel()
	if err == nil {
		r.log.Info("current token loaded", "account", tok.Account, "expires_on", tok.ExpiresOn)
		r.accept(ctx, tok)
		return
	}
	if ctx.Err() != nil {
		return
	}
	if auth.ClassOf(err) == auth.ClassSignInRequired {
		// Nothing to retry: either never signed in (or signed out), or an
		// account whose sign-in has lapsed.
		if acct, ok := r.account(ctx); ok {
			r.stamp = r.d.cacheStamp()
			r.set(func() { r.st = state.SignInRequired; r.lastErr = err; r.tok.Account = acct; r.next = time.Time{} })
			r.log.Warn("sign-in required", "account", acct, "err", err)
			return
		}
		r.set(func() { r.st = state.SignedOut; r.lastErr = nil; r.next = time.Time{} })
		r.log.Info("not signed in", "reason", err)
		return
	}
	r.fail(err)
}

// account returns the cached account's name, when the client can tell.
func (r *refresher) account(ctx context.Context) (string, bool) {
	a, ok := r.auth.(interface {
		Account(ctx context.Context) (string, bool)
	})
	if !ok {
		return "", false
	}
	return a.Account(ctx)
}

// cacheChanged is called when another process (`broker login`) may have
// written the token cache: a profile waiting for the user tries once,
// silently, to pick up the new sign-in.
func (r *refresher) cacheChanged(ctx context.Context) {
	old, st, _ := r.snapshot()
	if st != state.SignInRequired && st != state.SignedOut {
		return
	}
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	tok, err := r.auth.Token(actx, 0)
	cancel()
	r.stamp = r.d.cacheStamp() // our own attempt's writes do not count
	if err != nil || (tok.Value == old.Value && tok.ExpiresOn.Equal(old.ExpiresOn)) {
		return
	}
	r.log.Info("signed in by another process", "account", tok.Account, "expires_on", tok.ExpiresOn)
	r.accept(ctx, tok)
}

// do runs o on the refresher's goroutine and waits for it to finish (or
// for ctx or the refresher to end first).
func (r *refresher) do(ctx context.Context, o op) error {
	if r.broken != nil {
		return r.broken
	}
	done := make(chan struct{})
	select {
	case r.ops <- func(ctx context.Context) { defer close(done); o(ctx) }:
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		return errStopped
	}
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-r.stopped:
		return errStopped
	}
}

var errStopped = errors.New("the profile was reloaded or the daemon is stopping; try again")

// token returns a token with at least minValidity left, refreshing first
// when needed (or always, with force). It honours the backoff: while a
// temporary failure waits for its retry, it returns that failure.
func (r *refresher) token(ctx context.Context, minValidity time.Duration, force bool) (token.Token, error) {
	if !force {
		tok, st, lastErr := r.snapshot()
		if tok.ValidFor(r.d.clock.Now(), minValidity) {
			return tok, nil
		}
		if st == state.SignInRequired || st == state.SignedOut {
			return token.Token{}, signInError(st, lastErr)
		}
	}
	type reply struct {
		tok token.Token
		err error
	}
	ch := make(chan reply, 1)
	err := r.do(ctx, func(ctx context.Context) {
		tok, err := r.serve(ctx, minValidity, force)
		ch <- reply{tok, err}
	})
	if err != nil {
		return token.Token{}, err
	}
	select {
	case rep := <-ch:
		return rep.tok, rep.err
	case <-ctx.Done():
		return token.Token{}, ctx.Err()
	}
}

// serve answers a token request on the loop.
func (r *refresher) serve(ctx context.Context, minValidity time.Duration, force bool) (token.Token, error) {
	tok, st, lastErr := r.snapshot()
	now := r.d.clock.Now()
	r.mu.Lock()
	next := r.next
	r.mu.Unlock()
	if !force {
		switch {
		case tok.ValidFor(now, minValidity):
			return tok, nil
		case st == state.SignInRequired || st == state.SignedOut:
			return token.Token{}, signInError(st, lastErr)
		case st == state.Degraded && lastErr != nil && (next.IsZero() || now.Before(next)) &&
			(throttled(lastErr) || !r.mayAsk(now)):
			// The authority asked for a pause (Retry-After), or a request
			// had its attempt a moment ago: wait for the timer.
			return token.Token{}, lastErr
		}
	}
	if err := r.attempt(ctx, true); err != nil {
		return token.Token{}, err
	}
	tok, _, _ = r.snapshot()
	if !tok.ValidFor(r.d.clock.Now(), minValidity) {
		return token.Token{}, fmt.Errorf("the new token has less than %s left (it expires at %s)", minValidity, tok.ExpiresOn.Format(time.RFC3339))
	}
	return tok, nil
}

// mayAsk reports whether a request may have a real attempt now although
// the backoff has not run out (the token is not good enough for it): at
// most one every askGap per profile, so that a storm of requests does
// not become a storm at the authority. Safe from any goroutine.
func (r *refresher) mayAsk(now time.Time) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.asked.IsZero() && now.Sub(r.asked) < askGap && !now.Before(r.asked) {
		return false
	}
	r.asked = now
	return true
}

// throttled reports whether err carries the authority's Retry-After.
func throttled(err error) bool {
	var ae *auth.Error
	return errors.As(err, &ae) && ae.RetryAfter > 0
}

// retrySoon moves a pending retry of a failed profile to now (a wake-up,
// a sync asking) and wakes the loop. It does nothing for a profile that
// is fine or waits for the user. Safe from any goroutine.
func (r *refresher) retrySoon(why string) {
	r.mu.Lock()
	retry := r.st == state.Degraded && !r.next.IsZero() && r.broken == nil && !throttled(r.lastErr)
	if retry {
		r.next = r.d.clock.Now()
	}
	r.mu.Unlock()
	if !retry {
		return
	}
	r.log.Info("retrying the failed refresh now", "reason", why)
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// signIn signs in interactively. Only one sign-in runs at a time:
// concurrent callers share it. It returns once the new token was written
// to every target (failed targets show in status, not here).
func (r *refresher) signIn(ctx context.Context) error {
	if r.broken != nil {
		return r.broken
	}
	r.mu.Lock()
	c := r.login
	if c == nil {
		c = &loginCall{done: make(chan struct{})}
		r.login = c
		r.bg.Add(1)
		go r.doLogin(c)
	}
	r.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (r *refresher) doLogin(c *loginCall) {
	defer r.bg.Done()
	ctx, cancel := context.WithTimeout(r.ctx, loginTimeout)
	defer cancel()
	r.log.Info("interactive sign-in started", "device_code", r.prof.Login == "device-code")
	tok, err := r.auth.Login(ctx, r.prof.Login == "device-code")
	if err == nil {
		r.log.Info("signed in", "account", tok.Account, "expires_on", tok.ExpiresOn)
		var chs []<-chan error
		err = r.do(ctx, func(ctx context.Context) { chs = r.accept(ctx, tok) })
		if err == nil {
			waitAll(ctx, chs)
		}
	} else {
		r.log.Warn("sign-in failed", "err", err)
	}
	r.mu.Lock()
	c.err = err
	r.login = nil
	r.prompt = ""
	r.mu.Unlock()
	r.d.notify()
	close(c.done)
}

// signOut forgets the account and scrubs the token from every target
// (waiting for them; their failures show in status, not here).
func (r *refresher) signOut(ctx context.Context) error {
	var lerr error
	var chs []<-chan error
	err := r.do(ctx, func(ctx context.Context) {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		lerr = r.auth.Logout(actx)
		cancel()
		r.d.forgetToken(r.name)
		r.set(func() {
			r.tok = token.Token{}
			r.st = state.SignedOut
			r.lastErr = nil
			r.challengedBy = ""
			r.next = time.Time{}
			r.failures = 0
		})
		r.log.Info("signed out", "err", lerr)
		chs = r.fanOut(token.Token{}, true)
	})
	if err != nil {
		return err
	}
	// A target that cannot be scrubbed shows in status and the log; the
	// sign-out itself succeeded.
	waitAll(ctx, chs)
	return lerr
}

// sync writes the current token to every target now and returns the
// failures (the other targets are written all the same).
//
// It does not wait for the refresher's loop, which may be busy with a
// refresh that hangs: it hands the current token to the targets itself
// (under r.mu, so that it never overtakes a newer token or a sign-out),
// and a profile whose refresh failed gets a retry at once, which sync
// does not wait for.
func (r *refresher) sync(ctx context.Context) error {
	if r.broken != nil {
		return r.broken
	}
	r.mu.Lock()
	tok, st, lastErr := r.tok, r.st, r.lastErr
	var chs []<-chan error
	if tok.Value != "" {
		chs = r.fanOut(tok, false)
	}
	r.mu.Unlock()
	if st == state.Degraded && r.mayAsk(r.d.clock.Now()) {
		r.retrySoon("sync")
	}
	if tok.Value == "" {
		return signInError(st, lastErr)
	}
	wctx, cancel := context.WithTimeout(ctx, syncWait)
	defer cancel()
	errs := waitAll(wctx, chs)
	if ctx.Err() == nil {
		for i, err := range errs {
			if err != nil && errors.Is(err, context.DeadlineExceeded) && wctx.Err() != nil {
				errs[i] = fmt.Errorf("still being written after %s (another program may hold the file or its lock); the daemon goes on trying, see `broker status`", syncWait)
			}
		}
	}
	return joinTargetErrors(r.targets, errs)
}

// pokeCache tells the loop that the token cache may have changed.
func (r *refresher) pokeCache() {
	select {
	case r.poke <- struct{}{}:
	default:
	}
}

// challenger is an Auth that answers claims challenges (auth.Client).
type challenger interface {
	Challenge(ctx context.Context, claims string) (token.Token, error)
}

// scopeChallenger is an Auth that answers scope challenges (auth.Client).
type scopeChallenger interface {
	ScopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error)
}

// challenge gets a token that meets a server's claims challenge, on the
// loop; see Daemon.Challenge.
func (r *refresher) challenge(ctx context.Context, server, claims string) (token.Token, error) {
	c, ok := r.auth.(challenger)
	if !ok {
		return r.token(ctx, 0, true)
	}
	return r.meet(ctx, server, "claims", func(ctx context.Context) (token.Token, error) {
		tok, err := c.Challenge(ctx, claims)
		if auth.ClassOf(err) == auth.ClassSignInRequired {
			err = &auth.Error{Class: auth.ClassSignInRequired,
				Message: fmt.Sprintf("your organisation asks you to sign in again for %s (Conditional Access)", server),
				Hint:    fmt.Sprintf("run `broker login --profile %s`: the sign-in asks for what %s requires", r.name, server), Err: err}
		}
		return tok, err
	})
}

// scopeChallenge gets a token with the scopes a server's insufficient_scope
// challenge asks for, on the loop; see Daemon.ScopeChallenge.
func (r *refresher) scopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error) {
	c, ok := r.auth.(scopeChallenger)
	if !ok {
		return r.token(ctx, 0, true)
	}
	return r.meet(ctx, server, "scopes", func(ctx context.Context) (token.Token, error) {
		return c.ScopeChallenge(ctx, server, scopes)
	})
}

// meet runs a challenge's answer on the loop: its token becomes the
// profile's; its sign-in required makes the profile "sign-in required"
// for server (the tray names it). Other failures are the caller's only:
// a server asking for another API's scope breaks nothing for the others.
func (r *refresher) meet(ctx context.Context, server, what string, answer func(ctx context.Context) (token.Token, error)) (token.Token, error) {
	type reply struct {
		tok token.Token
		err error
	}
	ch := make(chan reply, 1)
	err := r.do(ctx, func(ctx context.Context) {
		actx, cancel := context.WithTimeout(ctx, attemptTimeout)
		tok, err := answer(actx)
		cancel()
		if err == nil {
			r.log.Info("token refreshed for a challenge", "server", server, "challenge", what, "expires_on", tok.ExpiresOn)
			r.accept(ctx, tok)
			ch <- reply{tok, nil}
			return
		}
		switch auth.ClassOf(err) {
		case auth.ClassSignInRequired:
			r.signInRequired(err, server)
		case auth.ClassTemporary:
			r.fail(err)
		default:
			r.log.Warn("a server's challenge cannot be met", "server", server, "challenge", what, "err", err)
		}
		ch <- reply{token.Token{}, err}
	})
	if err != nil {
		return token.Token{}, err
	}
	select {
	case rep := <-ch:
		return rep.tok, rep.err
	case <-ctx.Done():
		return token.Token{}, ctx.Err()
	}
}

// attempt refreshes once and applies the failure policy.
func (r *refresher) attempt(ctx context.Context, asked bool) error {
	old, prev, _ := r.snapshot()
	r.set(func() { r.st = state.Refreshing })
	actx, cancel := context.WithTimeout(ctx, attemptTimeout)
	var tok token.Token
	var err error
	if old.Value != "" {
		tok, err = r.auth.Refresh(actx)
	} else {
		tok, err = r.auth.Token(actx, 0)
	}
	cancel()
	if err == nil {
		r.log.Info("token refreshed", "expires_on", tok.ExpiresOn, "asked", asked)
		r.accept(ctx, tok)
		return nil
	}
	if ctx.Err() != nil {
		r.set(func() { r.st = prev })
		return ctx.Err()
	}
	r.fail(err)
	return err
}

// failures counts consecutive temporary failures (only the loop touches it).
func (r *refresher) fail(err error) {
	now := r.d.clock.Now()
	switch auth.ClassOf(err) {
	case auth.ClassSignInRequired:
		r.signInRequired(err, "")
	default:
		// Nothing else is terminal while a token could still be had: a
		// misconfiguration (or an untrusted certificate: a captive
		// portal, a TLS-inspecting proxy, a VPN coming up) is re-probed
		// slowly, anything else backs off; neither sleeps past the
		// current token's expiry.
		misconfigured := auth.ClassOf(err) == auth.ClassMisconfigured
		var retryAfter time.Duration
		var ae *auth.Error
		if errors.As(err, &ae) {
			retryAfter = ae.RetryAfter
		}
		var next time.Time
		r.set(func() {
			r.failures++
			delay := retryDelay(r.failures, retryAfter, r.d.rand())
			if misconfigured {
				delay = max(delay, misconfiguredRetry)
			}
			next = now.Add(delay)
			if exp := r.tok.ExpiresOn; exp.After(now) && next.After(exp) {
				next = exp
			}
			r.st = state.Degraded
			r.lastErr = err
			r.next = next
		})
		retryIn := next.Sub(now).Round(time.Millisecond)
		if !misconfigured {
			r.log.Warn("refresh failed, will retry", "err", err, "retry_in", retryIn, "retry_after", retryAfter)
			return
		}
		if msg := err.Error(); msg != r.reported {
			r.reported = msg
			r.log.Error("profile misconfigured; will probe again", "err", err, "hint", hintOf(err), "retry_in", retryIn)
			return
		}
		r.log.Debug("still misconfigured", "err", err, "retry_in", retryIn)
	}
}

// signInRequired makes the profile "sign-in required" for err; server
// names the server whose challenge it is ("" for none). The state, the
// reason and the server change at once, so that the tray, which notifies
// once per reason, sees them together. A server's challenge stays the
// reason until a sign-in: a refresh meanwhile fails for the same want.
func (r *refresher) signInRequired(err error, server string) {
	r.stamp = r.d.cacheStamp()
	r.set(func() {
		switch {
		case server != "":
			r.lastErr, r.challengedBy = err, server
		case r.challengedBy == "" || r.st != state.SignInRequired:
			r.lastErr, r.challengedBy = err, ""
		}
		r.st = state.SignInRequired
		r.next = time.Time{}
		r.failures = 0
	})
	r.log.Warn("sign-in required", "err", err, "server", server)
}

// accept makes tok the current token, schedules its refresh and gives it
// to every target; it returns the channels of the targets' first results.
func (r *refresher) accept(ctx context.Context, tok token.Token) []<-chan error {
	now := r.d.clock.Now()
	next := nextRefresh(now, tok.ExpiresOn, r.refreshBefore, r.d.rand())
	r.d.forgetToken(r.name)
	r.set(func() {
		r.tok = tok
		r.st = state.OK
		r.lastErr = nil
		r.challengedBy = ""
		r.reported = ""
		r.failures = 0
		r.next = next
	})
	r.log.Debug("next refresh scheduled", "at", next)
	chs := r.fanOut(tok, false)
	r.d.rememberToken(r.name, tok) // after the targets are on their way
	return chs
}

// fanOut gives tok (or, with remove, the order to scrub) to every target
// without waiting for them.
func (r *refresher) fanOut(tok token.Token, remove bool) []<-chan error {
	chs := make([]<-chan error, len(r.targets))
	for i, t := range r.targets {
		chs[i] = t.set(tok, remove)
	}
	return chs
}

// waitAll waits for every result (or ctx).
func waitAll(ctx context.Context, chs []<-chan error) []error {
	errs := make([]error, len(chs))
	for i, ch := range chs {
		select {
		case errs[i] = <-ch:
		case <-ctx.Done():
			// A result that is in counts, even when ctx ended too.
			select {
			case errs[i] = <-ch:
			default:
				errs[i] = ctx.Err()
			}
		}
	}
	return errs
}

// joinTargetErrors names each failed target.
func joinTargetErrors(ts []*targetWorker, errs []error) error {
	var out []error
	for i, err := range errs {
		if err != nil {
			out = append(out, fmt.Errorf("%s %s (%s): %w", ts[i].cfg.Client, ts[i].cfg.Server, ts[i].path, err))
		}
	}
	return errors.Join(out...)
}

// signInError is the error for a profile that needs the user.
func signInError(st string, lastErr error) error {
	if st == state.SignInRequired && lastErr != nil && auth.ClassOf(lastErr) == auth.ClassSignInRequired {
		return lastErr
	}
	return &auth.Error{
		Class:   auth.ClassSignInRequired,
		Message: "not signed in",
		Hint:    "run `broker login`",
		Err:     auth.ErrSignInRequired,
	}
}

func hintOf(err error) string {
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		return h.HintText()
	}
	return ""
}
