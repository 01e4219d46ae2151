package localapi

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// ErrNoDaemon is matched (errors.Is) by Dial's error when no daemon
// answers, and by a request's error when the daemon went away before it
// answered; an error answer from the daemon never matches it.
var ErrNoDaemon = errors.New("the broker daemon is not running")

// dialTimeout bounds connecting: a socket with nobody behind it fails at
// once; this only matters for a daemon too busy to accept.
const dialTimeout = 200 * time.Millisecond

// AnswerWithin is how long Dial waits for the daemon to answer its first
// request. A live daemon answers status at once (it never waits for the
// network to do so); one that is stopped (SIGSTOP), stuck, or accepts
// connections and never answers is given up on after this, so that
// `broker token` and `headers` still have time to answer from the token
// cache within their 8 s.
const AnswerWithin = 2 * time.Second

// NotAnsweringError is Dial's error when the daemon took the connection
// but did not answer within AnswerWithin. It matches ErrNoDaemon, so that
// callers do the work themselves.
type NotAnsweringError struct {
	PID     int // 0 when unknown
	Address string
	Within  time.Duration
}

func (e *NotAnsweringError) Error() string {
	who := "the broker daemon"
	if e.PID > 0 {
		who += fmt.Sprintf(" (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s did not answer within %s", who, e.Within)
}

// HintText says what to do about it.
func (e *NotAnsweringError) HintText() string {
	if e.PID > 0 {
		return fmt.Sprintf("it is stopped or stuck: `kill -CONT %d` if you stopped it, else end it (`kill %d`) and start `broker run` again", e.PID, e.PID)
	}
	return "it is stopped or stuck: end it and start `broker run` again"
}

// Is makes the error match ErrNoDaemon.
func (e *NotAnsweringError) Is(target error) bool { return target == ErrNoDaemon }

// Client talks to the daemon. It is safe for concurrent use.
type Client struct {
	hc   *http.Client
	addr string
	pid  int
}

// Dial connects to the running daemon of this user, found through the
// Record in the state folder (so the same daemon is found whatever the
// environment). It fails fast with an error matching ErrNoDaemon when
// none runs, and within AnswerWithin with a *NotAnsweringError when one
// does not answer.
func Dial(ctx context.Context) (*Client, error) {
	dir, err := paths.StateDir()
	if err != nil {
		return nil, err
	}
	r, err := ReadRecord(dir)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrNoDaemon, err)
	}
	return dialAddress(ctx, r.Address, r.PID)
}

// DialAddress is Dial for a given socket path (or pipe name). On Unix the
// socket's folder must be this user's alone and the process listening
// must run as this user; anything else is not our daemon.
func DialAddress(ctx context.Context, addr string) (*Client, error) {
	return dialAddress(ctx, addr, 0)
}

func dialAddress(ctx context.Context, addr string, pid int) (*Client, error) {
	dctx, cancel := context.WithTimeout(ctx, dialTimeout)
	defer cancel()
	conn, err := dial(dctx, addr)
	if err != nil {
		return nil, fmt.Errorf("%w (%s): %w", ErrNoDaemon, addr, err)
	}
	// The first request reuses the connection that proved the daemon is
	// there; later ones dial again.
	var once sync.Once
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var c net.Conn
			once.Do(func() { c = conn })
			if c != nil {
				return c, nil
			}
			return dial(ctx, addr)
		},
		MaxIdleConns:      2,
		IdleConnTimeout:   30 * time.Second,
		DisableKeepAlives: false,
	}
	c := &Client{hc: &http.Client{Transport: tr}, addr: addr, pid: pid}
	// A daemon that accepted may still never answer (stopped, stuck).
	pctx, cancel := context.WithTimeout(ctx, AnswerWithin)
	defer cancel()
	if _, err := c.do(pctx, http.MethodGet, "status", nil); err != nil {
		c.Close()
		if pctx.Err() != nil && ctx.Err() == nil {
			return nil, &NotAnsweringError{PID: pid, Address: addr, Within: AnswerWithin}
		}
		return nil, err
	}
	return c, nil
}

// PID returns the daemon's process ID from its record (0 when unknown).
func (c *Client) PID() int { return c.pid }

// Close closes idle connections.
func (c *Client) Close() error {
	c.hc.CloseIdleConnections()
	return nil
}

// do sends a request and returns the body of a 2xx answer, or the
// daemon's error (classified).
func (c *Client) do(ctx context.Context, method, path string, q url.Values) ([]byte, error) {
	return c.doBody(ctx, method, path, q, nil)
}

// doBody is do with a request body.
func (c *Client) doBody(ctx context.Context, method, path string, q url.Values, reqBody io.Reader) ([]byte, error) {
	u := "http://broker/v1/" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, reqBody)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		// The daemon went away (or hangs): callers fall back as if none ran.
		return nil, fmt.Errorf("asking the daemon: %w (%w)", err, ErrNoDaemon)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if resp.StatusCode/100 != 2 {
		return nil, decodeError(resp.StatusCode, body)
	}
	return body, nil
}

func query(profile string, minValidity time.Duration) url.Values {
	q := url.Values{}
	if profile != "" {
		q.Set("profile", profile)
	}
	if minValidity >= 0 {
		q.Set("min_validity", minValidity.String())
	}
	return q
}

// Token returns the profile's token ("" = the only profile) with at least
// minValidity left.
func (c *Client) Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	body, err := c.do(ctx, http.MethodGet, "token", query(profile, minValidity))
	if err != nil {
		return token.Token{}, err
	}
	return decodeToken(body)
}

// Challenge asks the daemon for a token that meets a server's claims
// challenge (the decoded JSON of its insufficient_claims); when that needs
// the user, the error is sign-in required and the daemon shows why.
func (c *Client) Challenge(ctx context.Context, profile, server, claims string) (token.Token, error) {
	q := url.Values{}
	if profile != "" {
		q.Set("profile", profile)
	}
	q.Set("server", server)
	body, err := c.doBody(ctx, http.MethodPost, "challenge", q, strings.NewReader(claims))
	if err != nil {
		return token.Token{}, err
	}
	return decodeToken(body)
}

// ScopeChallenge asks the daemon for a token with the scopes a server's
// insufficient_scope challenge names (beside the profile's); when that
// needs the user, the error is sign-in required and the daemon shows why.
func (c *Client) ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error) {
	q := url.Values{"scope": scopes}
	if profile != "" {
		q.Set("profile", profile)
	}
	q.Set("server", server)
	body, err := c.do(ctx, http.MethodPost, "scope-challenge", q)
	if err != nil {
		return token.Token{}, err
	}
	return decodeToken(body)
}

// decodeToken reads the daemon's token answer; only a JWT-shaped token
// is taken.
func decodeToken(body []byte) (token.Token, error) {
	var t tokenJSON
	if err := json.Unmarshal(body, &t); err != nil {
		return token.Token{}, fmt.Errorf("reading the daemon's answer: %w", err)
	}
	if !jwtShaped(t.AccessToken) {
		return token.Token{}, errBadAnswer
	}
	return token.Token{
		Value:     token.Secret(t.AccessToken),
		ExpiresOn: time.Unix(t.ExpiresOn, 0),
		Account:   t.Account,
		Tenant:    t.Tenant,
		Audience:  t.Audience,
		Scopes:    t.Scopes,
	}, nil
}

// Headers returns the JSON object {"Authorization":"Bearer …"} and a
// newline, ready to print (it holds the token: handle with care). Only
// what was checked is returned: an object of exactly that one string,
// whose value is "Bearer " and a JWT-shaped token; any other answer is
// an error, never printed.
func (c *Client) Headers(ctx context.Context, profile string, minValidity time.Duration) ([]byte, error) {
	return c.HeadersFor(ctx, profile, "", "", minValidity)
}

// HeadersFor is Headers for the helper of a named MCP server (Claude
// Code's CLAUDE_CODE_MCP_SERVER_NAME and _URL): a second ask of the same
// server at once gets a fresh token (see ServerTokener). With server ""
// it is Headers.
func (c *Client) HeadersFor(ctx context.Context, profile, server, serverURL string, minValidity time.Duration) ([]byte, error) {
	q := query(profile, minValidity)
	if server != "" {
		q.Set("server", server)
		if serverURL != "" {
			q.Set("server_url", serverURL)
		}
	}
	body, err := c.do(ctx, http.MethodGet, "headers", q)
	if err != nil {
		return nil, err
	}
	var h map[string]string
	if err := json.Unmarshal(body, &h); err != nil || len(h) != 1 {
		return nil, errBadAnswer
	}
	v, ok := strings.CutPrefix(h["Authorization"], "Bearer ")
	if !ok || !jwtShaped(v) {
		return nil, errBadAnswer
	}
	b, err := json.Marshal(map[string]string{"Authorization": "Bearer " + v})
	if err != nil {
		return nil, err
	}
	return append(b, '\n'), nil
}

// errBadAnswer is a token or headers answer that is not what a daemon
// sends.
var errBadAnswer = errors.New("the daemon's answer is not a token; not using it")

// jwtShaped reports whether s looks like a JWT: three dot-separated
// base64url parts, the first two not empty.
func jwtShaped(s string) bool {
	parts := strings.Split(s, ".")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" || len(s) > 64<<10 {
		return false
	}
	for _, p := range parts {
		for _, r := range p {
			if !(r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-' || r == '_') {
				return false
			}
		}
	}
	return true
}

// Status returns the daemon's status.
func (c *Client) Status(ctx context.Context) (state.Status, error) {
	var st state.Status
	body, err := c.do(ctx, http.MethodGet, "status", nil)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(body, &st); err != nil {
		return st, fmt.Errorf("reading the daemon's status: %w", err)
	}
	return st, nil
}

// SignIn asks the daemon to sign the profile in (it opens the browser;
// concurrent requests share one sign-in). It blocks until done.
func (c *Client) SignIn(ctx context.Context, profile string) error {
	_, err := c.do(ctx, http.MethodPost, "sign-in", query(profile, -1))
	return err
}

// SignOut asks the daemon to sign the profile out and scrub its targets.
func (c *Client) SignOut(ctx context.Context, profile string) error {
	_, err := c.do(ctx, http.MethodPost, "sign-out", query(profile, -1))
	return err
}

// RefreshNow asks the daemon to redeem the refresh token now.
func (c *Client) RefreshNow(ctx context.Context, profile string) error {
	_, err := c.do(ctx, http.MethodPost, "refresh", query(profile, -1))
	return err
}

// Sync asks the daemon to write every target of the profile ("" = all)
// now; the error names the targets that failed.
func (c *Client) Sync(ctx context.Context, profile string) error {
	_, err := c.do(ctx, http.MethodPost, "sync", query(profile, -1))
	return err
}

// Reload asks the daemon to read the config file again and waits until it
// uses it; the error says why it cannot (a *config.Error).
func (c *Client) Reload(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "reload", nil)
	return err
}

// CacheChanged tells the daemon that this process changed the token cache
// (a `broker login` done without the daemon).
func (c *Client) CacheChanged(ctx context.Context) error {
	_, err := c.do(ctx, http.MethodPost, "cache-changed", nil)
	return err
}

// Events streams the daemon's status: the current one first, then one
// after every change. The channel closes when ctx ends or the daemon goes
// away.
func (c *Client) Events(ctx context.Context) (<-chan state.Status, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://broker/v1/events", nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("asking the daemon: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		return nil, decodeError(resp.StatusCode, body)
	}
	ch := make(chan state.Status, 1)
	go func() {
		defer close(ch)
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), 4<<20)
		var data bytes.Buffer
		for sc.Scan() {
			line := sc.Text()
			switch {
			case strings.HasPrefix(line, "data:"):
				data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
			case line == "" && data.Len() > 0:
				var st state.Status
				if err := json.Unmarshal(data.Bytes(), &st); err == nil {
					// Keep only the latest when the reader is slow.
					select {
					case <-ch:
					default:
					}
					select {
					case ch <- st:
					case <-ctx.Done():
						return
					}
				}
				data.Reset()
			}
		}
	}()
	return ch, nil
}
