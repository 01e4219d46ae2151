package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// source is a TokenSource the test controls: Token returns the current
// token (or err), Refresh switches to the next one.
type source struct {
	mu           sync.Mutex
	cur          token.Token
	next         token.Token
	err          error
	tokenCalls   int
	refreshCalls int
}

func (s *source) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tokenCalls++
	if s.err != nil {
		return token.Token{}, s.err
	}
	return s.cur, nil
}

func (s *source) Refresh(ctx context.Context) (token.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshCalls++
	if s.err != nil {
		return token.Token{}, s.err
	}
	s.cur = s.next
	return s.cur, nil
}

func (s *source) set(t token.Token) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = t
}

func (s *source) counts() (tokens, refreshes int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenCalls, s.refreshCalls
}

// mint returns a simulator token with lifetime d (negative: expired).
// mint issues a token valid for d; its ExpiresOn is the token's own exp
// (a clock read here could be a second past the simulator's).
func mint(sim *entrasim.Server, d time.Duration) token.Token {
	v := sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: d})
	c, err := token.ParseClaims(v)
	if err != nil {
		panic(err)
	}
	return token.Token{Value: token.Secret(v), ExpiresOn: time.Unix(c.Exp, 0), Audience: sim.APIAudience()}
}

// recorder records the headers of every request the bridge sends.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	reqs []recorded
}

type recorded struct {
	method, protocolVersion, sessionID string
	bearer                             bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, recorded{
		method:          req.Method,
		protocolVersion: req.Header.Get("MCP-Protocol-Version"),
		sessionID:       req.Header.Get("Mcp-Session-Id"),
		bearer:          strings.HasPrefix(req.Header.Get("Authorization"), "Bearer ey"),
	})
	r.mu.Unlock()
	return r.base.RoundTrip(req)
}

func (r *recorder) all() []recorded {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]recorded(nil), r.reqs...)
}

// harness runs one bridge in-process over pipes.
type harness struct {
	t      *testing.T
	sim    *entrasim.Server
	src    *source
	rec    *recorder
	stdin  *io.PipeWriter
	stdout *io.PipeReader
	// written is every byte the bridge wrote to stdout.
	written *syncBuffer
	done    chan error
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type teeWriteCloser struct {
	w   io.WriteCloser
	tee io.Writer
}

func (t teeWriteCloser) Write(p []byte) (int, error) {
	t.tee.Write(p)
	return t.w.Write(p)
}
func (t teeWriteCloser) Close() error { return t.w.Close() }

func startSim(t testing.TB, sse bool) *entrasim.Server {
	t.Helper()
	sim, err := entrasim.Start(entrasim.Options{MCPSSE: sse})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

func newHarness(t *testing.T, sim *entrasim.Server, src *source, o bridge.Options) *harness {
	t.Helper()
	h := &harness{t: t, sim: sim, src: src, written: &syncBuffer{}, done: make(chan error, 1)}
	base := o.HTTPTransport
	if base == nil {
		base = sim.HTTPClient().Transport
	}
	h.rec = &recorder{base: base}
	if o.URL == "" {
		o.URL = sim.MCPURL()
	}
	o.Tokens = src
	o.HTTPTransport = h.rec
	o.Logger = testLogger(t)
	b, err := bridge.New(o)
	if err != nil {
		t.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	h.stdin, h.stdout = inW, outR
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go func() {
		h.done <- b.Run(ctx, inR, teeWriteCloser{outW, h.written})
		outW.Close()
	}()
	return h
}

// client connects the SDK's MCP client to the bridge's stdio.
func (h *harness) client() *mcp.ClientSession {
	h.t.Helper()
	c := mcp.NewClient(&mcp.Implementation{Name: "bridge-test", Version: "1"}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cs, err := c.Connect(ctx, &mcp.IOTransport{Reader: h.stdout, Writer: h.stdin}, nil)
	if err != nil {
		h.t.Fatalf("connecting through the bridge: %v", err)
	}
	return cs
}

// wait waits for Run to return after stdin closed.
func (h *harness) wait() error {
	h.t.Helper()
	select {
	case err := <-h.done:
		return err
	case <-time.After(10 * time.Second):
		h.t.Fatal("the bridge did not stop after stdin closed")
		return nil
	}
}

// checkStdout parses every line the bridge wrote as a JSON-RPC message.
func checkStdout(t *testing.T, out string) {
	t.Helper()
	if out == "" {
		t.Fatal("the bridge wrote nothing")
	}
	if !strings.HasSuffix(out, "\n") {
		t.Errorf("stdout does not end with a newline: %q", out[max(0, len(out)-80):])
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Method  string          `json:"method"`
			Params  json.RawMessage `json:"params"`
			Result  json.RawMessage `json:"result"`
			Error   json.RawMessage `json:"error"`
		}
		dec := json.NewDecoder(strings.NewReader(line))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&m); err != nil {
			t.Errorf("stdout line %d is not a JSON-RPC message: %v: %q", i+1, err, line)
			continue
		}
		if m.JSONRPC != "2.0" || (m.Method == "" && m.Result == nil && m.Error == nil) {
			t.Errorf("stdout line %d is not a JSON-RPC 2.0 message: %q", i+1, line)
		}
	}
}

func toolText(t *testing.T, res *mcp.CallToolResult) string {
	t.Helper()
	if res.IsError || len(res.Content) != 1 {
		t.Fatalf("tool result: %+v", res)
	}
	tc, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("tool content is %T", res.Content[0])
	}
	return tc.Text
}

// whoamiExp calls the whoami tool and returns the exp of the token the
// server saw.
func whoamiExp(t *testing.T, cs *mcp.ClientSession) string {
	t.Helper()
	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "whoami", Arguments: map[string]any{}})
	if err != nil {
		t.Fatalf("whoami through the bridge: %v", err)
	}
	var who struct{ UPN, Aud, Exp string }
	if err := json.Unmarshal([]byte(toolText(t, res)), &who); err != nil {
		t.Fatal(err)
	}
	return who.Exp
}

func TestSession(t *testing.T) {
	t.Parallel()
	for _, sse := range []bool{false, true} {
		name := "json"
		if sse {
			name = "sse"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, sse)
			src := &source{cur: mint(sim, time.Hour)}
			h := newHarness(t, sim, src, bridge.Options{})
			cs := h.client()
			if got := cs.InitializeResult().ServerInfo.Name; got != "entrasim-mcp" {
				t.Errorf("server name through the bridge = %q", got)
			}
			tools, err := cs.ListTools(context.Background(), nil)
			if err != nil {
				t.Fatalf("tools/list: %v", err)
			}
			var names []string
			for _, tool := range tools.Tools {
				names = append(names, tool.Name)
			}
			if strings.Join(names, ",") != "whoami,echo" {
				t.Errorf("tools = %v", names)
			}
			res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "héllo\nworld"}})
			if err != nil {
				t.Fatalf("tools/call: %v", err)
			}
			if got := toolText(t, res); got != "héllo\nworld" {
				t.Errorf("echo = %q", got)
			}
			// A method the SDK does not know is forwarded too.
			if err := cs.Ping(context.Background(), nil); err != nil {
				t.Errorf("ping: %v", err)
			}
			if err := cs.Close(); err != nil {
				t.Logf("closing the client: %v", err)
			}
			if err := h.wait(); err != nil {
				t.Errorf("Run after stdin closed = %v, want nil", err)
			}
			checkStdout(t, h.written.String())

			var session string
			var sawSSE, sawDelete bool
			for _, c := range sim.MCPCalls() {
				if !c.Authorized {
					t.Errorf("the server refused a request: %+v", c)
				}
				if c.Method == "initialize" {
					session = c.SessionID
				}
				sawSSE = sawSSE || c.SSE
				if c.HTTPMethod == http.MethodDelete {
					sawDelete = true
					if c.SessionID != session || c.Status != http.StatusNoContent {
						t.Errorf("DELETE: %+v, want session %s and 204", c, session)
					}
				}
			}
			if sawSSE != sse {
				t.Errorf("answers as event streams = %v, want %v", sawSSE, sse)
			}
			if !sawDelete {
				t.Error("the bridge did not end the remote session with DELETE")
			}
			// After initialize, every request carries the session and the
			// negotiated protocol version.
			withSession := 0
			for _, r := range h.rec.all() {
				if !r.bearer {
					t.Errorf("%s without a bearer token", r.method)
				}
				if r.sessionID == "" {
					continue // server/discover and initialize
				}
				withSession++
				if r.sessionID != session || r.protocolVersion != "2025-06-18" {
					t.Errorf("%s after initialize: session %q version %q, want %q and 2025-06-18", r.method, r.sessionID, r.protocolVersion, session)
				}
			}
			if withSession < 5 {
				t.Errorf("%d requests carried the session, want at least 5", withSession)
			}
		})
	}
}

func TestTokenRotationIsInvisible(t *testing.T) {
	t.Parallel()
	sim := startSim(t, false)
	a := mint(sim, 10*time.Minute)
	src := &source{cur: a}
	var mu sync.Mutex
	now := time.Now()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	h := newHarness(t, sim, src, bridge.Options{Now: clock})
	cs := h.client()
	expA := whoamiExp(t, cs)

	// The daemon rotates: the source now has B, and 9 minutes pass, so
	// A has less than the bridge's minimum validity left.
	b := mint(sim, 70*time.Minute)
	src.set(b)
	mu.Lock()
	now = now.Add(9 * time.Minute)
	mu.Unlock()
	expB := whoamiExp(t, cs)
	if expA == expB {
		t.Fatalf("the bridge kept sending the old token (exp %s) after the rotation", expA)
	}
	if want := b.ExpiresOn.UTC().Format(time.RFC3339); expB != want {
		t.Errorf("token after rotation expires %s, want the new one's %s", expB, want)
	}
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Errorf("tools/list after rotation: %v", err)
	}
	cs.Close()
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
	sessions := map[string]bool{}
	for _, c := range sim.MCPCalls() {
		if !c.Authorized {
			t.Errorf("refused: %+v", c)
		}
		if c.SessionID != "" {
			sessions[c.SessionID] = true
		}
	}
	if len(sessions) != 1 {
		t.Errorf("sessions = %v, want one session through the rotation", sessions)
	}
	checkStdout(t, h.written.String())
}

// rawSession drives the bridge line by line.
type rawSession struct {
	h  *harness
	sc *bufio.Scanner
}

func (h *harness) raw() *rawSession {
	sc := bufio.NewScanner(h.stdout)
	sc.Buffer(nil, 1<<20)
	return &rawSession{h: h, sc: sc}
}

func (r *rawSession) send(line string) {
	r.h.t.Helper()
	if _, err := io.WriteString(r.h.stdin, line+"\n"); err != nil {
		r.h.t.Fatal(err)
	}
}

type rpcAnswer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int             `json:"code"`
		Message string          `json:"message"`
		Data    json.RawMessage `json:"data"`
	} `json:"error"`
}

func (r *rawSession) recv() rpcAnswer {
	r.h.t.Helper()
	var a rpcAnswer
	line := r.recvLine()
	if err := json.Unmarshal(line, &a); err != nil {
		r.h.t.Fatalf("stdout line %q: %v", line, err)
	}
	return a
}

// recvLine returns the next line of stdout.
func (r *rawSession) recvLine() []byte {
	r.h.t.Helper()
	got := make(chan bool, 1)
	go func() { got <- r.sc.Scan() }()
	select {
	case ok := <-got:
		if !ok {
			r.h.t.Fatalf("stdout ended: %v", r.sc.Err())
		}
	case <-time.After(10 * time.Second):
		r.h.t.Fatal("no answer from the bridge")
	}
	return append([]byte(nil), r.sc.Bytes()...)
}

func (r *rawSession) close() error {
	r.h.stdin.Close()
	go io.Copy(io.Discard, r.h.stdout)
	return r.h.wait()
}

const initLine = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`

func TestExpiredTokenRetriedOnce(t *testing.T) {
	t.Parallel()
	t.Run("fresh token works", func(t *testing.T) {
		t.Parallel()
		sim := startSim(t, false)
		src := &source{cur: mint(sim, -time.Minute), next: mint(sim, time.Hour)}
		h := newHarness(t, sim, src, bridge.Options{})
		r := h.raw()
		r.send(initLine)
		if a := r.recv(); a.Error != nil || a.Result == nil {
			t.Fatalf("initialize with an expired token then a fresh one: %+v", a.Error)
		}
		r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		r.send(`{"jsonrpc":"2.0","id":"two","method":"tools/list"}`)
		if a := r.recv(); a.Error != nil || string(a.ID) != `"two"` {
			t.Fatalf("tools/list: %s %+v", a.ID, a.Error)
		}
		if err := r.close(); err != nil {
			t.Errorf("Run = %v", err)
		}
		var posts []string
		for _, c := range sim.MCPCalls() {
			if c.HTTPMethod == http.MethodPost {
				posts = append(posts, c.Method+":"+c.Reason)
			}
		}
		// The first POST is refused (the endpoint does not read the body
		// of a refused request, so its method is empty), then replayed
		// once with the fresh token.
		want := []string{":expired", "initialize:", "notifications/initialized:", "tools/list:"}
		if strings.Join(posts, " ") != strings.Join(want, " ") {
			t.Errorf("POSTs = %q, want %q", posts, want)
		}
		if _, refreshes := src.counts(); refreshes != 1 {
			t.Errorf("Refresh called %d times, want 1", refreshes)
		}
		checkStdout(t, h.written.String())
	})
	t.Run("exactly one retry", func(t *testing.T) {
		t.Parallel()
		sim := startSim(t, false)
		src := &source{cur: mint(sim, -time.Minute), next: mint(sim, -time.Minute)}
		h := newHarness(t, sim, src, bridge.Options{})
		r := h.raw()
		r.send(initLine)
		a := r.recv()
		if a.Error == nil || a.Error.Code != bridge.CodeUpstream || !strings.Contains(a.Error.Message, "401") {
			t.Fatalf("initialize with two refused tokens: %+v", a.Error)
		}
		if err := r.close(); err != nil {
			t.Errorf("Run = %v", err)
		}
		if n := len(sim.MCPCalls()); n != 2 {
			t.Errorf("requests = %d, want 2 (one try, one retry)", n)
		}
		if _, refreshes := src.counts(); refreshes != 1 {
			t.Errorf("Refresh called %d times, want 1", refreshes)
		}
		checkStdout(t, h.written.String())
	})
}

func TestSignInRequired(t *testing.T) {
	t.Parallel()
	sim := startSim(t, false)
	src := &source{err: &auth.Error{Class: auth.ClassSignInRequired, OAuthError: "invalid_grant", Message: "the refresh token was revoked"}}
	h := newHarness(t, sim, src, bridge.Options{SignInHint: "run `broker login --profile data` (or choose Sign in in the broker's tray menu)"})
	r := h.raw()
	r.send(initLine)
	a := r.recv()
	if a.Error == nil || a.Error.Code != bridge.CodeSignInRequired {
		t.Fatalf("initialize without sign-in: %+v", a)
	}
	for _, want := range []string{"sign-in required", "broker login --profile data", "tray"} {
		if !strings.Contains(a.Error.Message, want) {
			t.Errorf("message %q does not say %q", a.Error.Message, want)
		}
	}
	if !strings.Contains(string(a.Error.Data), `"reason":"sign_in_required"`) {
		t.Errorf("data = %s", a.Error.Data)
	}
	// Later requests get the same answer; the bridge keeps running.
	r.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if a := r.recv(); a.Error == nil || a.Error.Code != bridge.CodeSignInRequired || string(a.ID) != "2" {
		t.Fatalf("tools/list without sign-in: %+v", a)
	}
	if err := r.close(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := len(sim.MCPCalls()); n != 0 {
		t.Errorf("the bridge sent %d requests without a token", n)
	}
	checkStdout(t, h.written.String())
}

func TestUnreachableAtInitialize(t *testing.T) {
	t.Parallel()
	sim := startSim(t, false)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := "https://" + ln.Addr().String() + "/mcp"
	ln.Close()
	src := &source{cur: mint(sim, time.Hour)}
	h := newHarness(t, sim, src, bridge.Options{URL: dead})
	r := h.raw()
	r.send(initLine)
	a := r.recv()
	if a.Error == nil || a.Result != nil {
		t.Fatalf("initialize with the server down: %+v", a)
	}
	if !strings.Contains(a.Error.Message, "cannot reach the MCP server at "+dead) || !strings.Contains(a.Error.Message, "refused") {
		t.Errorf("message = %q", a.Error.Message)
	}
	if err := r.close(); err != nil {
		t.Errorf("Run = %v", err)
	}
	checkStdout(t, h.written.String())
}

func TestPipedRequestIsAnsweredBeforeExit(t *testing.T) {
	t.Parallel()
	sim := startSim(t, false)
	src := &source{cur: mint(sim, time.Hour)}
	h := newHarness(t, sim, src, bridge.Options{})
	// Like `echo '{…}' | broker bridge`: stdin closes right after.
	go func() {
		io.WriteString(h.stdin, initLine+"\n")
		h.stdin.Close()
	}()
	out, _ := io.ReadAll(h.stdout)
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if !bytes.Contains(out, []byte(`"serverInfo"`)) {
		t.Errorf("stdout = %q, want the initialize result", out)
	}
	checkStdout(t, string(out))
}

func TestNewChecksOptions(t *testing.T) {
	t.Parallel()
	for _, o := range []bridge.Options{
		{URL: "ftp://x/mcp", Tokens: &source{}},
		{URL: "not a url", Tokens: &source{}},
		{URL: "https://example.com/mcp"},
	} {
		if _, err := bridge.New(o); err == nil {
			t.Errorf("New(%+v) = nil error", o)
		}
	}
	var te *bridge.TokenError
	if errors.As(error(&bridge.TokenError{Err: auth.ErrSignInRequired}), &te) && !errors.Is(te, auth.ErrSignInRequired) {
		t.Error("TokenError does not unwrap")
	}
}

// TestSessionLostIsRecovered: the server forgets the session (a restart,
// an expiry); the bridge starts a new one with the client's initialize and
// the client goes on unaware.
func TestSessionLostIsRecovered(t *testing.T) {
	t.Parallel()
	sim := startSim(t, true)
	tok := mint(sim, time.Hour)
	src := &source{cur: tok}
	h := newHarness(t, sim, src, bridge.Options{})
	cs := h.client()
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	var first string
	for _, c := range sim.MCPCalls() {
		if c.Method == "initialize" {
			first = c.SessionID
		}
	}
	// The server forgets the session.
	req, _ := http.NewRequest(http.MethodDelete, sim.MCPURL(), nil)
	req.Header.Set("Authorization", "Bearer "+tok.Value.Reveal())
	req.Header.Set("Mcp-Session-Id", first)
	resp, err := sim.HTTPClient().Do(req)
	if err != nil || resp.StatusCode != http.StatusNoContent {
		t.Fatalf("deleting the session behind the bridge's back: %v %v", err, resp)
	}
	resp.Body.Close()

	res, err := cs.CallTool(context.Background(), &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": "still here"}})
	if err != nil {
		t.Fatalf("tools/call after the server lost the session: %v", err)
	}
	if got := toolText(t, res); got != "still here" {
		t.Errorf("echo = %q", got)
	}
	if _, err := cs.ListTools(context.Background(), nil); err != nil {
		t.Errorf("tools/list in the new session: %v", err)
	}
	cs.Close()
	if err := h.wait(); err != nil {
		t.Errorf("Run = %v", err)
	}
	checkStdout(t, h.written.String())
	if strings.Contains(h.written.String(), "broker-bridge-reinit") {
		t.Error("the bridge's own initialize answer reached the client")
	}
	var inits []string
	var lost int
	for _, c := range sim.MCPCalls() {
		if c.Method == "initialize" {
			inits = append(inits, c.SessionID)
		}
		if c.Status == http.StatusNotFound && c.HTTPMethod == http.MethodPost {
			lost++
		}
	}
	if len(inits) != 2 || inits[0] == inits[1] || lost != 1 {
		t.Errorf("initialize sessions %v and %d lost-session answers, want two sessions and one 404", inits, lost)
	}
}

func TestTokenUnavailable(t *testing.T) {
	t.Parallel()
	sim := startSim(t, false)
	src := &source{err: &auth.Error{Class: auth.ClassTemporary, Message: "cannot reach the authority", Hint: "check the network"}}
	h := newHarness(t, sim, src, bridge.Options{})
	r := h.raw()
	r.send(initLine)
	a := r.recv()
	if a.Error == nil || a.Error.Code != bridge.CodeNoToken {
		t.Fatalf("initialize without a token: %+v", a)
	}
	for _, want := range []string{"cannot get an access token", "cannot reach the authority", "check the network"} {
		if !strings.Contains(a.Error.Message, want) {
			t.Errorf("message %q does not say %q", a.Error.Message, want)
		}
	}
	if err := r.close(); err != nil {
		t.Errorf("Run = %v", err)
	}
	if n := len(sim.MCPCalls()); n != 0 {
		t.Errorf("the bridge sent %d requests without a token", n)
	}
}
