package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// ProbeResult is what one MCP server said to the token.
type ProbeResult struct {
	// Status is the HTTP status of the first answer that was not 2xx, or of
	// the last answer when all succeeded.
	Status     int
	ServerName string
	Tools      int
	// Challenge is the WWW-Authenticate header of a 401.
	Challenge string
	// Body is the start of an error answer's body (APIM explains there).
	Body string
	Err  error
}

// Probe calls the MCP server at url with tok: initialize and tools/list,
// through the official MCP Go SDK. It blocks until done or ctx ends.
func Probe(ctx context.Context, client *http.Client, url string, tok token.Secret) ProbeResult {
	if client == nil {
		client = http.DefaultClient
	}
	rec := &recorder{base: client.Transport, tok: tok}
	if rec.base == nil {
		rec.base = http.DefaultTransport
	}
	hc := *client
	hc.Transport = rec
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	c := mcp.NewClient(&mcp.Implementation{Name: "mcp-token-broker-doctor", Version: "1"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: url, HTTPClient: &hc, MaxRetries: -1, DisableStandaloneSSE: true}
	var res ProbeResult
	cs, err := c.Connect(ctx, tr, nil)
	if err == nil {
		defer cs.Close()
		if ir := cs.InitializeResult(); ir != nil && ir.ServerInfo != nil {
			res.ServerName = ir.ServerInfo.Name
		}
		var lt *mcp.ListToolsResult
		lt, err = cs.ListTools(ctx, nil)
		if err == nil {
			res.Tools = len(lt.Tools)
		}
	}
	res.Err = err
	rec.mu.Lock()
	res.Status, res.Challenge, res.Body = rec.status, rec.challenge, rec.body
	rec.mu.Unlock()
	return res
}

// recorder adds the bearer token and remembers the first failed answer.
type recorder struct {
	base http.RoundTripper
	tok  token.Secret

	mu        sync.Mutex
	status    int
	failed    bool
	challenge string
	body      string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	req = req.Clone(req.Context())
	req.Header.Set("Authorization", "Bearer "+r.tok.Reveal())
	resp, err := r.base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.failed {
		return resp, nil
	}
	r.status = resp.StatusCode
	if resp.StatusCode >= 400 {
		r.failed = true
		r.challenge = resp.Header.Get("WWW-Authenticate")
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 2048))
		resp.Body.Close()
		r.body = strings.TrimSpace(string(b))
		resp.Body = io.NopCloser(strings.NewReader(string(b)))
	}
	return resp, nil
}

// explain401 says why a server refused the token, from what it answered and
// what the token claims.
func explain401(p ProbeResult, tok token.Token, wantAud string, now time.Time) (msg, hint string) {
	lc := strings.ToLower(p.Body + " " + p.Challenge)
	switch {
	case strings.Contains(lc, "subscription key"):
		return "the server (API Management) wants a subscription key",
			"add the header Ocp-Apim-Subscription-Key to the client's server entry, or ask the API owner to turn off the subscription requirement for this API"
	case isGraph(tok.Audience):
		return "the token is for Microsoft Graph, not the API",
			"set the profile's scopes to the API's scope, e.g. \"" + wantAud + "/.default\", then `broker login`"
	case !tok.ExpiresOn.IsZero() && !tok.ExpiresOn.After(now):
		return "the token has expired", "run `broker sync` (or start the daemon with `broker run`) so a fresh token is delivered"
	case tok.Audience != "" && audienceProblem(tok.Audience, claimsOf(tok), wantAud) != "":
		return fmt.Sprintf("the token's audience is %s but the profile asks for %s", tok.Audience, wantAud),
			"check that the profile's scope is the API this server validates (its validate-jwt policy lists the audiences it accepts)"
	case strings.Contains(lc, "invalid_token") || strings.Contains(lc, "invalid audience") || strings.Contains(lc, "audience"):
		return "the server rejected the token (" + oneLine(p.Challenge+" "+p.Body) + ")",
			"the server expects another audience or issuer: compare its validate-jwt policy with the token's aud and iss (`broker doctor` prints them)"
	}
	return "the server answered 401 Unauthorized (" + oneLine(p.Challenge+" "+p.Body) + ")",
		"check the server's token validation (audience, issuer, required scopes or roles)"
}

// claimsOf decodes tok's claims; a token that does not decode has none.
func claimsOf(tok token.Token) token.Claims {
	c, _ := token.ParseClaims(tok.Value.Reveal())
	return c
}

func oneLine(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 160 {
		s = s[:160] + "…"
	}
	return s
}
