package proxy_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// tokens stands in for the daemon: the current token is "tok1"; every
// forced refresh makes the next one ("tok2", …).
type tokens struct {
	mu        sync.Mutex
	n         int
	refreshes int
	err       error // returned by Token when set
}

func (s *tokens) Token(ctx context.Context, profile string, _ time.Duration) (token.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return token.Token{}, s.err
	}
	return token.Token{Value: token.Secret(fmt.Sprintf("tok%d", s.n+1)), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

func (s *tokens) RefreshNow(ctx context.Context, profile string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.refreshes++
	s.n++
	return nil
}

// upstream is the real server behind the proxy: it accepts the bearer
// tokens accept allows and records every request it got.
type upstream struct {
	srv    *httptest.Server
	mu     sync.Mutex
	seen   []*http.Request
	accept func(tok string) bool
}

func newUpstream(t testing.TB, h http.Handler, accept func(string) bool) *upstream {
	u := &upstream{accept: accept}
	u.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		u.seen = append(u.seen, r.Clone(context.Background()))
		u.mu.Unlock()
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !u.accept(tok) {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(u.srv.Close)
	return u
}

func (u *upstream) requests() []*http.Request {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]*http.Request(nil), u.seen...)
}

// sdkServer is an MCP server built with the Go SDK with a tool "echo".
func sdkServer(stateless bool) http.Handler {
	server := mcp.NewServer(&mcp.Implementation{Name: "sdk-server", Version: "1"}, nil)
	server.AddTool(&mcp.Tool{Name: "echo", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			var args struct{ Text string }
			json.Unmarshal(req.Params.Arguments, &args)
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: args.Text}}}, nil
		})
	return mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: stateless})
}

// harness is a proxy on a free loopback port with one target.
type harness struct {
	px   *proxy.Server
	url  string // the target's loopback URL
	cred string
	src  *tokens
	up   *upstream
}

func newHarness(t testing.TB, h http.Handler, accept func(string) bool) *harness {
	t.Helper()
	up := newUpstream(t, h, accept)
	creds := proxy.NewCredentials(t.TempDir())
	src := &tokens{}
	px := proxy.New(proxy.Options{Tokens: src, Credentials: creds})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); px.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	tc := config.Target{Profile: "data", Client: "copilot", Server: "api", URL: up.srv.URL + "/mcp", Mode: "proxy"}
	px.Configure(0, []config.Target{tc})
	if px.Addr() == "" {
		t.Fatalf("the proxy does not listen: %+v", px.Status())
	}
	cred, err := creds.Ensure(proxy.ID(tc))
	if err != nil {
		t.Fatal(err)
	}
	return &harness{px: px, url: "http://" + px.Addr() + "/" + proxy.ID(tc), cred: cred, src: src, up: up}
}

// client is an HTTP client that presents the local credential.
func (h *harness) client() *http.Client {
	return &http.Client{Transport: headerTransport{"Authorization": "Bearer " + h.cred}}
}

type headerTransport map[string]string

func (ht headerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	for k, v := range ht {
		r.Header.Set(k, v)
	}
	return http.DefaultTransport.RoundTrip(r)
}

func connect(t *testing.T, h *harness) *mcp.ClientSession {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	c := mcp.NewClient(&mcp.Implementation{Name: "proxy-test", Version: "1"}, nil)
	cs, err := c.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: h.url, HTTPClient: h.client()}, nil)
	if err != nil {
		t.Fatalf("initialize through the proxy: %v", err)
	}
	return cs
}

func callEcho(t *testing.T, cs *mcp.ClientSession, text string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "echo", Arguments: map[string]any{"text": text}})
	if err != nil {
		t.Fatalf("tools/call through the proxy: %v", err)
	}
	if len(res.Content) != 1 || res.Content[0].(*mcp.TextContent).Text != text {
		t.Fatalf("tools/call answered %+v", res.Content)
	}
}

// TestSDKClientThroughProxy: the Go SDK's client runs initialize,
// tools/list and tools/call through the proxy against the SDK's server,
// with a session (the GET stream and DELETE too) and without one (a
// stateless server of the 2026 spec issues no Mcp-Session-Id). Only the
// token reaches the server, never the local credential.
func TestSDKClientThroughProxy(t *testing.T) {
	for _, stateless := range []bool{false, true} {
		t.Run(fmt.Sprintf("stateless=%v", stateless), func(t *testing.T) {
			h := newHarness(t, sdkServer(stateless), func(tok string) bool { return tok == "tok1" })
			cs := connect(t, h)
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			tools, err := cs.ListTools(ctx, nil)
			if err != nil || len(tools.Tools) != 1 || tools.Tools[0].Name != "echo" {
				t.Fatalf("tools/list: %v %+v", err, tools)
			}
			callEcho(t, cs, "hello")
			sid := cs.ID()
			if err := cs.Close(); err != nil {
				t.Errorf("closing the session: %v", err)
			}
			var methods []string
			var sessionHeaders int
			for _, r := range h.up.requests() {
				methods = append(methods, r.Method)
				if r.Header.Get("Authorization") != "Bearer tok1" {
					t.Errorf("%s reached the server with Authorization %q", r.Method, r.Header.Get("Authorization"))
				}
				if strings.Contains(r.Header.Get("Authorization"), h.cred) {
					t.Errorf("the local credential went upstream")
				}
				if r.Header.Get("Mcp-Session-Id") != "" {
					sessionHeaders++
				}
			}
			if stateless {
				if sid != "" || sessionHeaders != 0 {
					t.Errorf("a stateless server: session id %q, %d requests with one", sid, sessionHeaders)
				}
				return
			}
			if sid == "" || sessionHeaders == 0 {
				t.Errorf("no Mcp-Session-Id passed through (id %q)", sid)
			}
			if !contains(methods, http.MethodGet) || !contains(methods, http.MethodDelete) {
				t.Errorf("the server saw %v; want the GET stream and DELETE too", methods)
			}
			st := h.px.Status()
			if len(st.Targets) != 1 || st.Targets[0].Requests < 4 || st.Targets[0].LastError != "" {
				t.Errorf("status %+v", st)
			}
		})
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// TestRefreshAndRetryOn401: the server refuses the first token; the proxy
// refreshes once and sends the same request again, so the client never
// sees the 401. Twice, as over two rotations. When the server refuses the
// fresh token too, its 401 reaches the client as it was.
func TestRefreshAndRetryOn401(t *testing.T) {
	var mu sync.Mutex
	good := "tok1"
	h := newHarness(t, sdkServer(false), func(tok string) bool { mu.Lock(); defer mu.Unlock(); return tok == good })
	cs := connect(t, h)
	for i, next := range []string{"tok2", "tok3"} {
		mu.Lock()
		good = next // the server revokes the token in use
		mu.Unlock()
		callEcho(t, cs, "after rotation "+next)
		if h.src.refreshes != i+1 {
			t.Fatalf("refreshes = %d after rotation %d, want %d", h.src.refreshes, i+1, i+1)
		}
	}

	mu.Lock()
	good = "none"
	mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(`{"jsonrpc":"2.0","id":9,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	req.Header.Set("Mcp-Session-Id", cs.ID())
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Errorf("a second 401: the client got %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
	}
	if h.src.refreshes != 3 {
		t.Errorf("refreshes = %d, want one more (3)", h.src.refreshes)
	}
	if st := h.px.Status(); !strings.Contains(st.Targets[0].LastError, "401") {
		t.Errorf("status does not show the refused token: %+v", st.Targets[0])
	}
}

// TestRefusals: a request without the right local credential, from a web
// page's origin, or to a Host that is not the loopback address is refused
// before anything goes upstream.
func TestRefusals(t *testing.T) {
	h := newHarness(t, sdkServer(false), func(string) bool { return true })
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"x","version":"1"}}}`
	cases := []struct {
		name    string
		headers map[string]string
		want    int
	}{
		{"no credential", nil, http.StatusUnauthorized},
		{"wrong credential", map[string]string{"Authorization": "Bearer " + strings.Repeat("A", len(h.cred))}, http.StatusUnauthorized},
		{"an Entra-looking token", map[string]string{"Authorization": "Bearer eyJhbGciOi.eyJhdWQ.sig"}, http.StatusUnauthorized},
		{"web origin", map[string]string{"Authorization": "Bearer " + h.cred, "Origin": "https://evil.example"}, http.StatusForbidden},
		{"null origin", map[string]string{"Authorization": "Bearer " + h.cred, "Origin": "null"}, http.StatusForbidden},
		{"rebound host", map[string]string{"Authorization": "Bearer " + h.cred, "Host": "evil.example:80"}, http.StatusForbidden},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(body))
			req.Header.Set("Content-Type", "application/json")
			for k, v := range c.headers {
				if k == "Host" {
					req.Host = v
				} else {
					req.Header.Set(k, v)
				}
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			msg, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != c.want {
				t.Errorf("status %d, want %d: %s", resp.StatusCode, c.want, msg)
			}
			if !strings.HasPrefix(string(msg), "broker proxy: ") {
				t.Errorf("answer %q does not say who refused", msg)
			}
		})
	}
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("the server saw %d requests", n)
	}
	// The same request with the credential goes through.
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(h.up.requests()) != 1 {
		t.Errorf("with the credential: %d, server saw %d", resp.StatusCode, len(h.up.requests()))
	}
}

// TestSignInRequired: without a token, a JSON-RPC request gets a JSON-RPC
// error that names `broker login`, the GET stream a plain 401; nothing
// goes upstream, and status says so until a token is there again.
func TestSignInRequired(t *testing.T) {
	h := newHarness(t, sdkServer(false), func(string) bool { return true })
	h.src.mu.Lock()
	h.src.err = &auth.Error{Class: auth.ClassSignInRequired, Message: "not signed in", Err: auth.ErrSignInRequired}
	h.src.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var rpc struct {
		ID    int `json:"id"`
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	json.NewDecoder(resp.Body).Decode(&rpc)
	resp.Body.Close()
	if rpc.ID != 3 || !strings.Contains(rpc.Error.Message, "broker login --profile data") {
		t.Errorf("POST without a token: %d %+v", resp.StatusCode, rpc)
	}
	get, _ := http.NewRequest(http.MethodGet, h.url, nil)
	get.Header.Set("Accept", "text/event-stream")
	resp, err = h.client().Do(get)
	if err != nil {
		t.Fatal(err)
	}
	msg, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(msg), "broker login") {
		t.Errorf("GET without a token: %d %s", resp.StatusCode, msg)
	}
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("the server saw %d requests", n)
	}
	if st := h.px.Status(); !st.Targets[0].SignInRequired {
		t.Errorf("status does not say sign-in is required: %+v", st.Targets[0])
	}
	h.src.mu.Lock()
	h.src.err = nil
	h.src.mu.Unlock()
	connect(t, h)
	if st := h.px.Status(); st.Targets[0].SignInRequired {
		t.Errorf("status still says sign-in is required: %+v", st.Targets[0])
	}
}

// streamingServer answers every POST with an event stream: a progress
// notification, then (once release is closed) a result of size bytes.
func streamingServer(size int, release <-chan struct{}) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\",\"params\":{\"progressToken\":1,\"progress\":1}}\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, "event: message\ndata: {\"jsonrpc\":\"2.0\",\"id\":1,\"result\":{\"content\":[{\"type\":\"text\",\"text\":\"")
		chunk := bytes.Repeat([]byte("x"), 32<<10)
		for n := 0; n < size; n += len(chunk) {
			w.Write(chunk)
		}
		fmt.Fprint(w, "\"}]}}\n\n")
	})
}

// TestStreamsAsItArrives: the client reads the first event of a stream
// while the server still holds back the rest (2 MB), so nothing in
// between buffers the stream.
func TestStreamsAsItArrives(t *testing.T) {
	release := make(chan struct{})
	h := newHarness(t, streamingServer(2<<20, release), func(string) bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, h.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"big","_meta":{"progressToken":1}}}`))
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	first, err := readEvent(br)
	if err != nil || !strings.Contains(first, "notifications/progress") {
		t.Fatalf("first event: %q %v", first, err)
	}
	close(release) // only now does the server send the result
	last, err := readEvent(br)
	if err != nil || !strings.Contains(last, `"id":1`) || len(last) < 2<<20 {
		t.Fatalf("last event: %d bytes, %v", len(last), err)
	}
}

func readEvent(br *bufio.Reader) (string, error) {
	var b strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			return b.String(), err
		}
		if line == "\n" {
			return b.String(), nil
		}
		b.WriteString(line)
	}
}

// TestPortTaken: a port another program holds is an error naming the
// port and the setting, in status.
func TestPortTaken(t *testing.T) {
	l, err := proxy.Listen(0)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	port := l.Addr().(interface{ String() string }).String()
	var p int
	fmt.Sscanf(port[strings.LastIndex(port, ":")+1:], "%d", &p)
	_, err = proxy.Listen(p)
	var pe *proxy.Error
	if !errors.As(err, &pe) || !strings.Contains(pe.Error(), fmt.Sprint(p)) || !strings.Contains(pe.HintText(), "proxy_port") {
		t.Fatalf("Listen on a taken port: %v", err)
	}
	px := proxy.New(proxy.Options{Tokens: &tokens{}, Credentials: proxy.NewCredentials(t.TempDir()), RelistenEvery: 20 * time.Millisecond})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); px.Run(ctx) }()
	defer func() { cancel(); <-done }()
	px.Configure(p, []config.Target{{Profile: "data", Client: "gemini", Server: "api", URL: "https://example.com/mcp", Mode: "proxy"}})
	st := px.Status()
	if st == nil || st.Address != "" || !strings.Contains(st.Error, "proxy_port") {
		t.Errorf("status with a taken port: %+v", st)
	}
	// Once the other program lets go, the proxy takes the port.
	l.Close()
	for deadline := time.Now().Add(10 * time.Second); px.Addr() == ""; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the proxy did not take the freed port: %+v", px.Status())
		}
	}
	if st := px.Status(); st.Error != "" || !strings.HasSuffix(st.Address, fmt.Sprint(p)) {
		t.Errorf("status once listening: %+v", st)
	}
}

// TestHeaders: end-to-end headers reach the server as the client sent
// them, hop-by-hop ones and the client's Origin do not, and the server's
// answer headers (Mcp-Session-Id) come back.
func TestHeaders(t *testing.T) {
	h := newHarness(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Mcp-Session-Id", "s-1")
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
	}), func(string) bool { return true })
	req, _ := http.NewRequest(http.MethodPost, h.url+"?x=1", strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"echo"}}`))
	end := map[string]string{
		"Mcp-Session-Id":            "s-1",
		"Mcp-Protocol-Version":      "2026-07-28",
		"Last-Event-Id":             "ev-42",
		"Mcp-Method":                "tools/call",
		"Mcp-Name":                  "echo",
		"Ocp-Apim-Subscription-Key": "k",
	}
	for k, v := range end {
		req.Header.Set(k, v)
	}
	req.Header.Set("Connection", "X-Hop")
	req.Header.Set("X-Hop", "1")
	req.Header.Set("Proxy-Authorization", "Basic eDp5")
	req.Header.Set("Origin", "vscode-file://vscode-app")
	resp, err := h.client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") != "s-1" {
		t.Fatalf("answer %d, session %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"))
	}
	got := h.up.requests()[0]
	for k, v := range end {
		if got.Header.Get(k) != v {
			t.Errorf("%s reached the server as %q, want %q", k, got.Header.Get(k), v)
		}
	}
	for _, k := range []string{"X-Hop", "Proxy-Authorization", "Origin", "X-Forwarded-For"} {
		if v := got.Header.Get(k); v != "" {
			t.Errorf("%s reached the server: %q", k, v)
		}
	}
	if got.URL.Path != "/mcp" || got.URL.RawQuery != "x=1" || got.Header.Get("Authorization") != "Bearer tok1" {
		t.Errorf("the server got %s?%s with %q", got.URL.Path, got.URL.RawQuery, got.Header.Get("Authorization"))
	}
}
