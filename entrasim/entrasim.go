// Package entrasim is an Entra ID (v2.0 endpoints) simulator on loopback
// TLS that the real MSAL Go public client cannot tell from Entra for the
// broker's flows, plus a protected MCP endpoint that stands in for Azure API
// Management. Tests, CI and `broker demo` use it in-process; cmd/entrasim
// runs it standalone.
//
// What it imitates: OpenID discovery, JWKS, authorize with
// response_mode=form_post (an auto-submitting form, which Browse posts like
// a browser would), the token endpoint for authorization_code with PKCE,
// refresh_token and device_code, the device-code endpoint that MSAL derives
// from the token URL, id_token and client_info, RS256 access tokens with a
// random 60–90 minute lifetime, the Graph audience when no API scope is
// asked, AADSTS error bodies, and fault injection (5xx, 429, delay, outage,
// revoked refresh tokens, a queued AADSTS error). For unattended agents
// (clientcred.go): the client_credentials grant with a client assertion
// signed by a registered certificate or issued by a trusted external
// issuer (a federated credential), and an App Service managed-identity
// endpoint; their app tokens carry roles, not scp.
//
// Refresh tokens follow Entra: each use returns a new refresh token and the
// old one keeps working (Entra does not revoke used refresh tokens). With
// Options.StrictRotation an old refresh token is refused after its first
// use, so tests can prove that a client persisted the rotated one.
//
// Expiry with MSAL: MSAL treats a cached access token with 5 minutes or
// less left as expired and does not even cache one that arrives with 300 s
// or less. A lifetime of 5m+N s (303 s in the tests) gives a token MSAL
// caches and that becomes due N seconds later, so a silent call then
// redeems the refresh token. A forced refresh is a silent call with a
// claims challenge; the simulator always answers it with new tokens.
//
// Every method of Server is safe for concurrent use.
package entrasim

import (
	"context"
	"crypto/rsa"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"
)

// Defaults of Options.
const (
	DefaultTenantID     = "5f3e2c71-9a4b-4d8e-b0c6-2e7d1a9f4b38"
	DefaultTenantDomain = "contoso.onmicrosoft.com"
	DefaultClientID     = "b7c4e1d2-6f3a-4a8b-9c5d-1e2f3a4b5c6d"
	DefaultAPIAudience  = "api://mcp-demo-api"
	DefaultAPIAppID     = "3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68"
	DefaultUsername     = "alice@contoso.com"
)

// Options configure a Server. Zero values take the defaults.
type Options struct {
	// Addr to listen on, default "127.0.0.1:0".
	Addr string
	// Hostname is the host the simulator announces in its URLs; default
	// the listening IP address. "localhost" (also in its certificate) is
	// for Go on Windows, which does not match IP addresses against a
	// certificate verified by the system (golang/go#37176).
	Hostname string
	// TenantID is the tenant GUID. Paths accept it, TenantDomain,
	// "organizations" and "common"; others get AADSTS90002.
	TenantID     string
	TenantDomain string
	// ClientID is the registered public client; others get AADSTS700016.
	ClientID string
	// APIAudience is the API's App ID URI; its scopes are
	// APIAudience+"/.default" and APIAudience+"/"+ each of APIScopes.
	APIAudience string
	// APIScopes are the delegated scopes the API exposes, default
	// DefaultAPIScopes; the user has consented to the first (scopes.go).
	APIScopes []string
	// APIAppID is the API's application (client) ID, the aud of its v2
	// tokens.
	APIAppID string
	// TokenVersion is the API registration's requestedAccessTokenVersion:
	// 2 (the default, as Entra recommends for new APIs) gives tokens with
	// iss URL()/TENANT/v2.0 and aud APIAppID; 1 gives iss
	// https://sts.windows.net/TENANT/ and aud APIAudience. Graph tokens
	// are v1 whatever this says, as in Entra.
	TokenVersion int
	// Username is the user who signs in (preferred_username, upn).
	Username string
	// Lifetime of access tokens; 0 draws a random 60–90 minutes per token
	// like Entra. MSAL does not cache tokens of 300 s or less.
	Lifetime time.Duration
	// NoMetadata stops the MCP endpoint from publishing RFC 9728
	// protected-resource metadata (and from naming it in its 401s).
	NoMetadata bool
	// MCPSSE makes the MCP endpoint answer requests as a text/event-stream
	// (when the client accepts it) instead of application/json.
	MCPSSE bool
	// StrictRotation refuses a refresh token after its first use
	// (invalid_grant AADSTS70000). Entra itself keeps old ones valid.
	StrictRotation bool
	// AutoApproveDevice approves every device code as soon as it is made.
	AutoApproveDevice bool
	// DeviceInterval is the polling interval announced for device codes,
	// default 5 s. With EnforceDeviceInterval, faster polls get slow_down.
	DeviceInterval        time.Duration
	EnforceDeviceInterval bool
	// DeviceCodeLifetime, default 15 minutes; then expired_token.
	DeviceCodeLifetime time.Duration
	// Logger receives one line per request (never a token). Default: none.
	Logger *slog.Logger
}

// Request is one request to the authority endpoints, without secrets.
type Request struct {
	Time      time.Time
	Method    string
	Path      string
	GrantType string // token endpoint only
	Scope     string // as sent, for authorize, devicecode and token
	Claims    bool   // a claims parameter was sent
	Status    int
}

// Server is a running simulator. Close it when done.
type Server struct {
	opts Options
	log  *slog.Logger
	pki  *pki
	url  string
	oid  string
	ln   net.Listener
	srv  *http.Server
	// transport is shared by the clients HTTPClient returns.
	transport *http.Transport

	otherKeyOnce sync.Once
	otherKeyVal  *rsa.PrivateKey

	mu            sync.Mutex
	lifetime      time.Duration
	delay         time.Duration
	outage        bool
	outageStatus  int
	failN         int
	failStatus    int
	throttleN     int
	retryAfter    time.Duration
	queued        []*aadError
	strict        bool
	sse           bool
	untrusted     bool // present a certificate of a CA nobody trusts
	conns         map[net.Conn]bool
	tokenRequests int
	requests      []Request
	mcpCalls      []MCPCall
	codes         map[string]*authCode
	refresh       map[string]*refreshGrant
	devices       map[string]*deviceGrant // by device_code
	userCodes     map[string]string       // user_code -> device_code
	sessions      map[string]bool
	// Conditional Access and CAE (cae.go).
	authContext string
	revokedAt   time.Time
	issued      map[string]bool // uti of the tokens issued since the last RevokeSessions
	revoked     map[string]bool // uti of the tokens it revoked
	// Scopes and consent (scopes.go).
	consented     map[string]bool // the API's scopes the user consented to
	requiredScope string          // the scope tool calls need ("" for none)
	// Confidential apps and managed identities (clientcred.go).
	reg appRegistry
	fed federation
}

// Start listens, generates the CA, TLS certificate and signing key, and
// serves in a goroutine. It returns once the server accepts connections.
func Start(opts Options) (*Server, error) {
	setDefaults(&opts)
	p, err := newPKI()
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", opts.Addr)
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", opts.Addr, err)
	}
	s := &Server{
		opts:      opts,
		log:       opts.Logger,
		pki:       p,
		url:       announcedURL(ln.Addr(), opts.Hostname),
		oid:       nameUUID(opts.Username),
		transport: transportForCA(p.caPool),
		ln:        ln,
		lifetime:  opts.Lifetime,
		strict:    opts.StrictRotation,
		sse:       opts.MCPSSE,
		codes:     map[string]*authCode{},
		refresh:   map[string]*refreshGrant{},
		devices:   map[string]*deviceGrant{},
		userCodes: map[string]string{},
		sessions:  map[string]bool{},
		conns:     map[net.Conn]bool{},
		consented: map[string]bool{opts.APIScopes[0]: true},
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	s.srv = &http.Server{
		Handler:           s.routes(),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		TLSConfig:         &tls.Config{GetCertificate: s.certificate, MinVersion: tls.VersionTLS12},
		ConnState:         s.track,
	}
	go func() {
		if err := s.srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("entrasim serve", "err", err)
		}
	}()
	s.log.Info("entrasim started", "url", s.url, "tenant", opts.TenantID, "client_id", opts.ClientID)
	return s, nil
}

// announcedURL is https://HOST:PORT for the listener, HOST the hostname
// when given.
func announcedURL(addr net.Addr, hostname string) string {
	if hostname == "" {
		return "https://" + addr.String()
	}
	_, port, _ := net.SplitHostPort(addr.String())
	return "https://" + net.JoinHostPort(hostname, port)
}

func setDefaults(o *Options) {
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	if o.TenantID == "" {
		o.TenantID = DefaultTenantID
	}
	o.TenantID = strings.ToLower(o.TenantID)
	if o.TenantDomain == "" {
		o.TenantDomain = DefaultTenantDomain
	}
	if len(o.APIScopes) == 0 {
		o.APIScopes = DefaultAPIScopes
	}
	if o.ClientID == "" {
		o.ClientID = DefaultClientID
	}
	if o.APIAudience == "" {
		o.APIAudience = DefaultAPIAudience
	}
	o.APIAudience = strings.TrimSuffix(o.APIAudience, "/")
	if o.APIAppID == "" {
		o.APIAppID = DefaultAPIAppID
	}
	o.APIAppID = strings.ToLower(o.APIAppID)
	if o.TokenVersion == 0 {
		o.TokenVersion = 2
	}
	if o.Username == "" {
		o.Username = DefaultUsername
	}
	if o.DeviceInterval <= 0 {
		o.DeviceInterval = 5 * time.Second
	}
	if o.DeviceCodeLifetime <= 0 {
		o.DeviceCodeLifetime = 15 * time.Minute
	}
}

// URL is the authority host, "https://127.0.0.1:PORT" (or the Hostname
// of the options in place of the address); the tenant goes
// after it (the profile's authority).
func (s *Server) URL() string { return s.url }

// TenantID is the tenant GUID.
func (s *Server) TenantID() string { return s.opts.TenantID }

// TenantDomain is the tenant's domain name, accepted in paths.
func (s *Server) TenantDomain() string { return s.opts.TenantDomain }

// ClientID is the registered public client.
func (s *Server) ClientID() string { return s.opts.ClientID }

// APIAudience is the API's App ID URI: its scopes start with it, and it
// is the aud of v1 tokens.
func (s *Server) APIAudience() string { return s.opts.APIAudience }

// APIAppID is the API's application (client) ID, the aud of v2 tokens.
func (s *Server) APIAppID() string { return s.opts.APIAppID }

// TokenVersion is 1 or 2: the shape of the API's access tokens.
func (s *Server) TokenVersion() int { return s.opts.TokenVersion }

// TokenAudience is the aud of the API's access tokens: APIAppID for v2,
// APIAudience for v1.
func (s *Server) TokenAudience() string {
	if s.opts.TokenVersion == 1 {
		return s.opts.APIAudience
	}
	return s.opts.APIAppID
}

// TokenIssuer is the iss of the API's access tokens: URL()/TENANT/v2.0 for
// v2, https://sts.windows.net/TENANT/ for v1.
func (s *Server) TokenIssuer() string {
	if s.opts.TokenVersion == 1 {
		return s.v1Issuer()
	}
	return s.issuer()
}

// Username is the user who signs in.
func (s *Server) Username() string { return s.opts.Username }

// Authority is URL()+"/"+TenantID(), what MSAL takes as its authority.
func (s *Server) Authority() string { return s.url + "/" + s.opts.TenantID }

// Scope is the API's .default scope.
func (s *Server) Scope() string { return s.opts.APIAudience + "/.default" }

// MCPURL is the protected MCP endpoint.
func (s *Server) MCPURL() string { return s.url + "/mcp" }

// Close stops the server at once, dropping open connections.
func (s *Server) Close() error {
	s.transport.CloseIdleConnections()
	return s.srv.Close()
}

// SetLifetime sets the lifetime of access tokens issued from now on; 0
// means random 60–90 minutes.
func (s *Server) SetLifetime(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lifetime = d
}

func (s *Server) nextLifetime() time.Duration {
	s.mu.Lock()
	d := s.lifetime
	s.mu.Unlock()
	if d == 0 {
		d = time.Duration(3600+rand.IntN(1801)) * time.Second
	}
	return d
}

// FailNext makes the next n token requests answer status (5xx) with an
// Entra-shaped error body.
func (s *Server) FailNext(n int, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.failStatus = n, status
}

// Throttle makes the next n token requests answer 429 with Retry-After.
func (s *Server) Throttle(n int, retryAfter time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.throttleN, s.retryAfter = n, retryAfter
}

// SetDelay slows every request to the authority endpoints (discovery,
// keys, authorize, devicecode, token) by d; 0 turns it off. A client that
// gives up early sees its own timeout.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetOutage makes every request to the authority endpoints (discovery,
// keys, authorize, devicecode, token) fail with status (default 503) until
// it is turned off.
func (s *Server) SetOutage(on bool, status int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if status == 0 {
		status = http.StatusServiceUnavailable
	}
	s.outage, s.outageStatus = on, status
}

// SetStrictRotation turns strict refresh-token rotation on or off (see
// Options.StrictRotation).
func (s *Server) SetStrictRotation(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.strict = on
}

// SetUntrustedCert makes the server present (on) a certificate from a CA
// that nobody trusts, as a captive portal or an unknown TLS-inspecting
// proxy does, or (off) its usual one again. Connections are not kept
// alive meanwhile, so that clients meet the change at their next request.
func (s *Server) SetUntrustedCert(on bool) error {
	if on {
		if _, err := s.pki.rogueCert(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	s.untrusted = on
	s.mu.Unlock()
	// While untrusted, every request needs a new handshake; the
	// connections open now are cut, as a network change does.
	s.srv.SetKeepAlivesEnabled(!on)
	s.mu.Lock()
	conns := s.conns
	s.conns = map[net.Conn]bool{}
	s.mu.Unlock()
	for c := range conns {
		c.Close()
	}
	return nil
}

// track keeps the open connections, for SetUntrustedCert.
func (s *Server) track(c net.Conn, st http.ConnState) {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateNew:
		s.conns[c] = true
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	}
}

// certificate is the TLS certificate of a handshake.
func (s *Server) certificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	s.mu.Lock()
	untrusted := s.untrusted
	s.mu.Unlock()
	if untrusted {
		return s.pki.rogueCert()
	}
	return &s.pki.leaf, nil
}

// SetMCPSSE makes the MCP endpoint answer as text/event-stream (on) or
// application/json (off).
func (s *Server) SetMCPSSE(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sse = on
}

// RevokeRefreshTokens revokes every refresh token issued so far: they now
// get invalid_grant AADSTS50173. Tokens issued later work.
func (s *Server) RevokeRefreshTokens() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, g := range s.refresh {
		g.revoked = true
	}
}

// QueueError makes the next token request that no other fault caught
// answer this AADSTS error, with the HTTP status Entra uses for oauthError
// (400, 401 for invalid_client, 500 server_error, 503
// temporarily_unavailable), Entra's description when the code is known,
// and a claims challenge for MFA and Conditional Access codes. Several
// queued errors are answered in order.
func (s *Server) QueueError(aadsts int, oauthError, suberror string) {
	var args []any
	switch aadsts {
	case 700016:
		args = []any{s.opts.ClientID, s.opts.TenantDomain}
	case 90002:
		args = []any{s.opts.TenantDomain}
	case 500011:
		args = []any{s.opts.APIAudience, s.opts.TenantDomain}
	case 650053:
		args = []any{"access_as_user", s.opts.APIAudience}
	case 28000:
		args = []any{s.Scope()}
	case 50011:
		args = []any{"http://localhost", s.opts.ClientID}
	case 900144:
		args = []any{"scope"}
	}
	e := newAADError(aadsts, oauthError, args...)
	e.Suberror = suberror
	if needsClaims(aadsts, oauthError) {
		e.Claims = interactionClaims
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.queued = append(s.queued, e)
}

// TokenRequests is the number of POSTs the token endpoint received,
// faulted ones included.
func (s *Server) TokenRequests() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.tokenRequests
}

// Requests returns the log of requests to the authority endpoints, oldest
// first.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// ResetLog forgets the request and MCP-call logs and the token request
// count.
func (s *Server) ResetLog() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests, s.mcpCalls, s.tokenRequests = nil, nil, 0
}

// tokenFault returns the fault to answer a token request with, if any,
// consuming counted faults.
func (s *Server) tokenFault() *aadError {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.throttleN > 0:
		s.throttleN--
		e := faultError(http.StatusTooManyRequests)
		e.RetryAfter = s.retryAfter
		return e
	case s.failN > 0:
		s.failN--
		return faultError(s.failStatus)
	case len(s.queued) > 0:
		e := s.queued[0]
		s.queued = s.queued[1:]
		return e
	}
	return nil
}

// authorityGate applies the delay and the outage to a request to an
// authority endpoint. It reports whether the request may go on.
func (s *Server) authorityGate(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	delay, outage, status := s.delay, s.outage, s.outageStatus
	s.mu.Unlock()
	if delay > 0 && waitCtx(r.Context(), delay) != nil {
		return false
	}
	if outage {
		faultError(status).write(w, r.Header.Get("client-request-id"))
		return false
	}
	return true
}

// statusWriter remembers the status of a response.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// logged wraps an authority handler: it records the request (without
// secrets) and applies the delay and outage.
func (s *Server) logged(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		sw := &statusWriter{ResponseWriter: w}
		req := Request{Time: time.Now(), Method: r.Method, Path: r.URL.Path}
		if r.Method == http.MethodPost {
			_ = r.ParseForm()
			req.GrantType = r.PostForm.Get("grant_type")
			req.Scope = r.PostForm.Get("scope")
			req.Claims = r.PostForm.Get("claims") != ""
		} else {
			req.Scope = r.URL.Query().Get("scope")
			req.Claims = r.URL.Query().Get("claims") != ""
		}
		if strings.HasSuffix(r.URL.Path, "/oauth2/v2.0/token") && r.Method == http.MethodPost {
			s.mu.Lock()
			s.tokenRequests++
			s.mu.Unlock()
		}
		if s.authorityGate(sw, r) {
			h(sw, r)
		}
		if sw.status == 0 {
			sw.status = http.StatusOK
		}
		req.Status = sw.status
		s.mu.Lock()
		s.requests = append(s.requests, req)
		s.mu.Unlock()
		s.log.Debug("entrasim request", "method", req.Method, "path", req.Path, "grant_type", req.GrantType, "status", req.Status)
	}
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{tenant}/v2.0/.well-known/openid-configuration", s.logged(s.handleDiscovery))
	mux.HandleFunc("GET /{tenant}/discovery/v2.0/keys", s.logged(s.handleKeys))
	mux.HandleFunc("/{tenant}/oauth2/v2.0/authorize", s.logged(s.handleAuthorize))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/token", s.logged(s.handleToken))
	mux.HandleFunc("POST /{tenant}/oauth2/v2.0/devicecode", s.logged(s.handleDeviceCode))
	mux.HandleFunc("/devicelogin", s.logged(s.handleDeviceLogin))
	mux.HandleFunc("GET /msi/token", s.logged(s.handleManagedIdentity))
	mux.HandleFunc("GET /federation/.well-known/openid-configuration", s.handleFederationDiscovery)
	mux.HandleFunc("GET /federation/keys", s.handleFederationKeys)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource/mcp", s.handleResourceMetadata)
	mux.HandleFunc("GET /.well-known/oauth-protected-resource", s.handleResourceMetadata)
	mux.HandleFunc("/mcp", s.handleMCP)
	s.azureCLIRoutes(mux) // azcli.go
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, "404 page not found\n")
	})
	return mux
}

// waitCtx sleeps d or until ctx ends.
func waitCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// ProfileTOML returns a config.toml profile named name that signs in
// against this simulator.
func (s *Server) ProfileTOML(name string) string {
	return fmt.Sprintf(`[profiles.%s]
tenant = %q
client_id = %q
scopes = [%q]
authority = %q
login = "browser"
login_hint = %q
`, name, s.opts.TenantID, s.opts.ClientID, s.Scope(), s.url, s.opts.Username)
}
