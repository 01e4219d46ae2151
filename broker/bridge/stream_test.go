package bridge_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// TestServerToClient runs the bridge against a server built with the MCP
// SDK, which (unlike the simulator) offers the standalone GET stream and
// asks the client things: a notification sent outside any request must
// come through the bridge's GET stream, and a server request (roots/list)
// made while a tool runs must reach the client, and its answer the server.
func TestServerToClient(t *testing.T) {
	t.Parallel()
	server := mcp.NewServer(&mcp.Implementation{Name: "sdk-server", Version: "1"}, nil)
	server.AddTool(&mcp.Tool{Name: "roots", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			res, err := req.Session.ListRoots(ctx, nil)
			if err != nil {
				return nil, err
			}
			var uris []string
			for _, r := range res.Roots {
				uris = append(uris, r.URI)
			}
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: strings.Join(uris, ",")}}}, nil
		})
	var mu sync.Mutex
	var gets, versions []string
	// The SDK flushes the GET stream's headers while it holds the stream,
	// and registers it before it lets go: a notification sent after the
	// flush is delivered on it.
	streamOpen := make(chan struct{})
	opened := sync.OnceFunc(func() { close(streamOpen) })
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, nil)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		if r.Method == http.MethodGet {
			gets = append(gets, r.Header.Get("Accept"))
			w = flushSignal{ResponseWriter: w, flushed: opened}
		}
		versions = append(versions, r.Header.Get("MCP-Protocol-Version"))
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)

	src := &source{cur: token.Token{Value: "good", ExpiresOn: time.Now().Add(time.Hour)}}
	h := newHarness(t, nil, src, bridge.Options{URL: srv.URL, HTTPTransport: http.DefaultTransport})
	r := h.raw()
	r.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{"roots":{}},"clientInfo":{"name":"raw","version":"1"}}}`)
	if a := r.recv(); a.Error != nil {
		t.Fatalf("initialize: %+v", a.Error)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)

	// Wait for the bridge's GET stream, then change the tools: the server
	// announces it on that stream.
	select {
	case <-streamOpen:
	case <-time.After(5 * time.Second):
		t.Fatal("the bridge opened no GET stream")
	}
	server.AddTool(&mcp.Tool{Name: "later", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{}, nil
		})
	var note struct {
		Method string `json:"method"`
	}
	line := r.recvLine()
	if err := json.Unmarshal(line, &note); err != nil || note.Method != "notifications/tools/list_changed" {
		t.Fatalf("after a tool was added, stdout has %s, want notifications/tools/list_changed", line)
	}

	// A tool that asks the client for its roots while it runs.
	r.send(`{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"roots","arguments":{}}}`)
	var ask struct {
		ID     json.RawMessage `json:"id"`
		Method string          `json:"method"`
	}
	line = r.recvLine()
	if err := json.Unmarshal(line, &ask); err != nil || ask.Method != "roots/list" {
		t.Fatalf("stdout has %s, want the server's roots/list request", line)
	}
	r.send(`{"jsonrpc":"2.0","id":` + string(ask.ID) + `,"result":{"roots":[{"uri":"file:///work","name":"work"}]}}`)
	a := r.recv()
	if a.Error != nil || string(a.ID) != "7" || !strings.Contains(string(a.Result), "file:///work") {
		t.Fatalf("tools/call answer: %s %s %+v", a.ID, a.Result, a.Error)
	}
	if err := r.close(); err != nil {
		t.Errorf("Run = %v", err)
	}
	checkStdout(t, h.written.String())
	mu.Lock()
	defer mu.Unlock()
	if gets[0] != "text/event-stream" {
		t.Errorf("GET Accept = %q", gets[0])
	}
	for i, v := range versions[1:] {
		if v != "2025-06-18" {
			t.Errorf("request %d after initialize has MCP-Protocol-Version %q", i+2, v)
		}
	}
}

// TestClientMistakesAndCancellation: a message that is JSON but not
// JSON-RPC is skipped; a call the client cancelled is not waited for at the
// end; a stream that is not JSON ends the bridge with an error.
func TestClientMistakesAndCancellation(t *testing.T) {
	t.Parallel()
	server := mcp.NewServer(&mcp.Implementation{Name: "sdk-server", Version: "1"}, nil)
	started := make(chan struct{}, 1)
	release := make(chan struct{})
	// A tool that never answers, cancelled or not.
	server.AddTool(&mcp.Tool{Name: "wait", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(ctx context.Context, req *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			started <- struct{}{}
			<-release
			return nil, errors.New("released")
		})
	srv := httptest.NewServer(mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{JSONResponse: true, Stateless: true}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) }) // before srv.Close
	src := &source{cur: token.Token{Value: "any", ExpiresOn: time.Now().Add(time.Hour)}}
	h := newHarness(t, nil, src, bridge.Options{URL: srv.URL, HTTPTransport: http.DefaultTransport, DrainTimeout: time.Hour})
	r := h.raw()
	r.send(`{"hello":"world"}`)
	r.send(initLine)
	if a := r.recv(); a.Error != nil || string(a.ID) != "1" {
		t.Fatalf("initialize after a stray message: %s %+v", a.ID, a.Error)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(`{"jsonrpc":"2.0","id":5,"method":"tools/call","params":{"name":"wait","arguments":{}}}`)
	select {
	case <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("the tool did not start")
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/cancelled","params":{"requestId":5,"reason":"user"}}`)
	// With a drain time of an hour, Run ends only because the cancelled
	// call is no longer waited for.
	if err := r.close(); err != nil {
		t.Errorf("Run = %v", err)
	}
	checkStdout(t, h.written.String())

	h2 := newHarness(t, nil, src, bridge.Options{URL: srv.URL, HTTPTransport: http.DefaultTransport})
	io.WriteString(h2.stdin, "this is not JSON\n")
	go io.Copy(io.Discard, h2.stdout)
	if err := h2.wait(); err == nil || !strings.Contains(err.Error(), "stdin") {
		t.Errorf("Run with garbage on stdin = %v, want an error about stdin", err)
	}
}

// TestServerRefusalIsReported: a failure status becomes the request's
// JSON-RPC error, with the server's words but never a token, and the
// session goes on.
func TestServerRefusalIsReported(t *testing.T) {
	t.Parallel()
	sim := startSim(t, false)
	tok := mint(sim, time.Hour)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) == 1 {
			// Like a gateway that echoes what it refused.
			http.Error(w, "forbidden: policy denies "+r.Header.Get("Authorization"), http.StatusForbidden)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"jsonrpc":"2.0","id":2,"result":{}}`)
	}))
	t.Cleanup(srv.Close)
	h := newHarness(t, sim, &source{cur: tok}, bridge.Options{URL: srv.URL, HTTPTransport: http.DefaultTransport})
	r := h.raw()
	r.send(initLine)
	a := r.recv()
	if a.Error == nil || a.Error.Code != bridge.CodeUpstream || !strings.Contains(a.Error.Message, "403 Forbidden: forbidden: policy denies Bearer") {
		t.Fatalf("answer to a 403: %+v", a.Error)
	}
	if strings.Contains(h.written.String(), tok.Value.Reveal()) {
		t.Fatal("the token reached stdout")
	}
	r.send(`{"jsonrpc":"2.0","id":2,"method":"ping"}`)
	if a := r.recv(); a.Error != nil || string(a.ID) != "2" {
		t.Fatalf("the next request after a 403: %s %+v", a.ID, a.Error)
	}
	if err := r.close(); err != nil {
		t.Errorf("Run = %v", err)
	}
	checkStdout(t, h.written.String())
}

// flushSignal calls flushed after each Flush of the response.
type flushSignal struct {
	http.ResponseWriter
	flushed func()
}

func (f flushSignal) Flush() {
	if fl, ok := f.ResponseWriter.(http.Flusher); ok {
		fl.Flush()
	}
	f.flushed()
}

func (f flushSignal) Unwrap() http.ResponseWriter { return f.ResponseWriter }

// TestStatelessServer: a server of the 2026-07-28 spec issues no session
// id (the SDK's stateless mode): initialize, tools/list and tools/call go
// through the bridge all the same, and no request names a session.
func TestStatelessServer(t *testing.T) {
	t.Parallel()
	server := mcp.NewServer(&mcp.Implementation{Name: "stateless", Version: "1"}, nil)
	server.AddTool(&mcp.Tool{Name: "ping", InputSchema: json.RawMessage(`{"type":"object"}`)},
		func(context.Context, *mcp.CallToolRequest) (*mcp.CallToolResult, error) {
			return &mcp.CallToolResult{Content: []mcp.Content{&mcp.TextContent{Text: "pong"}}}, nil
		})
	handler := mcp.NewStreamableHTTPHandler(func(*http.Request) *mcp.Server { return server }, &mcp.StreamableHTTPOptions{Stateless: true})
	var mu sync.Mutex
	var sessions []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "Bearer good" {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		sessions = append(sessions, r.Header.Get("Mcp-Session-Id"))
		mu.Unlock()
		handler.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	src := &source{cur: token.Token{Value: "good", ExpiresOn: time.Now().Add(time.Hour)}}
	h := newHarness(t, nil, src, bridge.Options{URL: srv.URL, HTTPTransport: http.DefaultTransport})
	r := h.raw()
	r.send(`{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"1"}}}`)
	if a := r.recv(); a.Error != nil {
		t.Fatalf("initialize: %+v", a.Error)
	}
	r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	r.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if a := r.recv(); a.Error != nil || !strings.Contains(string(a.Result), `"ping"`) {
		t.Fatalf("tools/list: %s %+v", a.Result, a.Error)
	}
	r.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"ping","arguments":{}}}`)
	if a := r.recv(); a.Error != nil || !strings.Contains(string(a.Result), "pong") {
		t.Fatalf("tools/call: %s %+v", a.Result, a.Error)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, s := range sessions {
		if s != "" {
			t.Errorf("a request named session %q, which the server never issued", s)
		}
	}
}
