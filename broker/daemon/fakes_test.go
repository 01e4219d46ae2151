package daemon

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// offsetClock is the real clock (faked by testing/synctest) plus a wall
// clock offset: jump moves the wall clock only, as a suspend does.
type offsetClock struct{ off atomic.Int64 }

func (c *offsetClock) Now() time.Time                         { return time.Now().Add(time.Duration(c.off.Load())) }
func (c *offsetClock) After(d time.Duration) <-chan time.Time { return time.After(d) }
func (c *offsetClock) jump(d time.Duration)                   { c.off.Add(int64(d)) }

// fakeAuth is an authority and MSAL in one: it issues numbered tokens with
// a fixed lifetime and fails as told.
type fakeAuth struct {
	clock    Clock
	lifetime time.Duration

	mu       sync.Mutex
	n        int
	signedIn bool
	cur      token.Token
	failures []error // returned by the next redemptions, in order
	refresh  []time.Time
	logins   int
	loginGo  chan struct{} // when set, Login waits for it
	hang     chan struct{} // when set, Refresh waits for it (or ctx)
}

func newFakeAuth(c Clock, lifetime time.Duration, signedIn bool) *fakeAuth {
	a := &fakeAuth{clock: c, lifetime: lifetime, signedIn: signedIn}
	if signedIn {
		a.cur = a.issue()
	}
	return a
}

func (a *fakeAuth) issue() token.Token {
	a.n++
	return token.Token{Value: token.Secret(fmt.Sprintf("tok-%d", a.n)), ExpiresOn: a.clock.Now().Add(a.lifetime).Truncate(time.Second), Account: "alice@contoso.com"}
}

func (a *fakeAuth) fail(errs ...error) {
	a.mu.Lock()
	a.failures = append(a.failures, errs...)
	a.mu.Unlock()
}

func (a *fakeAuth) redeem() (token.Token, error) {
	a.refresh = append(a.refresh, a.clock.Now())
	if len(a.failures) > 0 {
		err := a.failures[0]
		a.failures = a.failures[1:]
		if auth.ClassOf(err) == auth.ClassSignInRequired {
			a.signedIn = false
		}
		return token.Token{}, err
	}
	if !a.signedIn {
		return token.Token{}, errSignIn
	}
	a.cur = a.issue()
	return a.cur, nil
}

func (a *fakeAuth) Login(ctx context.Context, deviceCode bool) (token.Token, error) {
	a.mu.Lock()
	a.logins++
	wait := a.loginGo
	a.mu.Unlock()
	if wait != nil {
		select {
		case <-wait:
		case <-ctx.Done():
			return token.Token{}, ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signedIn = true
	a.failures = nil
	a.cur = a.issue()
	return a.cur, nil
}

func (a *fakeAuth) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.cur.Value == "" {
		return token.Token{}, errSignIn
	}
	if a.cur.ValidFor(a.clock.Now(), max(minValidity, 5*time.Minute)) {
		return a.cur, nil
	}
	return a.redeem()
}

func (a *fakeAuth) Refresh(ctx context.Context) (token.Token, error) {
	a.mu.Lock()
	hang := a.hang
	a.mu.Unlock()
	if hang != nil {
		select {
		case <-hang:
		case <-ctx.Done():
			return token.Token{}, ctx.Err()
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.redeem()
}

func (a *fakeAuth) Logout(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.signedIn = false
	a.cur = token.Token{}
	return nil
}

func (a *fakeAuth) refreshes() []time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]time.Time(nil), a.refresh...)
}

var errSignIn = &auth.Error{Class: auth.ClassSignInRequired, OAuthError: "invalid_grant", Message: "the refresh token was revoked", Hint: "run `broker login`"}

func tempErr(retryAfter time.Duration) error {
	return &auth.Error{Class: auth.ClassTemporary, Message: "authority answered 503", RetryAfter: retryAfter}
}

type fakeEngine map[string]*fakeAuth

func (e fakeEngine) Auth(p string) (Auth, error) {
	a, ok := e[p]
	if !ok {
		return nil, errors.New("no such profile")
	}
	return a, nil
}

// fakeTarget records what was written and fails as told.
type fakeTarget struct {
	clock Clock

	mu      sync.Mutex
	writes  []write
	value   token.Token
	removed bool
	failN   int
	block   chan struct{} // when set, Apply waits for it
}

type write struct {
	at  time.Time
	tok token.Token
}

func (f *fakeTarget) Apply(ctx context.Context, tok token.Token) delivery.Result {
	f.mu.Lock()
	block := f.block
	f.mu.Unlock()
	if block != nil {
		select {
		case <-block:
		case <-ctx.Done():
			return result(ctx.Err())
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.failN > 0 {
		f.failN--
		return result(errors.New("disk full"))
	}
	f.writes = append(f.writes, write{f.clock.Now(), tok})
	f.value = tok
	f.removed = false
	return result(nil)
}

func (f *fakeTarget) Remove(ctx context.Context) delivery.Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.value = token.Token{}
	f.removed = true
	return result(nil)
}

// result is a delivery result for err (nil: written).
func result(err error) delivery.Result {
	if err != nil {
		return delivery.Result{Word: delivery.Failed, Err: err}
	}
	return delivery.Result{Word: delivery.Wrote}
}

func (f *fakeTarget) current() token.Token {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.value
}

func (f *fakeTarget) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.writes)
}

// fakeTargets hands out one fakeTarget per config.Target.Server.
type fakeTargets struct {
	clock Clock
	mu    sync.Mutex
	m     map[string]*fakeTarget
}

func (ft *fakeTargets) new(t config.Target) (Target, error) {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	if ft.m == nil {
		ft.m = map[string]*fakeTarget{}
	}
	f := ft.m[t.Profile+"/"+t.Server]
	if f == nil {
		f = &fakeTarget{clock: ft.clock}
		ft.m[t.Profile+"/"+t.Server] = f
	}
	return f, nil
}

func (ft *fakeTargets) get(name string) *fakeTarget {
	ft.mu.Lock()
	defer ft.mu.Unlock()
	return ft.m[name]
}

// targetFunc is a target whose Apply calls f.
type targetFunc func(ctx context.Context) error

func (f targetFunc) Apply(ctx context.Context, _ token.Token) delivery.Result {
	return result(f(ctx))
}
func (f targetFunc) Remove(ctx context.Context) delivery.Result { return result(nil) }
