package bridge_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// scopeSource is a source that meets scope challenges with stepped.
type scopeSource struct {
	*source
	stepped token.Token
	mu      sync.Mutex
	asked   [][]string
}

func (s *scopeSource) ScopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.asked = append(s.asked, scopes)
	return s.stepped, nil
}

func mintScopes(sim *entrasim.Server, scp ...string) token.Token {
	return token.Token{
		Value:     token.Secret(sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour, Scopes: scp})),
		ExpiresOn: time.Now().Add(time.Hour),
		Audience:  sim.APIAudience(),
	}
}

// toolCalls are the endpoint's answers to tools/call, as status:reason.
func toolCalls(sim *entrasim.Server) string {
	var out []string
	for _, c := range sim.MCPCalls() {
		if c.HTTPMethod == http.MethodPost && c.Method == "tools/call" {
			out = append(out, http.StatusText(c.Status)+":"+c.Reason)
		}
	}
	return strings.Join(out, " ")
}

// TestScopeChallengeRetriedOnce: a tool call refused with 403
// insufficient_scope gets one token for the scopes the challenge names
// and is sent once more; a second refusal goes to the client naming the
// scope; a source that cannot step up passes the refusal on as it is.
func TestScopeChallengeRetriedOnce(t *testing.T) {
	t.Parallel()
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	for _, tc := range []struct {
		name     string
		stepped  []string // scp of the token the challenge gets (nil: no ScopeChallenge)
		calls    string
		errorHas string // "" for success
	}{
		{"a token with the scope", []string{"access_as_user", "Tools.Write"}, "Forbidden:scope Tools.Write required OK:", ""},
		{"exactly one retry", []string{"access_as_user"}, "Forbidden:scope Tools.Write required Forbidden:scope Tools.Write required",
			"insufficient_scope: the server needs scope api://mcp-demo-api/Tools.Write"},
		{"a source without step-up", nil, "Forbidden:scope Tools.Write required",
			"insufficient_scope: the server needs scope api://mcp-demo-api/Tools.Write"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sim := startSim(t, false)
			base := &source{cur: mintScopes(sim, "access_as_user")}
			var src bridge.TokenSource = base
			var ss *scopeSource
			if tc.stepped != nil {
				ss = &scopeSource{source: base, stepped: mintScopes(sim, tc.stepped...)}
				src = ss
			}
			h := newHarnessSource(t, sim, src)
			r := h.raw()
			r.send(initLine)
			if a := r.recv(); a.Error != nil {
				t.Fatalf("initialize: %+v", a.Error)
			}
			r.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
			sim.RequireScope("Tools.Write")
			r.send(call)
			a := r.recv()
			switch {
			case tc.errorHas == "" && a.Error != nil:
				t.Errorf("tools/call: %+v", a.Error)
			case tc.errorHas != "" && (a.Error == nil || !strings.Contains(a.Error.Message, tc.errorHas)):
				t.Errorf("tools/call: %+v, want an error saying %q", a.Error, tc.errorHas)
			}
			if got := toolCalls(sim); got != tc.calls {
				t.Errorf("tool calls the endpoint saw: %q, want %q", got, tc.calls)
			}
			if ss != nil && (len(ss.asked) != 1 || strings.Join(ss.asked[0], " ") != "api://mcp-demo-api/Tools.Write") {
				t.Errorf("ScopeChallenge asked %v, want once for api://mcp-demo-api/Tools.Write", ss.asked)
			}
			if err := r.close(); err != nil {
				t.Errorf("Run = %v", err)
			}
			checkStdout(t, h.written.String())
		})
	}
}

// newHarnessSource is newHarness for any TokenSource.
func newHarnessSource(t *testing.T, sim *entrasim.Server, src bridge.TokenSource) *harness {
	t.Helper()
	h := &harness{t: t, sim: sim, written: &syncBuffer{}, done: make(chan error, 1)}
	h.rec = &recorder{base: sim.HTTPClient().Transport}
	b, err := bridge.New(bridge.Options{URL: sim.MCPURL(), Tokens: src, HTTPTransport: h.rec, Logger: testLogger(t)})
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
