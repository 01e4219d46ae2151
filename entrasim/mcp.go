package entrasim

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// MCPCall is one request to the protected MCP endpoint and what the
// endpoint made of its bearer token. It never holds the token itself.
type MCPCall struct {
	Time       time.Time
	HTTPMethod string
	// Method is the JSON-RPC method, empty when the request had none or
	// was refused before it was read.
	Method string
	Status int
	// Authorized reports whether the bearer token was accepted.
	Authorized bool
	// Reason says why the token was refused: "missing token", "malformed
	// token", "invalid signature", "wrong audience", "wrong issuer",
	// "expired", "not yet valid", "session revoked", "authentication
	// context ID required" (cae.go), "scope NAME required" (a tool call
	// refused with 403, scopes.go).
	Reason    string
	Audience  string
	Username  string
	ExpiresAt time.Time
	SessionID string
	SSE       bool // the answer was a text/event-stream
	// Token is Fingerprint of the bearer token ("" when none was sent), so a
	// test can tell which token the endpoint saw.
	Token string
}

// Fingerprint identifies a token without revealing it: the first 16 hex
// digits of its SHA-256.
func Fingerprint(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:8])
}

// MCPCalls returns the log of requests to the MCP endpoint, oldest first.
func (s *Server) MCPCalls() []MCPCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]MCPCall(nil), s.mcpCalls...)
}

// ResourceMetadataURL is where the MCP endpoint's RFC 9728 metadata is
// served (404 with Options.NoMetadata).
func (s *Server) ResourceMetadataURL() string {
	return s.url + "/.well-known/oauth-protected-resource/mcp"
}

// Protocol versions the MCP endpoint speaks, newest first.
var mcpVersions = []string{"2025-06-18", "2025-03-26", "2024-11-05"}

// handleResourceMetadata serves RFC 9728 protected-resource metadata.
func (s *Server) handleResourceMetadata(w http.ResponseWriter, r *http.Request) {
	if s.opts.NoMetadata {
		http.NotFound(w, r)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"resource":                 s.MCPURL(),
		"authorization_servers":    []string{s.Authority() + "/v2.0"},
		"scopes_supported":         []string{s.Scope()},
		"bearer_methods_supported": []string{"header"},
		"resource_name":            "entrasim MCP demo API",
	})
}

// unauthorized answers 401 like APIM's validate-jwt policy, with the
// WWW-Authenticate challenge the MCP spec asks for.
func (s *Server) unauthorized(w http.ResponseWriter, invalid bool) {
	var params []string
	if invalid {
		params = append(params, `error="invalid_token"`)
	}
	if !s.opts.NoMetadata {
		params = append(params, `resource_metadata="`+s.ResourceMetadataURL()+`"`)
	}
	challenge := "Bearer"
	if len(params) > 0 {
		challenge += " " + strings.Join(params, ", ")
	}
	w.Header().Set("WWW-Authenticate", challenge)
	writeJSON(w, http.StatusUnauthorized, map[string]any{
		"statusCode": http.StatusUnauthorized,
		"message":    "Unauthorized. Access token is missing or invalid.",
	})
}

// bearer returns the token of an "Authorization: Bearer" header.
func bearer(r *http.Request) (string, bool) {
	scheme, tok, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

// rpcMessage is a JSON-RPC 2.0 message from the client.
type rpcMessage struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id,omitempty"`
	Method  string          `json:"method,omitempty"`
	Params  json.RawMessage `json:"params,omitempty"`
	Result  json.RawMessage `json:"result,omitempty"`
	Error   json.RawMessage `json:"error,omitempty"`
}

type rpcError struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
}

type rpcResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Result  any             `json:"result,omitempty"`
	Error   *rpcError       `json:"error,omitempty"`
}

// handleMCP is the protected Streamable HTTP MCP endpoint. Every request
// needs a valid bearer token first (like APIM in front of the server).
func (s *Server) handleMCP(w http.ResponseWriter, r *http.Request) {
	sw := &statusWriter{ResponseWriter: w}
	call := MCPCall{Time: time.Now(), HTTPMethod: r.Method, SessionID: r.Header.Get("Mcp-Session-Id")}
	defer func() {
		call.Status = sw.status
		if call.Status == 0 {
			call.Status = http.StatusOK
		}
		s.mu.Lock()
		s.mcpCalls = append(s.mcpCalls, call)
		s.mu.Unlock()
		s.log.Debug("entrasim mcp", "method", call.Method, "status", call.Status, "authorized", call.Authorized, "reason", call.Reason)
	}()

	raw, ok := bearer(r)
	if !ok {
		call.Reason = "missing token"
		s.unauthorized(sw, false)
		return
	}
	call.Token = Fingerprint(raw)
	tc := s.checkToken(raw)
	call.Audience, call.Username, call.ExpiresAt, call.Reason = tc.Audience, tc.Username, tc.Expires, tc.Reason
	if tc.Reason != "" {
		s.unauthorized(sw, true)
		return
	}
	if challenge, why := s.caeCheck(unverifiedClaims(raw)); challenge != "" {
		call.Reason = why
		sw.Header().Set("WWW-Authenticate", challenge)
		writeJSON(sw, http.StatusUnauthorized, map[string]any{"statusCode": http.StatusUnauthorized, "message": "Unauthorized. " + why + "."})
		return
	}
	call.Authorized = true

	switch r.Method {
	case http.MethodPost:
		s.serveRPC(sw, r, &call, tc)
	case http.MethodDelete:
		s.mu.Lock()
		known := s.sessions[call.SessionID]
		delete(s.sessions, call.SessionID)
		s.mu.Unlock()
		if !known {
			http.NotFound(sw, r)
			return
		}
		sw.WriteHeader(http.StatusNoContent)
	default:
		sw.Header().Set("Allow", "POST, DELETE")
		http.Error(sw, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// serveRPC answers one JSON-RPC message.
func (s *Server) serveRPC(w http.ResponseWriter, r *http.Request, call *MCPCall, tc tokenCheck) {
	accept := r.Header.Get("Accept")
	if accept != "" && !strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/event-stream") && !strings.Contains(accept, "*/*") {
		http.Error(w, "Not Acceptable: Client must accept application/json or text/event-stream", http.StatusNotAcceptable)
		return
	}
	if call.SessionID != "" {
		s.mu.Lock()
		known := s.sessions[call.SessionID]
		s.mu.Unlock()
		if !known {
			writeJSON(w, http.StatusNotFound, rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{Code: -32001, Message: "Session not found"}})
			return
		}
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "reading body", http.StatusBadRequest)
		return
	}
	trimmed := strings.TrimSpace(string(body))
	if strings.HasPrefix(trimmed, "[") {
		writeJSON(w, http.StatusBadRequest, rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{Code: -32600, Message: "Invalid Request: batches are not supported"}})
		return
	}
	var msg rpcMessage
	if err := json.Unmarshal(body, &msg); err != nil || msg.JSONRPC != "2.0" {
		writeJSON(w, http.StatusBadRequest, rpcResponse{JSONRPC: "2.0", ID: json.RawMessage("null"), Error: &rpcError{Code: -32700, Message: "Parse error"}})
		return
	}
	call.Method = msg.Method
	if msg.Method == "" || len(msg.ID) == 0 || string(msg.ID) == "null" {
		// A notification or a response to the server: accepted, no body.
		w.WriteHeader(http.StatusAccepted)
		return
	}
	resp := rpcResponse{JSONRPC: "2.0", ID: msg.ID}
	switch msg.Method {
	case "initialize":
		var p struct {
			ProtocolVersion string `json:"protocolVersion"`
		}
		_ = json.Unmarshal(msg.Params, &p)
		version := mcpVersions[0]
		for _, v := range mcpVersions {
			if v == p.ProtocolVersion {
				version = v
			}
		}
		sid := newUUID()
		s.mu.Lock()
		s.sessions[sid] = true
		s.mu.Unlock()
		w.Header().Set("Mcp-Session-Id", sid)
		call.SessionID = sid
		resp.Result = map[string]any{
			"protocolVersion": version,
			"capabilities":    map[string]any{"tools": map[string]any{"listChanged": false}},
			"serverInfo":      map[string]any{"name": "entrasim-mcp", "version": "1.0.0"},
			"instructions":    "Demo API behind a simulated Azure API Management gateway.",
		}
	case "ping":
		resp.Result = map[string]any{}
	case "tools/list":
		resp.Result = map[string]any{"tools": []map[string]any{
			{
				"name":        "whoami",
				"description": "Tells who the bearer token belongs to and what it is for.",
				"inputSchema": map[string]any{"type": "object", "properties": map[string]any{}},
			},
			{
				"name":        "echo",
				"description": "Returns its text.",
				"inputSchema": map[string]any{
					"type":       "object",
					"properties": map[string]any{"text": map[string]any{"type": "string"}},
					"required":   []string{"text"},
				},
			},
		}}
	case "tools/call":
		if challenge, why := s.scopeCheck(tc.Scopes); challenge != "" {
			call.Authorized, call.Reason = false, why
			w.Header().Set("WWW-Authenticate", challenge)
			writeJSON(w, http.StatusForbidden, map[string]any{"statusCode": http.StatusForbidden, "message": "Forbidden. " + why + "."})
			return
		}
		var p struct {
			Name      string         `json:"name"`
			Arguments map[string]any `json:"arguments"`
		}
		_ = json.Unmarshal(msg.Params, &p)
		switch p.Name {
		case "whoami":
			who, _ := json.Marshal(map[string]string{
				"upn": tc.Username, "aud": tc.Audience, "scp": tc.Scopes,
				"exp": tc.Expires.UTC().Format(time.RFC3339),
			})
			resp.Result = toolText(string(who))
		case "echo":
			text, _ := p.Arguments["text"].(string)
			resp.Result = toolText(text)
		default:
			resp.Error = &rpcError{Code: -32602, Message: fmt.Sprintf("Unknown tool: %s", p.Name)}
		}
	default:
		resp.Error = &rpcError{Code: -32601, Message: "Method not found"}
	}

	s.mu.Lock()
	sse := s.sse
	s.mu.Unlock()
	if sse && strings.Contains(accept, "text/event-stream") {
		call.SSE = true
		b, _ := json.Marshal(resp)
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Cache-Control", "no-cache")
		w.WriteHeader(http.StatusOK)
		fmt.Fprintf(w, "event: message\nid: %s\ndata: %s\n\n", newUUID(), b)
		return
	}
	writeJSON(w, http.StatusOK, resp)
}

func toolText(text string) map[string]any {
	return map[string]any{
		"content": []map[string]any{{"type": "text", "text": text}},
		"isError": false,
	}
}
