package entrasim

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// mcpPost sends one JSON-RPC message to the MCP endpoint as a Streamable
// HTTP client does. An empty token sends no Authorization header.
func mcpPost(t *testing.T, s *Server, token, session, body string) (int, string, http.Header) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, s.MCPURL(), strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
	}
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", s.MCPURL(), err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func TestMCPRejectsBadTokens(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	meta := `resource_metadata="` + s.URL() + `/.well-known/oauth-protected-resource/mcp"`
	for _, tc := range []struct {
		name, token, reason, challenge string
	}{
		{"missing", "", "missing token", "Bearer " + meta},
		{"graph audience", s.IssueAccessToken(TokenOpts{Audience: GraphAudience}), "wrong audience", `Bearer error="invalid_token", ` + meta},
		{"expired", s.IssueAccessToken(TokenOpts{Lifetime: -time.Minute}), "expired", `Bearer error="invalid_token", ` + meta},
		{"bad signature", s.IssueAccessToken(TokenOpts{BadSignature: true}), "invalid signature", `Bearer error="invalid_token", ` + meta},
		{"wrong issuer", s.IssueAccessToken(TokenOpts{Issuer: "https://sts.windows.net/" + s.TenantID() + "/"}), "wrong issuer", `Bearer error="invalid_token", ` + meta},
		{"garbage", "not-a-jwt", "malformed token", `Bearer error="invalid_token", ` + meta},
	} {
		s.ResetLog()
		status, body, hdr := mcpPost(t, s, tc.token, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18"}}`)
		if status != http.StatusUnauthorized {
			t.Errorf("%s: status %d", tc.name, status)
		}
		if got := hdr.Get("WWW-Authenticate"); got != tc.challenge {
			t.Errorf("%s: WWW-Authenticate %q, want %q", tc.name, got, tc.challenge)
		}
		if !strings.Contains(body, `"statusCode":401`) {
			t.Errorf("%s: body %s", tc.name, body)
		}
		calls := s.MCPCalls()
		if len(calls) != 1 || calls[0].Authorized || calls[0].Reason != tc.reason || calls[0].Status != 401 {
			t.Errorf("%s: MCPCalls = %+v", tc.name, calls)
		}
	}
	if calls := s.MCPCalls(); calls[0].Audience != "" {
		t.Errorf("garbage token has an audience: %+v", calls[0])
	}

	// The metadata the challenge points to.
	var md map[string]any
	if st := getJSON(t, s, s.ResourceMetadataURL(), &md); st != 200 {
		t.Fatalf("metadata status %d", st)
	}
	if md["resource"] != s.MCPURL() {
		t.Errorf("resource = %v", md["resource"])
	}
	if as, _ := md["authorization_servers"].([]any); len(as) != 1 || as[0] != s.Authority()+"/v2.0" {
		t.Errorf("authorization_servers = %v", md["authorization_servers"])
	}
	if sc, _ := md["scopes_supported"].([]any); len(sc) != 1 || sc[0] != s.Scope() {
		t.Errorf("scopes_supported = %v", md["scopes_supported"])
	}
}

func TestMCPWithoutMetadata(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{NoMetadata: true})
	_, _, hdr := mcpPost(t, s, s.IssueAccessToken(TokenOpts{Lifetime: -time.Minute}), "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if got := hdr.Get("WWW-Authenticate"); got != `Bearer error="invalid_token"` {
		t.Errorf("WWW-Authenticate %q", got)
	}
	if st := getJSON(t, s, s.ResourceMetadataURL(), nil); st != 404 {
		t.Errorf("metadata status %d, want 404", st)
	}
}

func TestMCPSession(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	tok := s.IssueAccessToken(TokenOpts{})

	// Claude Code 2.1.x probes server/discover before initialize.
	status, body, _ := mcpPost(t, s, tok, "", `{"jsonrpc":"2.0","id":0,"method":"server/discover"}`)
	if status != 200 || !strings.Contains(body, `"code":-32601`) {
		t.Errorf("server/discover: %d %s", status, body)
	}

	status, body, hdr := mcpPost(t, s, tok, "", `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-03-26","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`)
	var init struct {
		Result struct {
			ProtocolVersion string
			ServerInfo      struct{ Name string }
		}
	}
	_ = json.Unmarshal([]byte(body), &init)
	sid := hdr.Get("Mcp-Session-Id")
	if status != 200 || sid == "" || init.Result.ProtocolVersion != "2025-03-26" || init.Result.ServerInfo.Name != "entrasim-mcp" {
		t.Fatalf("initialize: %d %s session %q", status, body, sid)
	}
	if status, body, _ := mcpPost(t, s, tok, sid, `{"jsonrpc":"2.0","method":"notifications/initialized"}`); status != http.StatusAccepted || body != "" {
		t.Errorf("notification: %d %q", status, body)
	}
	status, body, _ = mcpPost(t, s, tok, sid, `{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if status != 200 || !strings.Contains(body, `"whoami"`) || !strings.Contains(body, `"echo"`) {
		t.Errorf("tools/list: %d %s", status, body)
	}
	status, body, _ = mcpPost(t, s, tok, sid, `{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
	if status != 200 || !strings.Contains(body, `alice@contoso.com`) || !strings.Contains(body, s.TokenAudience()) {
		t.Errorf("whoami: %d %s", status, body)
	}
	if _, body, _ := mcpPost(t, s, tok, "no-such-session", `{"jsonrpc":"2.0","id":4,"method":"ping"}`); !strings.Contains(body, "Session not found") {
		t.Errorf("unknown session: %s", body)
	}
	if _, body, _ := mcpPost(t, s, tok, sid, `{"jsonrpc":"2.0","id":5,"method":"initialize","params":{"protocolVersion":"2099-01-01"}}`); !strings.Contains(body, `"protocolVersion":"2025-06-18"`) {
		t.Errorf("unknown version not negotiated down: %s", body)
	}

	// GET is not offered; the call log knows the accepted token.
	req, _ := http.NewRequest(http.MethodGet, s.MCPURL(), nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET status %d", resp.StatusCode)
	}
	calls := s.MCPCalls()
	var accepted int
	for _, c := range calls {
		if c.Authorized && c.Audience == s.TokenAudience() && !c.ExpiresAt.IsZero() && c.Token == Fingerprint(tok) {
			accepted++
		}
	}
	if accepted != len(calls) {
		t.Errorf("accepted %d of %d calls: %+v", accepted, len(calls), calls)
	}
	if calls[0].Method != "server/discover" || calls[1].Method != "initialize" {
		t.Errorf("methods logged: %q %q", calls[0].Method, calls[1].Method)
	}
}

func TestMCPServerSentEvents(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{MCPSSE: true})
	status, body, hdr := mcpPost(t, s, s.IssueAccessToken(TokenOpts{}), "", `{"jsonrpc":"2.0","id":7,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	if status != 200 || !strings.HasPrefix(hdr.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("SSE: %d %q", status, hdr.Get("Content-Type"))
	}
	if !strings.HasPrefix(body, "event: message\n") || !strings.Contains(body, `data: {"jsonrpc":"2.0","id":7,"result":`) || !strings.Contains(body, `"text":"hi"`) {
		t.Errorf("SSE body %q", body)
	}
	s.SetMCPSSE(false)
	_, _, hdr = mcpPost(t, s, s.IssueAccessToken(TokenOpts{}), "", `{"jsonrpc":"2.0","id":8,"method":"ping"}`)
	if !strings.HasPrefix(hdr.Get("Content-Type"), "application/json") {
		t.Errorf("after SetMCPSSE(false): %q", hdr.Get("Content-Type"))
	}
}
