// Package bridge is `broker bridge`: a local stdio MCP server that forwards
// every JSON-RPC message, unchanged, to a remote MCP server over the
// Streamable HTTP transport, with the profile's current access token on
// every request. A client that reads its configuration once (Claude
// Desktop, Copilot CLI, Gemini CLI, a static header in Claude Code) starts
// the bridge instead of talking to the server, and never sees a token
// expire.
//
// The bridge is a message-level proxy built from the official MCP Go SDK's
// transports: the stdio side is mcp.IOTransport (newline-delimited
// JSON-RPC), the remote side mcp.StreamableClientTransport (POST with
// JSON or SSE answers, the session id, DELETE at the end) over an
// http.RoundTripper that adds the token and retries once after a 401. It
// does not use mcp.Client or mcp.Server: they would answer initialize
// themselves and forward only the methods the SDK knows, while a proxy of
// Connections forwards every method, both ways, including ones the SDK has
// never heard of. What the SDK's client connection does only for its own
// client session (the MCP-Protocol-Version header and the server-to-client
// GET stream) the bridge does itself. It also does what the spec asks of a
// client whose session the server lost (404): it starts a new session with
// the client's own initialize, which the stdio client cannot do since it
// never sees HTTP.
//
// Stdout carries only JSON-RPC messages; logs go to the given logger
// (stderr and the broker log).
package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
	"github.com/modelcontextprotocol/go-sdk/mcp"
)

// Defaults of Options.
const (
	// DefaultMinValidity is the least validity a token must have to be sent.
	DefaultMinValidity = 2 * time.Minute
	// DefaultReuseFor is how long a token from the source is reused before
	// the source is asked again (a rotation shows within that time).
	DefaultReuseFor = time.Minute
	// DefaultDrainTimeout is how long the bridge waits, after stdin
	// closed, for the answers to requests still in flight.
	DefaultDrainTimeout = 5 * time.Second
)

// JSON-RPC error codes of the bridge's own answers (the implementation
// defined server-error range).
const (
	// CodeSignInRequired: no token without the user; data.reason is
	// "sign_in_required".
	CodeSignInRequired = -32001
	// CodeUpstream: the MCP server could not be reached or refused the
	// request; data.reason says how.
	CodeUpstream = -32002
	// CodeNoToken: no token for another reason than sign-in (the authority
	// is unreachable, the profile is misconfigured); data.reason is
	// "token_unavailable".
	CodeNoToken = -32003
)

// Options configure a Bridge.
type Options struct {
	// URL is the remote MCP endpoint (https://…/mcp).
	URL string
	// Tokens gives the access token; required.
	Tokens TokenSource
	// HTTPTransport is the transport to the server; nil is the default
	// transport (system roots and SSL_CERT_FILE, proxy from the
	// environment). The bridge wraps it to add the token.
	HTTPTransport http.RoundTripper
	// Logger receives the bridge's events; nil discards them. Never stdout.
	Logger *slog.Logger
	// SignInHint is what the user should do when sign-in is required, for
	// the JSON-RPC error ("run `broker login --profile data` …").
	SignInHint string
	// Server names the remote server in what the user is told when it
	// asks for a sign-in (a Conditional Access claims challenge); "" is
	// the URL's host.
	Server string
	// MinValidity, ReuseFor and DrainTimeout: zero means the default.
	MinValidity  time.Duration
	ReuseFor     time.Duration
	DrainTimeout time.Duration
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Bridge forwards one stdio session to the remote server. Run it once.
type Bridge struct {
	url    string
	log    *slog.Logger
	bearer *bearer
	hint   string
	drain  time.Duration
	client *http.Client
}

// New checks the options and returns a bridge. It makes no network call
// and does not ask for a token, so that the bridge starts at once.
func New(o Options) (*Bridge, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("bridge: %q is not an http(s) URL", o.URL)
	}
	if o.Tokens == nil {
		return nil, errors.New("bridge: no token source")
	}
	b := &Bridge{url: o.URL, log: o.Logger, hint: o.SignInHint, drain: o.DrainTimeout}
	if b.log == nil {
		b.log = slog.New(slog.DiscardHandler)
	}
	if b.hint == "" {
		b.hint = "run `broker login` (or choose Sign in in the broker's tray menu)"
	}
	if b.drain == 0 {
		b.drain = DefaultDrainTimeout
	}
	base := o.HTTPTransport
	if base == nil {
		base = newBaseTransport()
	}
	server := o.Server
	if server == "" {
		server = u.Host
	}
	b.bearer = &bearer{
		base: base, src: o.Tokens, log: b.log, now: o.Now, server: server,
		minValidity: o.MinValidity, reuseFor: o.ReuseFor,
	}
	if b.bearer.now == nil {
		b.bearer.now = time.Now
	}
	if b.bearer.minValidity == 0 {
		b.bearer.minValidity = DefaultMinValidity
	}
	if b.bearer.reuseFor == 0 {
		b.bearer.reuseFor = DefaultReuseFor
	}
	b.client = &http.Client{Transport: b.bearer}
	return b, nil
}

// session is the state of one Run.
type session struct {
	b     *Bridge
	stdio mcp.Connection

	mu         sync.Mutex
	remote     mcp.Connection        // the current remote session
	gen        uint64                // increments when remote is replaced
	pending    map[jsonrpc.ID]string // client calls in flight: id → method
	initID     jsonrpc.ID
	initParams json.RawMessage // the client's initialize, replayed by recover
	listening  bool            // the server-to-client stream is wanted
	stopListen context.CancelFunc
	broken     error // set when the remote connection broke for good

	recoverMu sync.Mutex // one recovery at a time

	wg sync.WaitGroup // goroutines writing calls to the remote
	// callCtx bounds the client's calls: cancelled at the end, after the
	// drain time, so that a call the server never answers cannot hold the
	// bridge open.
	callCtx     context.Context
	cancelCalls context.CancelFunc
}

// Run forwards messages between in/out (the client's stdin and stdout) and
// the remote server until in ends (nil: the client closed stdin) or ctx is
// done. At the end it closes the remote session (DELETE when the server
// gave a session id). It blocks.
func (b *Bridge) Run(ctx context.Context, in io.ReadCloser, out io.WriteCloser) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stdio, err := (&mcp.IOTransport{Reader: in, Writer: out}).Connect(ctx)
	if err != nil {
		return fmt.Errorf("bridge: opening stdio: %w", err)
	}
	remote, err := b.connect(ctx)
	if err != nil {
		stdio.Close()
		return err
	}
	s := &session{b: b, stdio: stdio, remote: remote, pending: map[jsonrpc.ID]string{}}
	s.callCtx, s.cancelCalls = context.WithCancel(ctx)
	b.log.Info("bridge started", "url", b.url)

	upDone := make(chan struct{})
	go func() {
		defer close(upDone)
		s.upstream(ctx)
	}()

	runErr := s.downstream(ctx)
	if runErr == nil {
		s.drainPending(ctx)
	} else if ctx.Err() != nil {
		runErr = nil // stopped by a signal: a clean end
	}
	// Abandon the calls still in flight (their POSTs and event streams).
	s.cancelCalls()
	s.wg.Wait()
	if err := s.brokenErr(); err != nil {
		// The remote connection broke for good: a client cannot go on.
		runErr = err
	}
	remote, _ = s.conn()
	if err := remote.Close(); err != nil {
		b.log.Warn("bridge could not close the remote session", "error", err)
	}
	cancel()
	<-upDone
	stdio.Close()
	b.log.Info("bridge stopped", "requests", b.bearer.sent.Load(), "refreshes_after_401", b.bearer.refreshes.Load())
	return runErr
}

// connect makes a remote connection (no network call yet).
func (b *Bridge) connect(ctx context.Context) (mcp.Connection, error) {
	c, err := (&mcp.StreamableClientTransport{
		Endpoint:   b.url,
		HTTPClient: b.client,
		// The SDK opens it only for its own client session; the bridge
		// opens it itself after initialize (see listenLoop).
		DisableStandaloneSSE: true,
	}).Connect(ctx)
	if err != nil {
		return nil, fmt.Errorf("bridge: connecting to %s: %w", b.url, err)
	}
	return c, nil
}

// conn returns the current remote connection and its generation.
func (s *session) conn() (mcp.Connection, uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.remote, s.gen
}

func (s *session) brokenErr() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.broken
}

// downstream reads the client's messages and forwards them until stdin
// ends (nil) or fails.
func (s *session) downstream(ctx context.Context) error {
	for {
		msg, err := s.stdio.Read(ctx)
		if err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			if ctx.Err() != nil {
				return ctx.Err()
			}
			if !brokenStream(err) {
				// Valid JSON but no JSON-RPC message: skip it.
				s.b.log.Warn("bridge ignored a message from the client", "error", err)
				continue
			}
			s.b.log.Error("bridge stopped reading stdin: it is not newline-delimited JSON", "error", err)
			return fmt.Errorf("reading stdin: %w", err)
		}
		switch m := msg.(type) {
		case *jsonrpc.Request:
			if !m.IsCall() {
				if m.Method == "notifications/cancelled" {
					s.cancelled(m)
				}
				s.forward(ctx, m)
				continue
			}
			s.mu.Lock()
			s.pending[m.ID] = m.Method
			if m.Method == "initialize" {
				s.initID, s.initParams = m.ID, m.Params
			}
			s.mu.Unlock()
			if m.Method == "initialize" {
				// The answer's session id is needed by what follows.
				s.call(ctx, m)
				continue
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.call(ctx, m)
			}()
		case *jsonrpc.Response:
			s.forward(ctx, m)
		}
	}
}

// brokenStream reports whether a read error from the stdio connection
// ends the stream (the SDK's decoder stops at invalid JSON), as opposed to
// one message that was JSON but not JSON-RPC.
func brokenStream(err error) bool {
	var syntax *json.SyntaxError
	msg := err.Error()
	return errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) ||
		strings.Contains(msg, "trailing data") || strings.Contains(msg, "maximum line length")
}

// cancelled forgets a call the client gave up on: the server need not
// answer it, and the bridge must not wait for that answer at the end.
func (s *session) cancelled(n *jsonrpc.Request) {
	var p struct {
		RequestID any `json:"requestId"`
	}
	if json.Unmarshal(n.Params, &p) != nil {
		return
	}
	id, err := jsonrpc.MakeID(p.RequestID)
	if err != nil {
		return
	}
	s.mu.Lock()
	delete(s.pending, id)
	s.mu.Unlock()
}

// call posts a client request; a failure becomes the request's JSON-RPC
// error answer. The answer itself comes through upstream.
func (s *session) call(ctx context.Context, req *jsonrpc.Request) {
	err := s.write(s.callCtx, req)
	if err == nil {
		return
	}
	s.mu.Lock()
	_, ok := s.pending[req.ID]
	delete(s.pending, req.ID)
	s.mu.Unlock()
	if !ok || s.callCtx.Err() != nil {
		return
	}
	werr := s.b.rpcError(err)
	s.b.log.Warn("bridge answered a request with an error", "method", req.Method, "error", werr.Message)
	s.reply(ctx, &jsonrpc.Response{ID: req.ID, Error: werr})
}

// write posts msg on the current remote session. When the server has
// lost that session (404), it starts a new one and posts msg again.
func (s *session) write(ctx context.Context, msg jsonrpc.Message) error {
	conn, gen := s.conn()
	err := conn.Write(ctx, msg)
	var se *StatusError
	if err == nil || !errors.As(err, &se) || !se.SessionLost {
		return err
	}
	if req, ok := msg.(*jsonrpc.Request); ok && req.Method == "initialize" {
		return err
	}
	if rerr := s.recover(ctx, gen); rerr != nil {
		s.b.log.Warn("bridge could not start a new MCP session", "error", s.b.rpcError(rerr).Message)
		return err
	}
	conn, _ = s.conn()
	return conn.Write(ctx, msg)
}

// forward posts a notification or a response to a server request.
func (s *session) forward(ctx context.Context, msg jsonrpc.Message) {
	if err := s.write(ctx, msg); err != nil && ctx.Err() == nil {
		s.b.log.Warn("bridge could not forward a message", "error", s.b.rpcError(err).Message)
	}
}

func (s *session) reply(ctx context.Context, msg jsonrpc.Message) {
	if err := s.stdio.Write(ctx, msg); err != nil && ctx.Err() == nil {
		s.b.log.Warn("bridge could not write to stdout", "error", err)
	}
}

// upstream copies the server's messages to stdout until the remote
// connection ends.
func (s *session) upstream(ctx context.Context) {
	for {
		conn, gen := s.conn()
		msg, err := conn.Read(ctx)
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			if _, now := s.conn(); now != gen {
				continue // replaced by recover: read the new session
			}
			if errors.Is(err, io.EOF) {
				return
			}
			s.b.log.Error("bridge lost the MCP server", "error", err)
			s.mu.Lock()
			s.broken = fmt.Errorf("the connection to the MCP server broke: %w", err)
			s.mu.Unlock()
			s.failPending(ctx, err)
			// Unblock downstream: the client sees the server end.
			s.stdio.Close()
			return
		}
		if r, ok := msg.(*jsonrpc.Response); ok {
			s.mu.Lock()
			_, mine := s.pending[r.ID]
			delete(s.pending, r.ID)
			isInit := mine && s.initID.IsValid() && r.ID == s.initID
			s.mu.Unlock()
			if isInit && r.Error == nil {
				s.initialized(ctx, r)
			}
		}
		s.reply(ctx, msg)
	}
}

// initialized records the negotiated protocol version (sent as a header on
// every later request) and opens the server-to-client stream.
func (s *session) initialized(ctx context.Context, r *jsonrpc.Response) {
	var res struct {
		ProtocolVersion string `json:"protocolVersion"`
	}
	if err := json.Unmarshal(r.Result, &res); err != nil || res.ProtocolVersion == "" {
		return
	}
	s.b.bearer.setProtocolVersion(res.ProtocolVersion)
	conn, _ := s.conn()
	s.b.log.Info("bridge initialized", "protocol_version", res.ProtocolVersion, "session", conn.SessionID() != "")
	// Protocol 2026-07-28 (SEP-2575) has no standalone GET stream.
	if res.ProtocolVersion >= "2026-07-28" {
		return
	}
	s.mu.Lock()
	start := !s.listening
	s.listening = true
	s.mu.Unlock()
	if start {
		s.startListening(ctx)
	}
}

// startListening (re)opens the server-to-client stream of the current
// session, ending the previous one's.
func (s *session) startListening(ctx context.Context) {
	lctx, stop := context.WithCancel(ctx)
	s.mu.Lock()
	if s.stopListen != nil {
		s.stopListen()
	}
	s.stopListen = stop
	s.mu.Unlock()
	go s.listenLoop(lctx)
}

// reinitTimeout bounds the replayed initialize of a new session.
const reinitTimeout = 30 * time.Second

// recover replaces the remote session of generation gen, which the server
// no longer knows (it restarted, or expired the session): as the spec
// asks of a client that gets 404 for its session, the bridge starts a new
// one with the client's own initialize and notifications/initialized, so
// that the client, which cannot see HTTP, goes on unaware.
func (s *session) recover(ctx context.Context, gen uint64) error {
	s.recoverMu.Lock()
	defer s.recoverMu.Unlock()
	s.mu.Lock()
	params, now := s.initParams, s.gen
	s.mu.Unlock()
	if now != gen {
		return nil // another request already did
	}
	if params == nil {
		return errors.New("the client never initialized")
	}
	conn, err := s.b.connect(ctx)
	if err != nil {
		return err
	}
	rctx, cancel := context.WithTimeout(ctx, reinitTimeout)
	defer cancel()
	id, _ := jsonrpc.MakeID(fmt.Sprintf("broker-bridge-reinit-%d", gen+1))
	if err := conn.Write(rctx, &jsonrpc.Request{ID: id, Method: "initialize", Params: params}); err != nil {
		conn.Close()
		return err
	}
	for {
		msg, err := conn.Read(rctx)
		if err != nil {
			conn.Close()
			return err
		}
		if r, ok := msg.(*jsonrpc.Response); ok && r.ID == id {
			if r.Error != nil {
				conn.Close()
				return fmt.Errorf("the server refused the new session: %w", r.Error)
			}
			break
		}
		s.reply(ctx, msg) // whatever else the server says goes to the client
	}
	if err := conn.Write(rctx, &jsonrpc.Request{Method: "notifications/initialized"}); err != nil {
		conn.Close()
		return err
	}
	s.mu.Lock()
	old := s.remote
	s.remote = conn
	s.gen++
	listening := s.listening
	s.mu.Unlock()
	s.b.log.Info("bridge started a new MCP session: the server had lost the previous one")
	old.Close()
	if listening {
		s.startListening(ctx)
	}
	return nil
}

// failPending answers every call in flight with err.
func (s *session) failPending(ctx context.Context, err error) {
	s.mu.Lock()
	ids := make([]jsonrpc.ID, 0, len(s.pending))
	for id := range s.pending {
		ids = append(ids, id)
	}
	clear(s.pending)
	s.mu.Unlock()
	werr := s.b.rpcError(err)
	for _, id := range ids {
		s.reply(ctx, &jsonrpc.Response{ID: id, Error: werr})
	}
}

// drainPending waits, after stdin closed, until the calls in flight are
// answered (a client that pipes one request and closes stdin still gets
// its answer) or the drain time is over.
func (s *session) drainPending(ctx context.Context) {
	deadline := time.NewTimer(s.b.drain)
	defer deadline.Stop()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		s.mu.Lock()
		n := len(s.pending)
		s.mu.Unlock()
		if n == 0 {
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-deadline.C:
			s.b.log.Warn("bridge stopped with requests unanswered", "count", n)
			return
		case <-tick.C:
		}
	}
}
