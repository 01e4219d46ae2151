// Package fetch gets a token for the commands that must answer fast
// (`broker token`, `broker headers`): from the running daemon when it
// answers, else from the token cache (refreshing silently, never a
// browser), within Limit in all. Claude Code kills a headersHelper at
// 10 s.
package fetch

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/reask"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Limit bounds Token and Headers as a whole: the daemon, the keyring, the
// cache lock and the authority included.
const Limit = 8 * time.Second

// cacheReserve is what the daemon's answer leaves of Limit for the cache,
// should the daemon take the request and not answer it.
const cacheReserve = 3 * time.Second

// innerMargin is how much earlier than Limit the cache's work is told to
// stop, so that its own (better) error usually arrives first.
const innerMargin = 500 * time.Millisecond

// Source is the token cache's client for the profile (an *auth.Client).
type Source interface {
	Token(ctx context.Context, minValidity time.Duration) (token.Token, error)
}

// Options say where a token may come from.
type Options struct {
	// Profile is the profile ("" = the only one).
	Profile string
	// MinValidity is how long the token must still be valid.
	MinValidity time.Duration
	// Daemon returns a client of the running daemon, or nil when none
	// runs or it did not answer (nil func: never ask one).
	Daemon func(ctx context.Context) *localapi.Client
	// Cache opens the profile's client over the token cache (required).
	Cache func(ctx context.Context) (Source, error)
	// Notice is told when a daemon took the request but did not answer in
	// time, before the cache is asked (nil: nobody is told).
	Notice func(err error)
	// Server and ServerURL name the MCP server that asks (Claude Code's
	// CLAUDE_CODE_MCP_SERVER_NAME and _URL), for Headers: when the same
	// server asks again at once for the token it was just given, it was
	// refused and is replaced (by the daemon, or with Asks from the
	// cache). "" = not said.
	Server, ServerURL string
	// Asks remembers what each server was given, for the cache's answer
	// (nil: never replaced there).
	Asks *reask.Memo

	replace func(ctx context.Context, src Source, tok token.Token) token.Token
}

// Refresher is a Source that can redeem the refresh token now (an
// *auth.Client), to replace a token a server refused.
type Refresher interface {
	Refresh(ctx context.Context) (token.Token, error)
}

// Token returns a token with at least MinValidity left. An answer of the
// daemon (a token, or an error such as sign-in required) is final; a
// daemon that does not answer within its share of Limit is left for the
// cache.
func Token(ctx context.Context, o Options) (token.Token, error) {
	ctx, cancel := context.WithTimeout(ctx, Limit)
	defer cancel()
	if c := daemon(ctx, o); c != nil {
		defer c.Close()
		start := time.Now()
		dctx, dcancel := daemonShare(ctx)
		tok, err := c.Token(dctx, o.Profile, o.MinValidity)
		timedOut := dctx.Err() != nil && ctx.Err() == nil
		dcancel()
		if !errors.Is(err, localapi.ErrNoDaemon) {
			return tok, err
		}
		if timedOut {
			notice(o, c, start)
		}
	}
	return fromCache(ctx, o)
}

// Headers returns {"Authorization":"Bearer …"} and a newline, as Token
// does (the daemon's answer is checked by the client).
func Headers(ctx context.Context, o Options) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, Limit)
	defer cancel()
	if c := daemon(ctx, o); c != nil {
		defer c.Close()
		start := time.Now()
		dctx, dcancel := daemonShare(ctx)
		b, err := c.HeadersFor(dctx, o.Profile, o.Server, o.ServerURL, o.MinValidity)
		timedOut := dctx.Err() != nil && ctx.Err() == nil
		dcancel()
		if !errors.Is(err, localapi.ErrNoDaemon) {
			return b, err
		}
		if timedOut {
			notice(o, c, start)
		}
	}
	tok, err := fromCache(ctx, withReplace(o))
	if err != nil {
		return nil, err
	}
	b, err := json.Marshal(map[string]string{"Authorization": "Bearer " + tok.Value.Reveal()})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

func daemon(ctx context.Context, o Options) *localapi.Client {
	if o.Daemon == nil {
		return nil
	}
	return o.Daemon(ctx)
}

// daemonShare is ctx shortened to leave cacheReserve for the cache.
func daemonShare(ctx context.Context) (context.Context, context.CancelFunc) {
	d, ok := ctx.Deadline()
	if !ok {
		return context.WithCancel(ctx)
	}
	return context.WithDeadline(ctx, d.Add(-cacheReserve))
}

// notice tells o.Notice that the daemon took the request at start and
// did not answer it.
func notice(o Options, c *localapi.Client, start time.Time) {
	if o.Notice == nil {
		return
	}
	o.Notice(&localapi.NotAnsweringError{PID: c.PID(), Within: time.Since(start).Round(100 * time.Millisecond)})
}

// fromCache asks the token cache. Whatever blocks without honouring ctx (a
// keyring call that hangs), the answer comes by ctx's deadline: the
// process exits right after, and the stuck goroutine with it.
func fromCache(ctx context.Context, o Options) (token.Token, error) {
	type result struct {
		tok token.Token
		err error
	}
	inner := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		inner, cancel = context.WithDeadline(ctx, d.Add(-innerMargin))
		defer cancel()
	}
	done := make(chan result, 1)
	go func() {
		src, err := o.Cache(inner)
		if err != nil {
			done <- result{err: err}
			return
		}
		tok, err := src.Token(inner, o.MinValidity)
		if err == nil && o.replace != nil {
			tok = o.replace(inner, src, tok)
		}
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		return r.tok, r.err
	case <-ctx.Done():
		return token.Token{}, &auth.Error{Class: auth.ClassTemporary, Message: "no token within the time limit",
			Hint: "the keyring, the token cache lock or the authority did not answer; try again, or run `broker status`", Err: ctx.Err()}
	}
}

// withReplace sets o.replace when o names a server and has a memo: the
// daemon's TokenFor, for the cache's answer.
func withReplace(o Options) Options {
	if o.Server == "" || o.Asks == nil {
		return o
	}
	o.replace = func(ctx context.Context, src Source, tok token.Token) token.Token {
		r, ok := src.(Refresher)
		if !ok {
			return tok
		}
		key := reask.Key(o.Profile, o.Server, o.ServerURL)
		if !o.Asks.Ask(key, tok.Value.Reveal(), time.Now()) {
			return tok
		}
		fresh, err := r.Refresh(ctx)
		if err != nil || !fresh.ValidFor(time.Now(), o.MinValidity) {
			return tok // still valid: better than nothing
		}
		o.Asks.Given(key, fresh.Value.Reveal(), time.Now())
		return fresh
	}
	return o
}
