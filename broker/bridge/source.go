package bridge

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Lazy returns a TokenSource that opens the real one at its first call
// (the token cache and MSAL cost time the bridge should not spend before
// it answers its client). A failure to open is returned and retried at the
// next call. It is safe for concurrent use.
func Lazy(open func(context.Context) (TokenSource, error)) TokenSource {
	return &lazy{open: open}
}

type lazy struct {
	open func(context.Context) (TokenSource, error)
	mu   sync.Mutex
	src  TokenSource
}

func (l *lazy) get(ctx context.Context) (TokenSource, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.src == nil {
		s, err := l.open(ctx)
		if err != nil {
			return nil, err
		}
		l.src = s
	}
	return l.src, nil
}

func (l *lazy) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	s, err := l.get(ctx)
	if err != nil {
		return token.Token{}, err
	}
	return s.Token(ctx, minValidity)
}

func (l *lazy) Refresh(ctx context.Context) (token.Token, error) {
	s, err := l.get(ctx)
	if err != nil {
		return token.Token{}, err
	}
	return s.Refresh(ctx)
}

// Challenge meets a server's claims challenge with the real source's
// Challenge (auth.Client's), else a refresh.
func (l *lazy) Challenge(ctx context.Context, server, claims string) (token.Token, error) {
	s, err := l.get(ctx)
	if err != nil {
		return token.Token{}, err
	}
	return challengeOrRefresh(ctx, s, server, claims)
}

// claimsChallenger is auth.Client's Challenge.
type claimsChallenger interface {
	Challenge(ctx context.Context, claims string) (token.Token, error)
}

func challengeOrRefresh(ctx context.Context, s TokenSource, server, claims string) (token.Token, error) {
	switch c := s.(type) {
	case Challenger:
		return c.Challenge(ctx, server, claims)
	case claimsChallenger:
		return c.Challenge(ctx, claims)
	}
	return s.Refresh(ctx)
}

// daemonChallenger is the daemon's claims challenge (localapi.Client).
type daemonChallenger interface {
	Challenge(ctx context.Context, profile, server, claims string) (token.Token, error)
}

// Daemon is what the bridge asks of the running daemon (a
// localapi.Client): the profile's token, and a refresh after the server
// refused one.
type Daemon interface {
	Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error)
	RefreshNow(ctx context.Context, profile string) error
	Close() error
}

// DaemonFirst returns a TokenSource that asks the running daemon (dial
// fails fast when none runs) and, when no daemon runs, cache: the same
// token the daemon delivers everywhere else, and sign-in required shown
// where the daemon shows it (its tray). The daemon is dialled per call, so
// a daemon started or stopped during the session is noticed; the bridge
// asks for a token about once a minute.
//
// log (nil: discard) says which of the two answers, when that changes.
func DaemonFirst(dial func(context.Context) (Daemon, error), profile string, cache TokenSource, log *slog.Logger) TokenSource {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &daemonFirst{dial: dial, profile: profile, cache: cache, log: log}
}

type daemonFirst struct {
	dial    func(context.Context) (Daemon, error)
	profile string
	cache   TokenSource
	log     *slog.Logger

	mu   sync.Mutex
	last string // "daemon" or "cache": who answered last
}

// use notes who answers and logs a change.
func (d *daemonFirst) use(who string) {
	d.mu.Lock()
	changed := d.last != who
	d.last = who
	d.mu.Unlock()
	if changed {
		d.log.Info("bridge token source", "source", who)
	}
}

func (d *daemonFirst) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	c, err := d.dial(ctx)
	if err != nil {
		d.use("cache")
		return d.cache.Token(ctx, minValidity)
	}
	defer c.Close()
	d.use("daemon")
	return c.Token(ctx, d.profile, minValidity)
}

// refreshedValidity is what Refresh asks of the daemon's new token.
const refreshedValidity = time.Minute

func (d *daemonFirst) Refresh(ctx context.Context) (token.Token, error) {
	c, err := d.dial(ctx)
	if err != nil {
		d.use("cache")
		return d.cache.Refresh(ctx)
	}
	defer c.Close()
	d.use("daemon")
	if err := c.RefreshNow(ctx, d.profile); err != nil {
		return token.Token{}, err
	}
	return c.Token(ctx, d.profile, refreshedValidity)
}

// Challenge asks the daemon (else the cache) for a token that meets a
// server's claims challenge: the daemon shows "sign-in required" for the
// server when the user must act, and its next sign-in asks for the claims.
func (d *daemonFirst) Challenge(ctx context.Context, server, claims string) (token.Token, error) {
	c, err := d.dial(ctx)
	if err != nil {
		d.use("cache")
		return challengeOrRefresh(ctx, d.cache, server, claims)
	}
	defer c.Close()
	d.use("daemon")
	if dc, ok := c.(daemonChallenger); ok {
		return dc.Challenge(ctx, d.profile, server, claims)
	}
	if err := c.RefreshNow(ctx, d.profile); err != nil {
		return token.Token{}, err
	}
	return c.Token(ctx, d.profile, refreshedValidity)
}

// ScopeChallenge meets a server's insufficient_scope challenge with the
// real source's ScopeChallenge (auth.Client's), else a refresh.
func (l *lazy) ScopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error) {
	s, err := l.get(ctx)
	if err != nil {
		return token.Token{}, err
	}
	return scopeChallengeOrRefresh(ctx, s, server, scopes)
}

func scopeChallengeOrRefresh(ctx context.Context, s TokenSource, server string, scopes []string) (token.Token, error) {
	if c, ok := s.(ScopeChallenger); ok {
		return c.ScopeChallenge(ctx, server, scopes)
	}
	return s.Refresh(ctx)
}

// daemonScopeChallenger is the daemon's scope challenge (localapi.Client).
type daemonScopeChallenger interface {
	ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error)
}

// ScopeChallenge asks the daemon (else the cache) for a token with the
// scopes a server's insufficient_scope challenge names: the daemon shows
// "sign-in required" naming the server and the scope when the user must
// consent, and its next sign-in asks for them.
func (d *daemonFirst) ScopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error) {
	c, err := d.dial(ctx)
	if err != nil {
		d.use("cache")
		return scopeChallengeOrRefresh(ctx, d.cache, server, scopes)
	}
	defer c.Close()
	d.use("daemon")
	if dc, ok := c.(daemonScopeChallenger); ok {
		return dc.ScopeChallenge(ctx, d.profile, server, scopes)
	}
	if err := c.RefreshNow(ctx, d.profile); err != nil {
		return token.Token{}, err
	}
	return c.Token(ctx, d.profile, refreshedValidity)
}
