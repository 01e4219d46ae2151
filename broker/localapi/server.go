// Package localapi is the daemon's local API: HTTP/JSON over a Unix socket
// (a named pipe on Windows) that only the same user can reach. It serves
// the current token and headers, status, sign-in, sign-out, refresh-now,
// sync and a stream of status events for the tray; Client is its other
// end, used by `broker token`, `headers`, `status`, `login` and `sync`.
//
// Endpoints (all under /v1/, profile and min_validity as query values):
//
//	GET  token      {"access_token", "expires_on", "account", "tenant", "audience", "scopes"}
//	GET  headers    {"Authorization": "Bearer …"}; server and server_url name
//	                the asking MCP server (see ServerTokener)
//	GET  status     state.Status
//	POST sign-in, sign-out, refresh, sync, cache-changed, reload   {}
//	GET  events     text/event-stream; one "data: <status>" per change
//
// Errors are {"error", "hint", "class", "retry_after_ms", "path", "line",
// "col"} with a 4xx/5xx status; the client turns them back into
// *auth.Error and *config.Error so that exit codes survive the hop.
package localapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Backend is what the API serves; *daemon.Daemon satisfies it. Its methods
// must be safe for concurrent use.
type Backend interface {
	Status() state.Status
	Subscribe() (<-chan struct{}, func())
	Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error)
	SignIn(ctx context.Context, profile string) error
	SignOut(ctx context.Context, profile string) error
	RefreshNow(ctx context.Context, profile string) error
	Sync(ctx context.Context, profile string) error
	CacheChanged()
	// Reload reads the config file again and returns when the daemon
	// uses it (or why it cannot).
	Reload(ctx context.Context) error
}

// ServerTokener is implemented by backends that replace a token a named
// server asks for again at once (*daemon.Daemon): the headers and token
// endpoints use it when the request names the server.
type ServerTokener interface {
	TokenFor(ctx context.Context, profile, server, url string, minValidity time.Duration) (token.Token, error)
}

// Challenger is implemented by backends that answer an API's claims
// challenge (*daemon.Daemon): POST /v1/challenge, which the bridge and the
// proxy send when a server refuses a valid token with
// error="insufficient_claims".
type Challenger interface {
	Challenge(ctx context.Context, profile, server, claims string) (token.Token, error)
}

// ScopeChallenger is implemented by backends that answer an API's scope
// challenge (*daemon.Daemon): POST /v1/scope-challenge, which the bridge
// and the proxy send when a server refuses a valid token with 403 and
// error="insufficient_scope".
type ScopeChallenger interface {
	ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error)
}

// DefaultMinValidity is what token and headers ask for when the caller
// names nothing (DESIGN.md: "valid" means at least 5 minutes left).
const DefaultMinValidity = 5 * time.Minute

// heartbeat keeps an idle event stream visibly alive.
const heartbeat = 30 * time.Second

// Server serves a Backend.
type Server struct {
	b   Backend
	log *slog.Logger
	hs  *http.Server
}

// NewServer returns a server for b; log gets events (never tokens).
func NewServer(b Backend, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{b: b, log: log}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /v1/token", s.token)
	mux.HandleFunc("GET /v1/headers", s.headers)
	mux.HandleFunc("GET /v1/status", s.status)
	mux.HandleFunc("GET /v1/events", s.events)
	mux.HandleFunc("POST /v1/sign-in", s.action(b.SignIn))
	mux.HandleFunc("POST /v1/sign-out", s.action(b.SignOut))
	mux.HandleFunc("POST /v1/refresh", s.action(b.RefreshNow))
	mux.HandleFunc("POST /v1/sync", s.action(b.Sync))
	mux.HandleFunc("POST /v1/reload", s.action(func(ctx context.Context, _ string) error { return b.Reload(ctx) }))
	mux.HandleFunc("POST /v1/challenge", s.challenge)
	mux.HandleFunc("POST /v1/scope-challenge", s.scopeChallenge)
	mux.HandleFunc("POST /v1/cache-changed", func(w http.ResponseWriter, r *http.Request) {
		b.CacheChanged()
		writeJSON(w, http.StatusOK, struct{}{})
	})
	s.hs = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelDebug)}
	return s
}

// Serve answers on l until ctx ends; then it stops accepting, lets
// requests in progress finish (up to 5 s) and returns nil.
func (s *Server) Serve(ctx context.Context, l net.Listener) error {
	s.hs.BaseContext = func(net.Listener) context.Context { return ctx }
	errc := make(chan error, 1)
	go func() { errc <- s.hs.Serve(l) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.hs.Shutdown(sctx); err != nil {
		s.hs.Close()
	}
	<-errc
	return nil
}

func (s *Server) token(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.getToken(w, r)
	if !ok {
		return
	}
	writeToken(w, tok)
}

// writeToken answers 200 with tok.
func writeToken(w http.ResponseWriter, tok token.Token) {
	writeJSON(w, http.StatusOK, tokenJSON{
		AccessToken: tok.Value.Reveal(),
		ExpiresOn:   tok.ExpiresOn.Unix(),
		Account:     tok.Account,
		Tenant:      tok.Tenant,
		Audience:    tok.Audience,
		Scopes:      tok.Scopes,
	})
}

// challenge answers POST /v1/challenge?profile=P&server=S with the claims
// (JSON) in the body: a token that carries them, or why not.
func (s *Server) challenge(w http.ResponseWriter, r *http.Request) {
	c, ok := s.b.(Challenger)
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if !ok || err != nil || !json.Valid(body) {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "the body must be the claims (JSON) of a challenge"})
		return
	}
	q := r.URL.Query()
	tok, err := c.Challenge(r.Context(), q.Get("profile"), q.Get("server"), string(body))
	if err != nil {
		s.log.Debug("local api: challenge not met", "profile", q.Get("profile"), "server", q.Get("server"), "err", err)
		writeError(w, err)
		return
	}
	writeToken(w, tok)
}

// scopeChallenge answers POST /v1/scope-challenge?profile=P&server=S&scope=…
// (one scope parameter per scope): a token for the profile's scopes and
// these, or why not.
func (s *Server) scopeChallenge(w http.ResponseWriter, r *http.Request) {
	c, ok := s.b.(ScopeChallenger)
	q := r.URL.Query()
	if !ok || len(q["scope"]) == 0 {
		writeJSON(w, http.StatusBadRequest, errorJSON{Error: "name the scopes of the challenge (scope=…)"})
		return
	}
	tok, err := c.ScopeChallenge(r.Context(), q.Get("profile"), q.Get("server"), q["scope"])
	if err != nil {
		s.log.Debug("local api: scope challenge not met", "profile", q.Get("profile"), "server", q.Get("server"), "err", err)
		writeError(w, err)
		return
	}
	writeToken(w, tok)
}

func (s *Server) headers(w http.ResponseWriter, r *http.Request) {
	tok, ok := s.getToken(w, r)
	if !ok {
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"Authorization": "Bearer " + tok.Value.Reveal()})
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request) (token.Token, bool) {
	q := r.URL.Query()
	minValidity := DefaultMinValidity
	if v := q.Get("min_validity"); v != "" {
		d, err := time.ParseDuration(v)
		if err != nil || d < 0 {
			writeError(w, &config.Error{Message: fmt.Sprintf("invalid min_validity %q", v), Hint: "a duration such as 5m"})
			return token.Token{}, false
		}
		minValidity = d
	}
	var tok token.Token
	var err error
	if st, ok := s.b.(ServerTokener); ok && q.Get("server") != "" {
		tok, err = st.TokenFor(r.Context(), q.Get("profile"), q.Get("server"), q.Get("server_url"), minValidity)
	} else {
		tok, err = s.b.Token(r.Context(), q.Get("profile"), minValidity)
	}
	if err != nil {
		s.log.Debug("local api: token refused", "profile", q.Get("profile"), "err", err)
		writeError(w, err)
		return token.Token{}, false
	}
	s.log.Debug("local api: token given", "endpoint", r.URL.Path, "profile", q.Get("profile"))
	return tok, true
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, s.b.Status())
}

func (s *Server) action(f func(context.Context, string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if err := f(r.Context(), r.URL.Query().Get("profile")); err != nil {
			writeError(w, err)
			return
		}
		writeJSON(w, http.StatusOK, struct{}{})
	}
}

// events streams the status: once at once, then after every change.
func (s *Server) events(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		writeError(w, errors.New("streaming unsupported"))
		return
	}
	ch, stop := s.b.Subscribe()
	defer stop()
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	send := func() bool {
		b, err := json.Marshal(s.b.Status())
		if err != nil {
			return false
		}
		if _, err := fmt.Fprintf(w, "event: status\ndata: %s\n\n", b); err != nil {
			return false
		}
		fl.Flush()
		return true
	}
	if !send() {
		return
	}
	t := time.NewTicker(heartbeat)
	defer t.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-ch:
			if !send() {
				return
			}
		case <-t.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
			fl.Flush()
		}
	}
}

// tokenJSON is the token endpoint's answer.
type tokenJSON struct {
	AccessToken string   `json:"access_token"`
	ExpiresOn   int64    `json:"expires_on"`
	Account     string   `json:"account,omitempty"`
	Tenant      string   `json:"tenant,omitempty"`
	Audience    string   `json:"audience,omitempty"`
	Scopes      []string `json:"scopes,omitempty"`
}

// errorJSON is every error's answer.
type errorJSON struct {
	Error        string `json:"error"`
	Hint         string `json:"hint,omitempty"`
	Class        string `json:"class"`
	RetryAfterMS int64  `json:"retry_after_ms,omitempty"`
	Code         string `json:"code,omitempty"`
	Path         string `json:"path,omitempty"`
	Line         int    `json:"line,omitempty"`
	Col          int    `json:"col,omitempty"`
}

// Error classes on the wire.
const (
	classConfig  = "config"
	classUnknown = "unknown"
)

func writeError(w http.ResponseWriter, err error) {
	e := errorJSON{Error: err.Error(), Class: classUnknown}
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		e.Hint = h.HintText()
	}
	code := http.StatusInternalServerError
	var ce *config.Error
	var ae *auth.Error
	switch {
	case errors.As(err, &ce):
		e.Class, e.Path, e.Line, e.Col = classConfig, ce.Path, ce.Line, ce.Col
		e.Error = ce.Message
		code = http.StatusBadRequest
	case errors.Is(err, context.DeadlineExceeded):
		e.Class = auth.ClassTemporary.String()
		code = http.StatusGatewayTimeout
	default:
		switch c := auth.ClassOf(err); c {
		case auth.ClassSignInRequired:
			e.Class, code = c.String(), http.StatusUnauthorized
		case auth.ClassTemporary:
			e.Class, code = c.String(), http.StatusServiceUnavailable
		case auth.ClassMisconfigured:
			e.Class, code = c.String(), http.StatusBadRequest
		}
		if errors.As(err, &ae) {
			e.RetryAfterMS = ae.RetryAfter.Milliseconds()
			e.Code = ae.Code
		}
	}
	writeJSON(w, code, e)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	b, _ := json.Marshal(v)
	w.Write(append(b, '\n'))
}

// decodeError turns an error answer back into a classified error.
func decodeError(status int, body []byte) error {
	var e errorJSON
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		return fmt.Errorf("the daemon answered %d: %s", status, strings.TrimSpace(string(body)))
	}
	switch e.Class {
	case classConfig:
		return &config.Error{Path: e.Path, Line: e.Line, Col: e.Col, Message: e.Error, Hint: e.Hint}
	case auth.ClassSignInRequired.String():
		return &auth.Error{Class: auth.ClassSignInRequired, Code: e.Code, Message: e.Error, Hint: e.Hint, Err: auth.ErrSignInRequired}
	case auth.ClassTemporary.String():
		return &auth.Error{Class: auth.ClassTemporary, Code: e.Code, Message: e.Error, Hint: e.Hint, RetryAfter: time.Duration(e.RetryAfterMS) * time.Millisecond}
	case auth.ClassMisconfigured.String():
		return &auth.Error{Class: auth.ClassMisconfigured, Code: e.Code, Message: e.Error, Hint: e.Hint}
	}
	if e.Hint != "" {
		return &hinted{msg: e.Error, hint: e.Hint}
	}
	return errors.New(e.Error)
}

type hinted struct{ msg, hint string }

func (h *hinted) Error() string    { return h.msg }
func (h *hinted) HintText() string { return h.hint }
