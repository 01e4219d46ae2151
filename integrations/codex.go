package integrations

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
	"github.com/mcp-token-broker/mcp-token-broker/files/tomledit"
)

// codexClient is OpenAI Codex CLI: ~/.codex/config.toml (or
// $CODEX_HOME/config.toml), the server [mcp_servers.NAME]. Its HTTP
// servers take url, http_headers, env_http_headers, bearer_token_env_var
// and, since Codex 0.171, http_headers_helper: a command line that Codex
// runs through the shell and whose output is a JSON object of headers.
//
// Helper mode (the default) sets http_headers_helper to `broker headers`.
// Codex 0.171 runs it when it connects, and again when the server answers
// 401 (then it retries the request with the new headers), also in the
// middle of a session: the token rotates without Codex noticing. Header
// mode writes http_headers.Authorization (read when a session starts);
// bridge mode makes the server a stdio one that runs `broker bridge NAME`.
// Other http_headers keys (an APIM subscription key) stay in every mode
// but bridge, which refuses them.
//
// The edits go through files/tomledit: every byte but the managed value
// stays, wherever and however the server is written (a table, dotted
// keys, an inline table).
type codexClient struct{}

func (codexClient) defaultPath(t *Target) (string, error) {
	if d := t.env.getenv("CODEX_HOME"); d != "" {
		return filepath.Join(d, "config.toml"), nil
	}
	return filepath.Join(t.env.Home, ".codex", "config.toml"), nil
}

func (codexClient) modes() []string { return []string{ModeHelper, ModeHeader, ModeBridge} }

func codexServer(t *Target) []string { return []string{"mcp_servers", t.cfg.Server} }

func parseCodex(old []byte, exists bool) (*tomledit.Doc, error) {
	if exists && isBlank(old) {
		return nil, emptyFileError("delete it, or write a comment line into it")
	}
	d, err := tomledit.Parse(old)
	var se *tomledit.SyntaxError
	if errors.As(err, &se) {
		return nil, &FileError{Line: se.Line, Col: se.Col, Msg: se.Msg}
	}
	return d, err
}

// codexState is what the server's entry holds that the broker manages.
type codexState struct {
	defined bool
	headers map[string]any // http_headers
	ours    bool           // http_headers.Authorization is a bearer token
	helper  bool           // http_headers_helper runs `broker headers`
}

func codexStateOf(t *Target, d *tomledit.Doc) (codexState, error) {
	var s codexState
	v, ok := d.Get(codexServer(t)...)
	if !ok {
		return s, nil
	}
	srv, isTable := v.(map[string]any)
	if !isTable {
		return s, fmt.Errorf("mcp_servers.%s is not a table", tomledit.Key(t.cfg.Server))
	}
	s.defined = true
	if h, ok := srv["http_headers"]; ok {
		if s.headers, ok = h.(map[string]any); !ok {
			return s, fmt.Errorf("server %q: http_headers is not a table", t.cfg.Server)
		}
		a, _ := s.headers["Authorization"].(string)
		s.ours = strings.HasPrefix(a, "Bearer ")
	}
	if h, ok := srv["http_headers_helper"].(string); ok {
		s.helper = isBrokerHelper(t, h)
	}
	return s, nil
}

// isBrokerHelper reports whether a helper line runs this broker's
// `headers` (one the broker wrote).
func isBrokerHelper(t *Target, line string) bool {
	return line == helperCommand(t) || strings.HasPrefix(line, shellQuote(t.env.BrokerPath)+" headers")
}

// scrubHeader removes the broker's Authorization from http_headers (the
// whole key when nothing else is in it).
func scrubHeader(t *Target, d *tomledit.Doc, s codexState) (*tomledit.Doc, error) {
	if !s.ours {
		return d, nil
	}
	headers := append(codexServer(t), "http_headers")
	d, _, err := d.Delete(append(headers, "Authorization")...)
	if err != nil {
		return nil, err
	}
	if h, ok := d.Get(headers...); ok {
		if m, ok := h.(map[string]any); ok && len(m) == 0 {
			d, _, err = d.Delete(headers...) // an empty inline table of ours
		}
	}
	return d, err
}

func (c codexClient) apply(t *Target, old []byte, exists bool, tok token.Token) ([]byte, error) {
	d, err := parseCodex(old, exists)
	if err != nil {
		return nil, err
	}
	s, err := codexStateOf(t, d)
	if err != nil {
		return nil, err
	}
	srv := codexServer(t)
	set := func(key []string, value string) {
		if err == nil {
			d, err = d.Set(srv, key, value)
		}
	}
	del := func(key ...string) {
		if err == nil {
			d, _, err = d.Delete(append(append([]string{}, srv...), key...)...)
		}
	}
	if !s.defined {
		if t.cfg.URL == "" {
			return nil, &jsonedit.NotFoundError{Path: srv}
		}
		set([]string{"url"}, tomledit.String(t.cfg.URL))
	}
	switch t.mode {
	case ModeBridge:
		if len(s.headers) > 1 || len(s.headers) == 1 && !s.ours {
			return nil, fmt.Errorf("server %q has other http_headers; the bridge would drop them: remove them or use helper mode", t.cfg.Server)
		}
		if err == nil {
			d, err = scrubHeader(t, d, s)
		}
		if s.helper {
			del("http_headers_helper")
		}
		// A stdio server has no url (Codex refuses a table with both);
		// the bridge takes the URL from the broker's config.
		del("url")
		set([]string{"command"}, tomledit.String(t.env.BrokerPath))
		args := bridgeArgs(t)
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = tomledit.String(a)
		}
		set([]string{"args"}, "["+strings.Join(q, ", ")+"]")
	case ModeHelper:
		// The broker's own header goes through the ledger (Target.Apply);
		// one the user wrote stays.
		set([]string{"http_headers_helper"}, tomledit.String(helperCommand(t)))
	default:
		if s.helper {
			del("http_headers_helper")
		}
		if s.headers == nil {
			set([]string{"http_headers"}, "{ Authorization = "+tomledit.String(bearer(tok))+" }")
		} else {
			set([]string{"http_headers", "Authorization"}, tomledit.String(bearer(tok)))
		}
	}
	if err != nil {
		return nil, fmt.Errorf("editing the TOML: %w", err)
	}
	return d.Bytes(), nil
}

func (c codexClient) entry(t *Target, data []byte) (bool, error) {
	d, err := parseCodex(data, true)
	if err != nil {
		return false, err
	}
	s, err := codexStateOf(t, d)
	return s.defined, err
}
