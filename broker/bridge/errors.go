package bridge

import (
	"context"
	"encoding/json"
	"errors"
	"net"
	"net/url"
	"strings"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
)

// errorData is the data member of the bridge's own JSON-RPC errors, for
// clients and scripts that look deeper than the message.
type errorData struct {
	// Reason is sign_in_required, token_unavailable, unauthorized,
	// http_status, unreachable or failed.
	Reason string `json:"reason"`
	URL    string `json:"url"`
	Status int    `json:"status,omitempty"`
	Hint   string `json:"hint,omitempty"`
}

// rpcError turns a failure to forward a request into the JSON-RPC error
// the client gets: it says what is wrong and what to do, never fakes a
// result.
func (b *Bridge) rpcError(err error) *jsonrpc.Error {
	d := errorData{Reason: "failed", URL: b.url}
	code := int64(CodeUpstream)
	var msg string
	var te *TokenError
	var ue *UnauthorizedError
	var se *StatusError
	var urlErr *url.Error
	switch {
	case errors.As(err, &te) && auth.ClassOf(te.Err) == auth.ClassSignInRequired:
		code, d.Reason, d.Hint = CodeSignInRequired, "sign_in_required", b.hint
		msg = "sign-in required for the MCP server at " + b.url + ": " + b.hint + ", then try again"
		if te.Challenge != "" {
			msg = "sign-in required for the MCP server at " + b.url + " (" + te.Challenge + "): " + b.hint + ", then try again"
		}
	case errors.As(err, &te):
		code, d.Reason = CodeNoToken, "token_unavailable"
		msg = "cannot get an access token for the MCP server at " + b.url + ": " + te.Err.Error()
		if h := hintOf(te.Err); h != "" {
			d.Hint = h
			msg += " (" + h + ")"
		}
	case errors.As(err, &ue):
		d.Reason, d.Status = "unauthorized", 401
		d.Hint = "check that the profile's scopes name the API this server expects (`broker doctor --probe`)"
		msg = ue.Error() + "; " + d.Hint
	case errors.As(err, &se):
		d.Reason, d.Status = "http_status", se.Code
		msg = se.Error()
	case errors.Is(err, context.DeadlineExceeded):
		d.Reason = "unreachable"
		msg = "the MCP server at " + b.url + " did not answer in time"
	case errors.As(err, &urlErr):
		d.Reason = "unreachable"
		msg = "cannot reach the MCP server at " + b.url + ": " + netReason(urlErr.Err)
	default:
		msg = "forwarding to the MCP server at " + b.url + " failed: " + err.Error()
	}
	data, _ := json.Marshal(d)
	return &jsonrpc.Error{Code: code, Message: msg, Data: data}
}

func hintOf(err error) string {
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		return h.HintText()
	}
	return ""
}

// netReason says in a few words why a connection failed.
func netReason(err error) string {
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &dnsErr):
		return "unknown host " + dnsErr.Name
	case errors.As(err, &opErr) && opErr.Op == "dial":
		msg := opErr.Err.Error()
		if i := strings.LastIndex(msg, ": "); i >= 0 {
			msg = msg[i+2:]
		}
		return msg
	}
	return err.Error()
}
