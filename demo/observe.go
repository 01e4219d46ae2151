package demo

import (
	"context"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// The demo watches the real daemon through the two seams the daemon has
// anyway: the engine that gives it each profile's sign-in client, and the
// factory of its delivery targets. Both wrappers only report what passed
// through them (on the events channel) and change nothing.

// Kinds of event.
const (
	evSignIn  = "sign-in" // an interactive sign-in gave a token
	evRefresh = "refresh" // the daemon redeemed the refresh token
	// evAskedRefresh: a refresh while a client stand-in was asking for a
	// token (the daemon refreshes first when less than 5 min are left).
	evAskedRefresh = "asked-refresh"
	evToken        = "token"    // a silent call returned a new token
	evAuthFail     = "failed"   // a sign-in or refresh failed
	evWrite        = "write"    // a target's Apply ran
	evBrowser      = "browser"  // the sign-in page was opened
	evStopped      = "stopped"  // the daemon's Run returned
	evSignedIn     = "signedin" // SignIn returned
)

// bus carries events to the coordinator; a send never blocks once the
// coordinator is gone.
type bus struct {
	ch   chan event
	done chan struct{}
}

func newBus() *bus { return &bus{ch: make(chan event, 256), done: make(chan struct{})} }

func (b *bus) send(e event) {
	select {
	case b.ch <- e:
	case <-b.done:
	}
}

// event is one thing that happened, for the coordinator.
type event struct {
	kind string
	at   time.Time
	tok  token.Token // sign-in, refresh, token, write: the daemon's token
	err  error

	// write
	target           *observedTarget
	before, after    []byte
	changed, firstOf bool
	// browser
	url string
}

// observedEngine is the daemon's Engine: the real engine's clients,
// wrapped.
type observedEngine struct {
	eng    *engine.Engine
	events *bus
	asked  *atomic.Int32
}

func (e observedEngine) Auth(profile string) (daemon.Auth, error) {
	c, err := e.eng.Client(profile)
	if err != nil {
		return nil, err
	}
	return &observedAuth{c: c, events: e.events, asked: e.asked}, nil
}

// Storage reports where tokens are kept (daemon.StorageReporter).
func (e observedEngine) Storage() (string, string) {
	return e.eng.Store().Mode(), e.eng.Store().Warning()
}

// observedAuth reports every new token the daemon gets.
type observedAuth struct {
	c      daemon.Auth
	events *bus
	// asked counts the client stand-ins asking for a token right now.
	asked *atomic.Int32

	mu   sync.Mutex
	last string // fingerprint of the last token reported
}

func (a *observedAuth) report(kind string, tok token.Token, err error) {
	if err != nil {
		if !errors.Is(err, context.Canceled) {
			a.events.send(event{kind: evAuthFail, at: time.Now(), err: err})
		}
		return
	}
	fp := entrasim.Fingerprint(tok.Value.Reveal())
	a.mu.Lock()
	same := fp == a.last
	a.last = fp
	a.mu.Unlock()
	// A sign-in is always told (the daemon's cache poll may have seen its
	// token first).
	if !same || kind == evSignIn {
		a.events.send(event{kind: kind, at: time.Now(), tok: tok})
	}
}

func (a *observedAuth) Login(ctx context.Context, deviceCode bool) (token.Token, error) {
	tok, err := a.c.Login(ctx, deviceCode)
	a.report(evSignIn, tok, err)
	return tok, err
}

func (a *observedAuth) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	tok, err := a.c.Token(ctx, minValidity)
	if err != nil {
		// "not signed in" at start is expected, not a failure to show.
		return tok, err
	}
	a.report(evToken, tok, nil)
	return tok, err
}

func (a *observedAuth) Refresh(ctx context.Context) (token.Token, error) {
	asked := a.asked != nil && a.asked.Load() > 0
	tok, err := a.c.Refresh(ctx)
	kind := evRefresh
	if asked {
		kind = evAskedRefresh
	}
	a.report(kind, tok, err)
	return tok, err
}

func (a *observedAuth) Logout(ctx context.Context) error { return a.c.Logout(ctx) }

// observedTarget is one client's real delivery target; it reports each
// write with the file's content before and after.
type observedTarget struct {
	c      *clientInfo
	t      *delivery.Target
	events *bus
	// spoil, when set, gives the token to write instead of the daemon's
	// (tests of the checks).
	spoil func(token.Token) token.Token

	mu   sync.Mutex
	last string // fingerprint of the daemon's token last written
}

func (o *observedTarget) Apply(ctx context.Context, tok token.Token) delivery.Result {
	before, _ := os.ReadFile(o.t.Path())
	write := tok
	if o.spoil != nil {
		write = o.spoil(tok)
	}
	res := o.t.Apply(ctx, write)
	changed, err := res.Word == delivery.Wrote, res.Err
	after, _ := os.ReadFile(o.t.Path())
	fp := entrasim.Fingerprint(tok.Value.Reveal())
	o.mu.Lock()
	first := fp != o.last
	if err == nil {
		o.last = fp
	}
	o.mu.Unlock()
	if first || changed || err != nil {
		o.events.send(event{kind: evWrite, at: time.Now(), tok: tok, target: o, before: before, after: after,
			changed: changed, firstOf: first, err: err})
	}
	return res
}

func (o *observedTarget) Remove(ctx context.Context) delivery.Result { return o.t.Remove(ctx) }

// WatchPaths lets the daemon watch the client's file.
func (o *observedTarget) WatchPaths() []string { return o.t.WatchPaths() }

// observeTarget wraps each of the daemon's targets (the real delivery
// targets) to report its writes.
func (d *run) observeTarget(t config.Target, tg *delivery.Target) (daemon.Target, error) {
	ci := d.clientFor(t)
	if ci == nil {
		return nil, errors.New("the demo has no client " + t.Client)
	}
	ot := &observedTarget{c: ci, t: tg, events: d.events}
	if d.opts.spoil == ci.key {
		ot.spoil = d.spoiler()
	}
	ci.target = ot
	return ot, nil
}

// spoiler returns a function that swaps each token for a Microsoft Graph
// token of the same user (one per daemon token, so that writing it again
// changes nothing): what a client gets when the scope was lost.
func (d *run) spoiler() func(token.Token) token.Token {
	var mu sync.Mutex
	made := map[string]token.Token{}
	return func(tok token.Token) token.Token {
		fp := entrasim.Fingerprint(tok.Value.Reveal())
		mu.Lock()
		defer mu.Unlock()
		if t, ok := made[fp]; ok {
			return t
		}
		t := tok
		t.Value = token.Secret(d.sim.IssueAccessToken(entrasim.TokenOpts{
			Audience: graphAudience, ExpiresAt: tok.ExpiresOn, Scopes: []string{"User.Read"},
		}))
		t.Audience = graphAudience
		made[fp] = t
		return t
	}
}

// graphAudience is Microsoft Graph's application ID.
const graphAudience = "00000003-0000-0000-c000-000000000000"
