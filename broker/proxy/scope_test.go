package proxy_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// scopeTokens meets scope challenges with stepped (or err).
type scopeTokens struct {
	tokens
	smu     sync.Mutex
	stepped string
	err     error
	asked   []string
}

func (s *scopeTokens) ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error) {
	s.smu.Lock()
	defer s.smu.Unlock()
	s.asked = append(s.asked, profile+" "+server+" "+strings.Join(scopes, " "))
	if s.err != nil {
		return token.Token{}, s.err
	}
	return token.Token{Value: token.Secret(s.stepped), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// TestScopeChallengeRetriedOnce: a 403 insufficient_scope gets one token
// from ScopeChallenge and the request once more; a second 403 reaches the
// client as the server sent it, and status names the scope; a challenge
// that needs the user gives the client a JSON-RPC error naming the server,
// the scope and broker login.
func TestScopeChallengeRetriedOnce(t *testing.T) {
	t.Parallel()
	const scope = "api://mcp-demo-api/Tools.Write"
	for _, tc := range []struct {
		name    string
		stepped string
		err     error
		sent    int // requests the server gets
		want    func(t *testing.T, resp *http.Response, body string, px *proxy.Server)
	}{
		{"a token with the scope", "stepped", nil, 2, func(t *testing.T, resp *http.Response, body string, px *proxy.Server) {
			if resp.StatusCode != 200 || !strings.Contains(body, `"tools"`) {
				t.Errorf("the client got %d %s", resp.StatusCode, body)
			}
		}},
		{"still refused", "tok1", nil, 2, func(t *testing.T, resp *http.Response, body string, px *proxy.Server) {
			if resp.StatusCode != http.StatusForbidden || !strings.Contains(resp.Header.Get("WWW-Authenticate"), scope) {
				t.Errorf("the client got %d %q", resp.StatusCode, resp.Header.Get("WWW-Authenticate"))
			}
			if st := px.Status(); !strings.Contains(st.Targets[0].LastError, "the server needs scope "+scope) {
				t.Errorf("status: %+v", st.Targets[0])
			}
		}},
		{"consent needed", "", &auth.Error{Class: auth.ClassSignInRequired, Message: "api needs scope " + scope}, 1, func(t *testing.T, resp *http.Response, body string, px *proxy.Server) {
			if resp.StatusCode != 200 || !strings.Contains(body, "api needs scope "+scope) || !strings.Contains(body, "broker login --profile data") {
				t.Errorf("the client got %d %s", resp.StatusCode, body)
			}
			if st := px.Status(); !st.Targets[0].SignInRequired {
				t.Errorf("status: %+v", st.Targets[0])
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			up := newUpstream(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Header.Get("Authorization") != "Bearer stepped" {
					w.Header().Set("WWW-Authenticate", `Bearer error="insufficient_scope", scope="`+scope+`"`)
					http.Error(w, "forbidden", http.StatusForbidden)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{"tools":[]}}`)
			}), func(string) bool { return true })
			src := &scopeTokens{stepped: tc.stepped, err: tc.err}
			creds := proxy.NewCredentials(t.TempDir())
			px := proxy.New(proxy.Options{Tokens: src, Credentials: creds})
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); px.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })
			target := config.Target{Profile: "data", Client: "copilot", Server: "api", URL: up.srv.URL + "/mcp", Mode: "proxy"}
			px.Configure(0, []config.Target{target})
			cred, err := creds.Ensure(proxy.ID(target))
			if err != nil {
				t.Fatal(err)
			}
			req, _ := http.NewRequest(http.MethodPost, "http://"+px.Addr()+"/"+proxy.ID(target), strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/list"}`))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Accept", "application/json, text/event-stream")
			req.Header.Set("Authorization", "Bearer "+cred)
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			tc.want(t, resp, string(b), px)
			if len(src.asked) != 1 || src.asked[0] != "data api "+scope {
				t.Errorf("ScopeChallenge asked %q, want once for %s", src.asked, scope)
			}
			if n := len(up.requests()); n != tc.sent {
				t.Errorf("the server got %d requests, want %d (never more than one retry)", n, tc.sent)
			}
		})
	}
}
