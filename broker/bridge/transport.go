package bridge

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcp-token-broker/mcp-token-broker/broker/challenge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/logging"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// TokenSource gives the bridge the access token of its profile. It must be
// safe for concurrent use; the bridge serialises its own calls anyway.
type TokenSource interface {
	// Token returns a token with at least minValidity left, refreshing
	// first when needed. An error of class sign-in required
	// (auth.ErrSignInRequired) means the user must run `broker login`.
	Token(ctx context.Context, minValidity time.Duration) (token.Token, error)
	// Refresh returns a new token from the authority, whatever the cached
	// one's validity (after the MCP server rejected it).
	Refresh(ctx context.Context) (token.Token, error)
}

// Challenger is a TokenSource that can meet a server's claims challenge
// (a 401 with error="insufficient_claims": Conditional Access, CAE):
// claims is the decoded JSON, server names the server for the user.
type Challenger interface {
	Challenge(ctx context.Context, server, claims string) (token.Token, error)
}

// ScopeChallenger is a TokenSource that can meet a server's scope
// challenge (a 403 with error="insufficient_scope"): a token for the
// profile's scopes and these (auth.Client's), server names the server for
// the user.
type ScopeChallenger interface {
	ScopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error)
}

// Header names of the Streamable HTTP transport.
const (
	headerProtocolVersion = "MCP-Protocol-Version"
	headerSessionID       = "Mcp-Session-Id"
)

// TokenError is a failure to get a token from the token source; Err says
// why (errors.Is(err, auth.ErrSignInRequired) when the user must sign in).
type TokenError struct {
	Err error
	// Challenge is what the server's challenge asked for, when a
	// challenge led to the failure ("demo needs scope …").
	Challenge string
}

func (e *TokenError) Error() string { return "getting an access token: " + e.Err.Error() }

// Unwrap returns the source's error.
func (e *TokenError) Unwrap() error { return e.Err }

// UnauthorizedError is a 401 that a fresh token did not cure.
type UnauthorizedError struct {
	// Challenge is the server's WWW-Authenticate header.
	Challenge string
}

func (e *UnauthorizedError) Error() string {
	msg := "the MCP server rejected a freshly refreshed access token (401)"
	if d := challengeParam(e.Challenge, "error_description"); d != "" {
		msg += ": " + d
	} else if d := challengeParam(e.Challenge, "error"); d != "" {
		msg += ": " + d
	}
	return msg
}

// StatusError is an HTTP failure status from the MCP server for a POST.
type StatusError struct {
	Code   int
	Status string
	// Detail is the JSON-RPC error message or the start of the body.
	Detail string
	// SessionLost reports a 404 to a request that named a session: the
	// server no longer knows it.
	SessionLost bool
}

func (e *StatusError) Error() string {
	msg := "the MCP server answered " + e.Status
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// bearer is the http.RoundTripper under the SDK's Streamable HTTP client:
// it puts the current token on every request, answers a 401 by asking the
// token source for a fresh token once and replaying the request once, and
// adds the MCP-Protocol-Version header that the SDK only sends when its own
// client session (which a message-level proxy does not use) tells it the
// negotiated version.
//
// A failure status of a POST becomes an error (StatusError,
// UnauthorizedError, TokenError) instead of a response: the SDK treats such
// errors as the rejection of one message and keeps the session, where a raw
// 4xx response would end its connection for good.
type bearer struct {
	base        http.RoundTripper
	src         TokenSource
	minValidity time.Duration
	reuseFor    time.Duration
	now         func() time.Time
	log         *slog.Logger
	server      string // for the user, in a claims challenge

	protocolVersion atomic.Pointer[string]
	// posts and refreshes count requests sent and Refresh calls (tests and
	// the log's summary read them).
	sent      atomic.Int64
	refreshes atomic.Int64

	mu      sync.Mutex // serialises calls to src: one fetch at a time
	cur     token.Token
	fetched time.Time
	gen     uint64 // changes whenever cur does
}

// setProtocolVersion records the version negotiated by initialize.
func (b *bearer) setProtocolVersion(v string) { b.protocolVersion.Store(&v) }

// token returns the token to send and its generation. A token obtained less
// than reuseFor ago is reused while it keeps minValidity, so that the
// source (the daemon's socket, or the cache file) is asked at most about
// once a minute and a rotation is picked up within that time.
func (b *bearer) token(ctx context.Context) (token.Token, uint64, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	now := b.now()
	if b.cur.ValidFor(now, b.minValidity) && now.Sub(b.fetched) < b.reuseFor {
		return b.cur, b.gen, nil
	}
	t, err := b.src.Token(ctx, b.minValidity)
	if err != nil {
		return token.Token{}, 0, &TokenError{Err: err}
	}
	b.store(t, now)
	return b.cur, b.gen, nil
}

// refresh replaces the token of generation stale with a fresh one, unless
// another request already did.
func (b *bearer) refresh(ctx context.Context, stale uint64) (token.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.gen != stale && b.cur.Value != "" {
		return b.cur, nil
	}
	b.refreshes.Add(1)
	t, err := b.src.Refresh(ctx)
	if err != nil {
		b.cur = token.Token{}
		return token.Token{}, &TokenError{Err: err}
	}
	b.store(t, b.now())
	b.log.Info("bridge refreshed the token after a 401", "expires_on", t.ExpiresOn)
	return b.cur, nil
}

// challenge replaces the token with one that meets the server's claims
// (the source's Challenge; a plain refresh when it has none).
func (b *bearer) challenge(ctx context.Context, stale uint64, claims string) (token.Token, error) {
	c, ok := b.src.(Challenger)
	if !ok {
		return b.refresh(ctx, stale)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshes.Add(1)
	t, err := c.Challenge(ctx, b.server, claims)
	if err != nil {
		b.cur = token.Token{}
		return token.Token{}, &TokenError{Err: err}
	}
	b.store(t, b.now())
	b.log.Info("bridge got a token with the claims the server asked for", "expires_on", t.ExpiresOn)
	return b.cur, nil
}

// scopeChallenge replaces the token with one for the profile's scopes and
// those of the server's insufficient_scope challenge.
func (b *bearer) scopeChallenge(ctx context.Context, c ScopeChallenger, scopes []string) (token.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refreshes.Add(1)
	t, err := c.ScopeChallenge(ctx, b.server, scopes)
	if err != nil {
		b.cur = token.Token{}
		return token.Token{}, &TokenError{Err: err, Challenge: b.server + " needs scope " + strings.Join(scopes, " ")}
	}
	b.store(t, b.now())
	b.log.Info("bridge got a token with the scopes the server asked for", "scopes", strings.Join(scopes, " "), "expires_on", t.ExpiresOn)
	return b.cur, nil
}

func (b *bearer) store(t token.Token, now time.Time) {
	if t.Value != b.cur.Value {
		b.gen++
	}
	b.cur, b.fetched = t, now
}

// RoundTrip implements http.RoundTripper.
func (b *bearer) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	tok, gen, err := b.token(ctx)
	if err != nil {
		closeBody(req)
		return nil, err
	}
	resp, err := b.send(req, req.Body, tok)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized {
		discard(resp)
		body := req.Body
		if req.Body != nil && req.Body != http.NoBody {
			if req.GetBody == nil {
				return nil, errors.New("cannot replay the request after a 401: its body is not replayable")
			}
			if body, err = req.GetBody(); err != nil {
				return nil, fmt.Errorf("replaying the request after a 401: %w", err)
			}
		}
		if claims, ok := challenge.Claims(resp.Header.Values("WWW-Authenticate")); ok {
			b.log.Info("bridge got a claims challenge, retrying once with a token that meets it", "method", req.Method)
			tok, err = b.challenge(ctx, gen, claims)
		} else {
			b.log.Info("bridge got a 401, retrying once with a fresh token", "method", req.Method)
			tok, err = b.refresh(ctx, gen)
		}
		if err != nil {
			if body != nil {
				body.Close()
			}
			return nil, err
		}
		if resp, err = b.send(req, body, tok); err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized {
			challenge := resp.Header.Get("WWW-Authenticate")
			discard(resp)
			return nil, &UnauthorizedError{Challenge: challenge}
		}
	}
	if resp.StatusCode == http.StatusForbidden {
		if resp, err = b.stepUp(req, resp); err != nil {
			return nil, err
		}
	}
	if req.Method == http.MethodPost && (resp.StatusCode < 200 || resp.StatusCode > 299) {
		return nil, statusError(resp)
	}
	return resp, nil
}

// stepUp answers a 403 with error="insufficient_scope" (the MCP spec's
// scope challenge): a token for the profile's scopes and the challenge's,
// and the request sent once more. Any other 403 is returned as it is.
func (b *bearer) stepUp(req *http.Request, resp *http.Response) (*http.Response, error) {
	scope, ok := challenge.InsufficientScope(resp.Header.Values("WWW-Authenticate"))
	c, can := b.src.(ScopeChallenger)
	if !ok || !can || scope == "" {
		return resp, nil
	}
	body := req.Body
	if req.Body != nil && req.Body != http.NoBody {
		if req.GetBody == nil {
			return resp, nil
		}
		var err error
		if body, err = req.GetBody(); err != nil {
			return resp, nil
		}
	}
	discard(resp)
	scopes := strings.Fields(scope)
	b.log.Info("bridge got a scope challenge, retrying once with a token for the scopes it names", "method", req.Method, "scopes", scope)
	tok, err := b.scopeChallenge(req.Context(), c, scopes)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return nil, err
	}
	return b.send(req, body, tok)
}

// send sends a copy of req with body and tok; the caller's request is not
// modified (RoundTripper's contract).
func (b *bearer) send(req *http.Request, body io.ReadCloser, tok token.Token) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Body = body
	r.Header.Set("Authorization", "Bearer "+tok.Value.Reveal())
	if v := b.protocolVersion.Load(); v != nil && r.Header.Get(headerProtocolVersion) == "" {
		r.Header.Set(headerProtocolVersion, *v)
	}
	b.sent.Add(1)
	return b.base.RoundTrip(r)
}

func statusError(resp *http.Response) error {
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
	e := &StatusError{Code: resp.StatusCode, Status: resp.Status}
	if msg, err := jsonrpc.DecodeMessage(data); err == nil {
		if r, ok := msg.(*jsonrpc.Response); ok && r.Error != nil {
			e.Detail = r.Error.Error()
		}
	}
	if e.Detail == "" {
		e.Detail = strings.Join(strings.Fields(string(data)), " ")
	}
	// The server's words reach the client's screen: never a token in them.
	e.Detail = logging.Redact(e.Detail)
	if len(e.Detail) > 200 {
		e.Detail = e.Detail[:200] + "…"
	}
	if scope, ok := challenge.InsufficientScope(resp.Header.Values("WWW-Authenticate")); ok && resp.StatusCode == http.StatusForbidden {
		e.Detail = "insufficient_scope: the server needs scope " + scope + ", which the token does not carry"
	}
	if resp.StatusCode == http.StatusNotFound && resp.Request != nil && resp.Request.Header.Get(headerSessionID) != "" {
		e.SessionLost = true
		e.Detail = "the server no longer knows this MCP session"
	}
	return e
}

func discard(resp *http.Response) {
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// challengeParam returns a parameter of a WWW-Authenticate header
// (`Bearer error="invalid_token", error_description="..."`).
func challengeParam(h, name string) string {
	i := strings.Index(strings.ToLower(h), name+"=")
	if i < 0 {
		return ""
	}
	v := h[i+len(name)+1:]
	if strings.HasPrefix(v, `"`) {
		v = v[1:]
		if j := strings.IndexByte(v, '"'); j >= 0 {
			return v[:j]
		}
		return v
	}
	if j := strings.IndexAny(v, ", "); j >= 0 {
		v = v[:j]
	}
	return v
}

// newBaseTransport is the HTTP transport to the MCP server: the default
// one (proxy from the environment, system roots and SSL_CERT_FILE, HTTP/2)
// with a bounded dial so that an unreachable server fails fast.
func newBaseTransport() http.RoundTripper {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	return t
}
