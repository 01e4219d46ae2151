// Package proxy is the daemon's loopback MCP proxy: every proxied target
// gets a URL on 127.0.0.1 (http://127.0.0.1:PORT/profile/client/server)
// and a local credential once, and the proxy forwards each request to the
// real server with the profile's current Entra token. The client's file
// then never changes on rotation and never holds an Entra token.
//
// Forwarding is Streamable HTTP both ways (POST answered with JSON or an
// event stream, the GET event stream, DELETE): bodies and streams pass
// through as they arrive, end-to-end headers (Mcp-Session-Id,
// MCP-Protocol-Version, Last-Event-ID, Mcp-Method, …) are kept, hop-by-hop
// headers, the local credential and the client's Origin are not sent
// upstream. A 401 from the server gets one forced refresh and one retry.
//
// A request is refused before anything goes upstream unless its Host is a
// loopback name, it carries no web page's Origin (DNS rebinding), on Linux
// the calling process belongs to this user, and it presents the target's
// local credential (compared in constant time). Nothing here logs a token
// or a credential. The Server's methods are safe for concurrent use.
package proxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/challenge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// TokenSource is the daemon as the proxy uses it: the profile's current
// token, and a forced refresh. Errors are classified by auth.ClassOf.
type TokenSource interface {
	Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error)
	RefreshNow(ctx context.Context, profile string) error
}

// Challenger is a TokenSource that meets a server's claims challenge
// (*daemon.Daemon): a 401 with error="insufficient_claims" (Conditional
// Access, CAE) gets a token with those claims instead of a plain refresh,
// or, when the user must act, makes the profile "sign-in required" naming
// the server.
type Challenger interface {
	Challenge(ctx context.Context, profile, server, claims string) (token.Token, error)
}

// ScopeChallenger is a TokenSource that meets a server's scope challenge
// (*daemon.Daemon): a 403 with error="insufficient_scope" gets a token for
// the profile's scopes and the challenge's, or, when the user must
// consent, makes the profile "sign-in required" naming the server and the
// scope.
type ScopeChallenger interface {
	ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error)
}

// MaxRetryBody is the largest request body kept for the retry after a
// 401 (JSON-RPC messages are small); a larger one streams through and a
// 401 to it goes to the client.
const MaxRetryBody = 1 << 20

// Options configure a Server.
type Options struct {
	// Tokens gives each profile's current token (required).
	Tokens TokenSource
	// Credentials are the targets' local credentials (required).
	Credentials *Credentials
	// Transport reaches the real servers. When nil, TransportFor gives
	// each target its own (the daemon: the system's roots plus the
	// profile's ca_file); when both are nil, one like
	// http.DefaultTransport.
	Transport    http.RoundTripper
	TransportFor func(t config.Target) (http.RoundTripper, error)
	// Logger receives refusals and upstream failures; never a secret.
	Logger *slog.Logger
	// Changed is told when Status changes in a way the tray shows (a
	// target starts or stops needing a sign-in, a new upstream error);
	// not for every request.
	Changed func()
	// Now is the clock for status times (default time.Now).
	Now func() time.Time
	// RelistenEvery is how often a taken port is tried again (default
	// 30 s).
	RelistenEvery time.Duration
}

// Server is the proxy.
type Server struct {
	o   Options
	log *slog.Logger
	rp  *httputil.ReverseProxy

	mu        sync.Mutex
	routes    map[string]*route // by id
	port      int
	srv       *http.Server // nil while not listening
	addr      string
	listenErr error
	closed    bool
	flights   map[string]*flight // forced refreshes in flight, by profile
}

// route is one proxied target and its counters.
type route struct {
	cfg      config.Target
	id       string
	upstream *url.URL
	// rt reaches the server; rtErr says why there is none (a ca_file
	// that cannot be read). Both are set by Configure, under Server.mu.
	rt    http.RoundTripper
	rtErr error

	requests atomic.Int64
	mu       sync.Mutex
	lastErr  string
	lastAt   time.Time
	signIn   bool
}

type flight struct {
	done chan struct{}
	err  error
}

// New makes a proxy that listens once Configure gives it targets.
func New(o Options) *Server {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Transport == nil && o.TransportFor == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
		o.Transport = t
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.RelistenEvery <= 0 {
		o.RelistenEvery = 30 * time.Second
	}
	s := &Server{o: o, log: o.Logger.With("component", "proxy"), routes: map[string]*route{}, flights: map[string]*flight{}}
	s.rp = &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      retrying{s},
		FlushInterval:  -1, // every write of an event stream goes out at once
		ModifyResponse: s.observe,
		ErrorHandler:   s.upstreamError,
		ErrorLog:       slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
	}
	return s
}

// DefaultPort is the proxy's port when [settings] proxy_port is not set:
// fixed per user (17000 + uid % 1000), so that two users of one machine
// do not collide.
func DefaultPort() int {
	if uid := os.Getuid(); uid >= 0 {
		return 17000 + uid%1000
	}
	return 17000
}

// Port is the configured port or the default.
func Port(cfg *config.Config) int {
	if cfg != nil && cfg.Settings.ProxyPort != 0 {
		return cfg.Settings.ProxyPort
	}
	return DefaultPort()
}

// Endpoints give proxied targets their loopback URL and local credential
// (what integrations needs to write a client's entry).
type Endpoints struct {
	Credentials *Credentials
	// Port is the proxy's port (read at each call: a reload may change it).
	Port func() int
}

// Endpoint returns t's loopback URL and local credential, making the
// credential on first use.
func (e Endpoints) Endpoint(t config.Target) (string, string, error) {
	c, err := e.Credentials.Ensure(ID(t))
	if err != nil {
		return "", "", err
	}
	return URL(e.Port(), t), c, nil
}

// Revoke forgets t's local credential.
func (e Endpoints) Revoke(t config.Target) error { return e.Credentials.Revoke(ID(t)) }

// Configure sets the proxied targets (each with Profile and URL, the real
// server) and the port. The proxy listens while it has targets; a new port
// moves it. A port it cannot take shows in Status and the log.
func (s *Server) Configure(port int, targets []config.Target) {
	next := map[string]*route{}
	var idle []http.RoundTripper // transports of the routes before, to let go
	s.mu.Lock()
	for _, t := range targets {
		id := ID(t)
		r, ok := s.routes[id]
		if !ok || r.cfg.URL != t.URL {
			u, err := url.Parse(t.URL)
			if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
				s.log.Warn("proxied target has no usable url", "profile", t.Profile, "client", t.Client, "server", t.Server, "url", t.URL)
				continue
			}
			r = &route{cfg: t, id: id, upstream: u}
		} else if r.rt != nil {
			idle = append(idle, r.rt)
		}
		r.rt, r.rtErr = s.o.Transport, nil
		if r.rt == nil {
			// A config edit may have changed the profile's ca_file.
			r.rt, r.rtErr = s.o.TransportFor(t)
		}
		next[id] = r
	}
	for id, r := range s.routes {
		if next[id] == nil && r.rt != nil {
			idle = append(idle, r.rt)
		}
	}
	s.routes = next
	var old *http.Server
	listen := !s.closed && len(next) > 0 && (s.srv == nil || port != s.port)
	if listen && s.srv != nil {
		old, s.srv, s.addr = s.srv, nil, ""
	}
	s.port = port
	s.mu.Unlock()
	if old != nil {
		old.Close()
	}
	if s.o.Transport == nil {
		for _, rt := range idle {
			if c, ok := rt.(interface{ CloseIdleConnections() }); ok {
				c.CloseIdleConnections()
			}
		}
	}
	if listen {
		s.listen(port)
	}
	s.changed()
}

// listen opens 127.0.0.1:port and serves on it.
func (s *Server) listen(port int) {
	l, err := Listen(port)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.srv != nil && s.port == port {
		// Another call (Configure, the retry) got there first.
		if l != nil {
			l.Close()
		}
		return
	}
	s.listenErr = err
	if err != nil {
		s.log.Error("proxy cannot listen", "port", port, "err", err, "hint", hintOf(err))
		return
	}
	if s.closed {
		l.Close()
		return
	}
	srv := &http.Server{
		Handler:           s,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		ConnContext: func(ctx context.Context, c net.Conn) context.Context {
			return context.WithValue(ctx, connKey{}, &peer{conn: c})
		},
	}
	s.srv, s.addr = srv, l.Addr().String()
	s.log.Info("proxy listening", "address", s.addr, "targets", len(s.routes))
	go func() {
		if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("proxy stopped serving", "err", err)
		}
	}()
}

// Listen opens the proxy's socket on 127.0.0.1 (never another interface).
// A taken port is an error that names it and the setting.
func Listen(port int) (net.Listener, error) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	l, err := net.Listen("tcp", addr)
	if err == nil {
		return l, nil
	}
	if errors.Is(err, syscall.EADDRINUSE) || isAddrInUse(err) {
		return nil, &Error{
			Message: fmt.Sprintf("port %d on 127.0.0.1 is taken by another program", port),
			Hint:    "set [settings] proxy_port in config.toml to a free port, then run `broker sync`",
			Err:     err,
		}
	}
	return nil, fmt.Errorf("listening on %s: %w", addr, err)
}

// isAddrInUse catches Windows' WSAEADDRINUSE, which is not EADDRINUSE.
func isAddrInUse(err error) bool {
	return runtime.GOOS == "windows" && strings.Contains(err.Error(), "Only one usage of each socket address")
}

// Error is a proxy problem with a hint.
type Error struct {
	Message, Hint string
	Err           error
}

func (e *Error) Error() string    { return e.Message }
func (e *Error) Unwrap() error    { return e.Err }
func (e *Error) HintText() string { return e.Hint }

func hintOf(err error) string {
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		return h.HintText()
	}
	return ""
}

// Run serves until ctx ends, then closes the socket and every open stream.
// While the port is taken, it tries again every Options.RelistenEvery.
func (s *Server) Run(ctx context.Context) error {
	tick := time.NewTicker(s.o.RelistenEvery)
	defer tick.Stop()
	for done := false; !done; {
		select {
		case <-ctx.Done():
			done = true
		case <-tick.C:
			s.mu.Lock()
			retry := s.srv == nil && len(s.routes) > 0 && s.listenErr != nil && !s.closed
			port := s.port
			s.mu.Unlock()
			if retry {
				s.listen(port)
				s.changed()
			}
		}
	}
	s.mu.Lock()
	s.closed = true
	srv := s.srv
	s.srv, s.addr = nil, ""
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
	}
	return nil
}

// Addr is where the proxy listens ("" when it does not).
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.addr
}

// Status is the proxy's state; nil when it has no targets and does not
// listen. It never blocks on I/O.
func (s *Server) Status() *state.Proxy {
	s.mu.Lock()
	if len(s.routes) == 0 && s.srv == nil {
		s.mu.Unlock()
		return nil
	}
	st := &state.Proxy{Address: s.addr, Targets: []state.ProxyTarget{}}
	if s.listenErr != nil {
		st.Error = s.listenErr.Error()
		if h := hintOf(s.listenErr); h != "" {
			st.Error += " (" + h + ")"
		}
	}
	port := s.port
	if _, p, err := net.SplitHostPort(s.addr); err == nil {
		port, _ = strconv.Atoi(p) // port 0 asks for any free port (tests)
	}
	rs := make([]*route, 0, len(s.routes))
	for _, r := range s.routes {
		rs = append(rs, r)
	}
	s.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].id < rs[j].id })
	for _, r := range rs {
		pt := state.ProxyTarget{Profile: r.cfg.Profile, Client: r.cfg.Client, Server: r.cfg.Server,
			URL: URL(port, r.cfg), Upstream: r.cfg.URL, Requests: r.requests.Load()}
		r.mu.Lock()
		pt.LastError, pt.SignInRequired = r.lastErr, r.signIn
		if !r.lastAt.IsZero() {
			at := r.lastAt
			pt.LastErrorAt = &at
		}
		r.mu.Unlock()
		st.Targets = append(st.Targets, pt)
	}
	return st
}

func (s *Server) changed() {
	if s.o.Changed != nil {
		s.o.Changed()
	}
}

// fail records an upstream failure on r.
func (s *Server) fail(r *route, msg string) {
	r.mu.Lock()
	r.lastErr, r.lastAt = msg, s.o.Now()
	r.mu.Unlock()
	s.changed()
}

// setSignIn records whether r's requests wait for a sign-in.
func (s *Server) setSignIn(r *route, on bool) {
	r.mu.Lock()
	was := r.signIn
	r.signIn = on
	r.mu.Unlock()
	if was != on {
		s.changed()
	}
}

type connKey struct{}

// peer is one accepted connection and, once looked up, whether its
// process belongs to this user.
type peer struct {
	conn net.Conn
	once sync.Once
	err  error
}

// check looks up the connection's owner once per connection.
func (p *peer) check() error {
	p.once.Do(func() {
		local, ok1 := p.conn.LocalAddr().(*net.TCPAddr)
		remote, ok2 := p.conn.RemoteAddr().(*net.TCPAddr)
		if !ok1 || !ok2 {
			return
		}
		uid, known, err := peerUID(local, remote)
		switch {
		case err != nil:
			p.err = fmt.Errorf("cannot tell which user is calling: %w", err)
		case known && uid != os.Getuid():
			p.err = fmt.Errorf("the calling process belongs to another user (uid %d)", uid)
		}
	})
	return p.err
}

// forward is what the handler hands the reverse proxy for one request.
type forward struct {
	r      *route
	suffix string
	tok    token.Token
	body   []byte // the request body kept for a retry (nil when none)
}

// challengeError is a server's challenge (claims, scope) that the broker
// could not meet: the client gets noToken's answer (a JSON-RPC error
// naming `broker login` and what the server asked for, or why the
// challenge cannot be met), not the server's 401 or 403, so that its
// session stays up for after the sign-in.
type challengeError struct {
	err error
	// asked says what the server asked for ("demo needs scope …"), ""
	// when the error says it already.
	asked string
}

func (e challengeError) Error() string { return e.err.Error() }
func (e challengeError) Unwrap() error { return e.err }

type forwardKey struct{}

// ServeHTTP checks a request and forwards it.
func (s *Server) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	if !loopbackHost(req.Host) {
		s.refuse(w, req, http.StatusForbidden, "host "+strconv.Quote(req.Host)+" is not the loopback address",
			"use the URL broker wrote (http://127.0.0.1:PORT/…)")
		return
	}
	if o := req.Header.Get("Origin"); webOrigin(o) {
		s.refuse(w, req, http.StatusForbidden, "requests from web pages are refused (origin "+strconv.Quote(o)+")", "")
		return
	}
	if p, ok := req.Context().Value(connKey{}).(*peer); ok {
		if err := p.check(); err != nil {
			s.refuse(w, req, http.StatusForbidden, err.Error(), "")
			return
		}
	}
	r, suffix := s.route(req.URL.EscapedPath())
	if r == nil {
		s.refuse(w, req, http.StatusNotFound, "no proxied server at "+req.URL.Path,
			"`broker status` lists the proxied servers and their URLs")
		return
	}
	if !s.o.Credentials.Match(r.id, localCredential(req)) {
		hint := "run `broker connect " + r.cfg.Client + " --server " + r.cfg.Server + " --mode proxy` again"
		if !s.o.Credentials.Known(r.id) {
			hint = "its credential was revoked (`broker logout`?): run `broker login`, or " + strings.TrimPrefix(hint, "run ")
		}
		s.refuse(w, req, http.StatusUnauthorized, "missing or wrong local credential for "+r.id, hint)
		return
	}
	body, err := keepBody(req)
	if err != nil {
		s.refuse(w, req, http.StatusBadRequest, "reading the request: "+err.Error(), "")
		return
	}
	s.mu.Lock()
	rtErr := r.rtErr
	s.mu.Unlock()
	if rtErr != nil {
		s.fail(r, rtErr.Error())
		plain(w, http.StatusBadGateway, "cannot reach "+r.cfg.Server+": "+rtErr.Error(), hintOf(rtErr))
		return
	}
	tok, err := s.o.Tokens.Token(req.Context(), r.cfg.Profile, 0)
	if err != nil {
		s.noToken(w, req, r, body, err)
		return
	}
	s.setSignIn(r, false)
	r.requests.Add(1)
	ctx := context.WithValue(req.Context(), forwardKey{}, &forward{r: r, suffix: suffix, tok: tok, body: body})
	s.rp.ServeHTTP(w, req.WithContext(ctx))
}

// route finds the target whose id starts the path.
func (s *Server) route(path string) (*route, string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := strings.TrimPrefix(path, "/")
	// id is profile/client/server: the first three segments.
	parts := strings.SplitN(p, "/", 4)
	if len(parts) < 3 {
		return nil, ""
	}
	r := s.routes[strings.Join(parts[:3], "/")]
	if r == nil {
		return nil, ""
	}
	suffix := ""
	if len(parts) == 4 {
		suffix = "/" + parts[3]
	}
	return r, suffix
}

// localCredential is the credential the client presented: its bearer.
func localCredential(req *http.Request) string {
	scheme, v, ok := strings.Cut(req.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(v)
}

// loopbackHost reports whether a Host header names this machine's
// loopback interface (what a DNS-rebinding page cannot send).
func loopbackHost(host string) bool {
	h := host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		h = hh
	}
	h = strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")
	if strings.EqualFold(h, "localhost") {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// webOrigin reports whether an Origin header comes from a web page
// (http, https, or the opaque "null" of sandboxed and file pages). Apps
// that send their own scheme (vscode-file://, app://) are not web pages.
func webOrigin(o string) bool {
	if o == "" {
		return false
	}
	if o == "null" {
		return true
	}
	u, err := url.Parse(o)
	if err != nil {
		return true
	}
	return u.Scheme == "http" || u.Scheme == "https"
}

// refuse answers a request the proxy will not forward.
func (s *Server) refuse(w http.ResponseWriter, req *http.Request, status int, msg, hint string) {
	s.log.Warn("proxy refused a request", "method", req.Method, "path", req.URL.Path, "status", status, "reason", msg)
	plain(w, status, msg, hint)
}

func plain(w http.ResponseWriter, status int, msg, hint string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(status)
	fmt.Fprintf(w, "broker proxy: %s\n", msg)
	if hint != "" {
		fmt.Fprintf(w, "hint: %s\n", hint)
	}
}

// keepBody reads a request body of up to MaxRetryBody into memory, so that
// it can be sent again after a 401; a larger one streams (no retry).
func keepBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, MaxRetryBody+1))
	if err != nil {
		return nil, err
	}
	if len(buf) > MaxRetryBody {
		req.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}
		return nil, nil
	}
	req.Body.Close()
	req.ContentLength = int64(len(buf))
	req.Body = io.NopCloser(bytes.NewReader(buf))
	req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(buf)), nil }
	return buf, nil
}

// noToken answers when the profile has no token to send: a JSON-RPC error
// for a JSON-RPC request (what a client shows its user), else a plain 401
// (sign-in required) or 503.
func (s *Server) noToken(w http.ResponseWriter, req *http.Request, r *route, body []byte, err error) {
	signIn := auth.ClassOf(err) == auth.ClassSignInRequired
	login := "broker login"
	if r.cfg.Profile != "" {
		login += " --profile " + r.cfg.Profile
	}
	var msg, hint string
	status := http.StatusServiceUnavailable
	if signIn {
		s.setSignIn(r, true)
		status = http.StatusUnauthorized
		msg = "sign-in required for profile " + r.cfg.Profile + ": run `" + login + "`"
		var ce challengeError
		if errors.As(err, &ce) {
			why := ce.asked
			if why == "" {
				why = ce.err.Error()
			}
			msg = "sign-in required for profile " + r.cfg.Profile + " (" + why + "): run `" + login + "`"
		}
		hint = "run `" + login + "`; the proxy then forwards again with nothing to change in the client"
	} else {
		msg = "no token for profile " + r.cfg.Profile + " right now: " + err.Error()
		hint = "`broker status` shows why; the daemon retries by itself"
		var ce challengeError
		if errors.As(err, &ce) && auth.ClassOf(err) != auth.ClassTemporary {
			msg = "no token for " + r.cfg.Server + ": " + err.Error()
			if h := hintOf(err); h != "" {
				hint = h
			}
		}
		s.fail(r, msg)
	}
	s.log.Warn("proxy has no token to forward with", "profile", r.cfg.Profile, "server", r.cfg.Server, "err", err)
	if id, ok := requestID(body); ok && req.Method == http.MethodPost {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"jsonrpc": "2.0", "id": id,
			"error": map[string]any{"code": -32000, "message": "broker: " + msg, "data": map[string]string{"hint": hint}},
		})
		return
	}
	plain(w, status, msg, hint)
}

// requestID returns the id of a JSON-RPC request.
func requestID(body []byte) (json.RawMessage, bool) {
	var m struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	if json.Unmarshal(body, &m) != nil || m.Method == "" || len(m.ID) == 0 || string(m.ID) == "null" {
		return nil, false
	}
	return m.ID, true
}

// rewrite points the request at the real server. ReverseProxy has
// already dropped the hop-by-hop and X-Forwarded headers.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	f := pr.In.Context().Value(forwardKey{}).(*forward)
	u := *f.r.upstream
	if f.suffix != "" {
		u.Path = strings.TrimSuffix(u.Path, "/") + f.suffix
		u.RawPath = ""
	}
	if pr.In.URL.RawQuery != "" {
		if u.RawQuery != "" {
			u.RawQuery += "&"
		}
		u.RawQuery += pr.In.URL.RawQuery
	}
	pr.Out.URL = &u
	pr.Out.Host = ""
	// The local credential stays here; the token is set by retrying. The
	// client's Origin means nothing to a remote server.
	pr.Out.Header.Del("Authorization")
	pr.Out.Header.Del("Origin")
}

// observe notes what the server answered.
func (s *Server) observe(resp *http.Response) error {
	f, ok := resp.Request.Context().Value(forwardKey{}).(*forward)
	if !ok {
		return nil
	}
	// A server without the GET stream answers 405 (the spec's way to say
	// so), and one that forgot a session 404: neither is a failure.
	benign := resp.StatusCode == http.StatusNotFound ||
		resp.StatusCode == http.StatusMethodNotAllowed && resp.Request.Method == http.MethodGet
	if resp.StatusCode >= 400 && !benign {
		msg := fmt.Sprintf("HTTP %d from the server", resp.StatusCode)
		if resp.StatusCode == http.StatusUnauthorized {
			msg = "the server refused a fresh token too (HTTP 401)"
			if c := resp.Header.Get("WWW-Authenticate"); c != "" {
				msg += ": " + c
			}
		}
		if scope, ok := challenge.InsufficientScope(resp.Header.Values("WWW-Authenticate")); ok && resp.StatusCode == http.StatusForbidden {
			msg = "the server needs scope " + scope + ", which the token does not carry (HTTP 403)"
		}
		s.fail(f.r, msg)
		s.log.Warn("server answered with an error", "server", f.r.cfg.Server, "status", resp.StatusCode)
	}
	return nil
}

// upstreamError answers when the server cannot be reached.
func (s *Server) upstreamError(w http.ResponseWriter, req *http.Request, err error) {
	f, _ := req.Context().Value(forwardKey{}).(*forward)
	if req.Context().Err() != nil {
		return // the client went away
	}
	var ce challengeError
	if f != nil && errors.As(err, &ce) {
		s.noToken(w, req, f.r, f.body, ce)
		return
	}
	msg := "cannot reach the server: " + err.Error()
	if f != nil {
		s.fail(f.r, msg)
		msg = "cannot reach " + f.r.cfg.Server + ": " + err.Error()
	}
	s.log.Warn("proxy cannot reach the server", "err", err)
	plain(w, http.StatusBadGateway, msg, "`broker doctor --probe` checks the server")
}

// retrying adds the token to each request and, when the server answers
// 401, refreshes once and sends the request again.
type retrying struct{ s *Server }

func (t retrying) RoundTrip(req *http.Request) (*http.Response, error) {
	f := req.Context().Value(forwardKey{}).(*forward)
	out := req.Clone(req.Context())
	out.Header.Set("Authorization", "Bearer "+f.tok.Value.Reveal())
	t.s.mu.Lock()
	base := f.r.rt
	t.s.mu.Unlock()
	resp, err := base.RoundTrip(out)
	if err == nil && resp.StatusCode == http.StatusForbidden {
		return t.stepUp(req, resp, base, f)
	}
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	if req.Body != nil && req.GetBody == nil {
		return resp, nil // too large to send again
	}
	var fresh token.Token
	var ferr error
	claims, isClaims := challenge.Claims(resp.Header.Values("WWW-Authenticate"))
	if c, ok := t.s.o.Tokens.(Challenger); ok && isClaims {
		t.s.log.Info("server sent a claims challenge", "server", f.r.cfg.Server)
		fresh, ferr = c.Challenge(context.WithoutCancel(req.Context()), f.r.cfg.Profile, f.r.cfg.Server, claims)
	} else {
		fresh, ferr = t.s.refresh(req.Context(), f.r.cfg.Profile, f.tok)
	}
	if ferr != nil {
		t.s.log.Warn("server refused the token and no fresh one could be had", "server", f.r.cfg.Server, "err", ferr)
		if isClaims && auth.ClassOf(ferr) == auth.ClassSignInRequired {
			io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
			resp.Body.Close()
			return nil, challengeError{err: ferr}
		}
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	t.s.log.Info("server refused the token; refreshed it and sent the request again", "server", f.r.cfg.Server)
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	again.Header.Set("Authorization", "Bearer "+fresh.Value.Reveal())
	f.tok = fresh
	return base.RoundTrip(again)
}

// stepUp answers a 403 with error="insufficient_scope" (the MCP spec's
// scope challenge): a token for the profile's scopes and the challenge's,
// and the request sent once more. Any other 403 goes to the client.
func (t retrying) stepUp(req *http.Request, resp *http.Response, base http.RoundTripper, f *forward) (*http.Response, error) {
	scope, ok := challenge.InsufficientScope(resp.Header.Values("WWW-Authenticate"))
	c, can := t.s.o.Tokens.(ScopeChallenger)
	if !ok || !can || scope == "" || (req.Body != nil && req.GetBody == nil) {
		return resp, nil
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	server := f.r.cfg.Server
	t.s.log.Info("server sent a scope challenge", "server", server, "scopes", scope)
	fresh, err := c.ScopeChallenge(context.WithoutCancel(req.Context()), f.r.cfg.Profile, server, strings.Fields(scope))
	if err != nil {
		t.s.log.Warn("server asked for a scope and no token with it could be had", "server", server, "err", err)
		return nil, challengeError{err: err, asked: server + " needs scope " + scope}
	}
	again := req.Clone(req.Context())
	if req.GetBody != nil {
		if again.Body, err = req.GetBody(); err != nil {
			return nil, err
		}
	}
	again.Header.Set("Authorization", "Bearer "+fresh.Value.Reveal())
	f.tok = fresh
	t.s.log.Info("got a token with the scopes the server asked for and sent the request again", "server", server)
	return base.RoundTrip(again)
}

// refresh returns a token other than used: the current one when another
// request has refreshed already, else one forced refresh (shared by the
// requests that wait for it).
func (s *Server) refresh(ctx context.Context, profile string, used token.Token) (token.Token, error) {
	if cur, err := s.o.Tokens.Token(ctx, profile, 0); err == nil && cur.Value != used.Value {
		return cur, nil
	}
	s.mu.Lock()
	fl := s.flights[profile]
	if fl == nil {
		fl = &flight{done: make(chan struct{})}
		s.flights[profile] = fl
		s.mu.Unlock()
		fl.err = s.o.Tokens.RefreshNow(context.WithoutCancel(ctx), profile)
		s.mu.Lock()
		delete(s.flights, profile)
		s.mu.Unlock()
		close(fl.done)
	} else {
		s.mu.Unlock()
		select {
		case <-fl.done:
		case <-ctx.Done():
			return token.Token{}, ctx.Err()
		}
	}
	if fl.err != nil {
		return token.Token{}, fl.err
	}
	return s.o.Tokens.Token(ctx, profile, 0)
}

// Targets are the config's proxied targets (mode proxy), each with its
// profile's name.
func Targets(cfg *config.Config) []config.Target {
	var out []config.Target
	for _, name := range cfg.ProfileNames() {
		for _, t := range cfg.Profiles[name].Targets {
			if t.Mode == "proxy" {
				t.Profile = name
				out = append(out, t)
			}
		}
	}
	return out
}
