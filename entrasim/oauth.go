package entrasim

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// authCode is an issued authorization code.
type authCode struct {
	clientID    string
	redirectURI string
	challenge   string
	method      string
	nonce       string
	expires     time.Time
	used        bool
}

// refreshGrant is what the simulator knows of an issued refresh token.
type refreshGrant struct {
	clientID string
	issued   time.Time
	used     bool
	revoked  bool
}

// deviceGrant is a pending device-code sign-in.
type deviceGrant struct {
	clientID string
	scope    string // as asked for at the devicecode endpoint
	userCode string
	expires  time.Time
	approved bool
	lastPoll time.Time
}

// resolveTenant maps a tenant path segment to the tenant GUID.
func (s *Server) resolveTenant(seg string) (string, bool) {
	switch strings.ToLower(seg) {
	case s.opts.TenantID, strings.ToLower(s.opts.TenantDomain), "organizations", "common":
		return s.opts.TenantID, true
	}
	return "", false
}

// writeJSON sends v as Entra sends JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// discovery is the OpenID configuration document, in Entra's field order.
type discovery struct {
	TokenEndpoint                     string   `json:"token_endpoint"`
	TokenEndpointAuthMethodsSupported []string `json:"token_endpoint_auth_methods_supported"`
	JWKSURI                           string   `json:"jwks_uri"`
	ResponseModesSupported            []string `json:"response_modes_supported"`
	SubjectTypesSupported             []string `json:"subject_types_supported"`
	IDTokenSigningAlgValuesSupported  []string `json:"id_token_signing_alg_values_supported"`
	ResponseTypesSupported            []string `json:"response_types_supported"`
	ScopesSupported                   []string `json:"scopes_supported"`
	Issuer                            string   `json:"issuer"`
	RequestURIParameterSupported      bool     `json:"request_uri_parameter_supported"`
	UserinfoEndpoint                  string   `json:"userinfo_endpoint"`
	AuthorizationEndpoint             string   `json:"authorization_endpoint"`
	DeviceAuthorizationEndpoint       string   `json:"device_authorization_endpoint"`
	HTTPLogoutSupported               bool     `json:"http_logout_supported"`
	FrontchannelLogoutSupported       bool     `json:"frontchannel_logout_supported"`
	EndSessionEndpoint                string   `json:"end_session_endpoint"`
	ClaimsSupported                   []string `json:"claims_supported"`
	KerberosEndpoint                  string   `json:"kerberos_endpoint"`
	TenantRegionScope                 string   `json:"tenant_region_scope"`
	CloudInstanceName                 string   `json:"cloud_instance_name"`
	CloudGraphHostName                string   `json:"cloud_graph_host_name"`
	MSGraphHost                       string   `json:"msgraph_host"`
	RBACURL                           string   `json:"rbac_url"`
}

// handleDiscovery serves /{tenant}/v2.0/.well-known/openid-configuration.
// Like Entra, a tenant given by name resolves to its GUID in the endpoints;
// "common" and "organizations" keep their name and the issuer carries the
// {tenantid} placeholder. Like Entra, there is no code_challenge_methods
// field even though PKCE S256 is supported.
func (s *Server) handleDiscovery(w http.ResponseWriter, r *http.Request) {
	seg := r.PathValue("tenant")
	tid, ok := s.resolveTenant(seg)
	if !ok {
		e := newAADError(90002, "invalid_tenant", seg)
		e.write(w, r.Header.Get("client-request-id"))
		return
	}
	pathTenant, issuer := tid, s.url+"/"+tid+"/v2.0"
	if l := strings.ToLower(seg); l == "common" || l == "organizations" {
		pathTenant, issuer = l, s.url+"/{tenantid}/v2.0"
	}
	base := s.url + "/" + pathTenant
	writeJSON(w, http.StatusOK, discovery{
		TokenEndpoint:                     base + "/oauth2/v2.0/token",
		TokenEndpointAuthMethodsSupported: []string{"client_secret_post", "private_key_jwt", "client_secret_basic"},
		JWKSURI:                           base + "/discovery/v2.0/keys",
		ResponseModesSupported:            []string{"query", "fragment", "form_post"},
		SubjectTypesSupported:             []string{"pairwise"},
		IDTokenSigningAlgValuesSupported:  []string{"RS256"},
		ResponseTypesSupported:            []string{"code", "id_token", "code id_token", "id_token token"},
		ScopesSupported:                   []string{"openid", "profile", "email", "offline_access"},
		Issuer:                            issuer,
		RequestURIParameterSupported:      false,
		UserinfoEndpoint:                  s.url + "/oidc/userinfo",
		AuthorizationEndpoint:             base + "/oauth2/v2.0/authorize",
		DeviceAuthorizationEndpoint:       base + "/oauth2/v2.0/devicecode",
		HTTPLogoutSupported:               true,
		FrontchannelLogoutSupported:       true,
		EndSessionEndpoint:                base + "/oauth2/v2.0/logout",
		ClaimsSupported:                   []string{"sub", "iss", "cloud_instance_name", "cloud_instance_host_name", "cloud_graph_host_name", "msgraph_host", "aud", "exp", "iat", "auth_time", "acr", "nonce", "preferred_username", "name", "tid", "ver", "at_hash", "c_hash", "email"},
		KerberosEndpoint:                  base + "/kerberos",
		TenantRegionScope:                 "EU",
		CloudInstanceName:                 "microsoftonline.com",
		CloudGraphHostName:                "graph.windows.net",
		MSGraphHost:                       "graph.microsoft.com",
		RBACURL:                           "https://pas.windows.net",
	})
}

// handleKeys serves the JWKS.
func (s *Server) handleKeys(w http.ResponseWriter, r *http.Request) {
	if _, ok := s.resolveTenant(r.PathValue("tenant")); !ok {
		newAADError(90002, "invalid_tenant", r.PathValue("tenant")).write(w, r.Header.Get("client-request-id"))
		return
	}
	writeJSON(w, http.StatusOK, s.jwks())
}

// grantScopes is the outcome of reading a scope parameter.
type grantScopes struct {
	requested []string // as sent, without duplicates, order kept
	audience  string
	scp       []string
	named     []string // the API's scopes asked for by name (not .default)
	offline   bool
	openid    bool
	// acrs and capabilities come from the claims parameter (cae.go).
	acrs, capabilities []string
}

// resourceError is Entra v2's answer to an RFC 8707 resource parameter
// since 2026: accepted only when it equals the Application ID URI of the
// API whose scopes are asked for, AADSTS9010010 otherwise (before 2026:
// AADSTS901002 for any resource). nil when there is none.
func (s *Server) resourceError(resource, scope string) *aadError {
	if resource == "" {
		return nil
	}
	api := strings.ToLower(s.opts.APIAudience)
	if strings.EqualFold(strings.TrimSuffix(resource, "/"), api) {
		for _, sc := range strings.Fields(scope) {
			if strings.HasPrefix(strings.ToLower(sc), api+"/") {
				return nil
			}
		}
	}
	return newAADError(9010010, "invalid_target")
}

// parseScopes reads a scope parameter like Entra: one resource per
// request; the API's .default or access_as_user give an API token, Graph
// scopes (bare names such as User.Read, or only openid/profile) give a
// Graph token; an unknown resource is AADSTS500011, an unknown scope of a
// known resource AADSTS650053, two resources AADSTS28000.
func (s *Server) parseScopes(raw string) (grantScopes, *aadError) {
	var g grantScopes
	seen := map[string]bool{}
	resources := map[string]bool{}
	var graph []string
	apiPrefix := strings.ToLower(s.opts.APIAudience) + "/"
	for _, sc := range strings.Fields(raw) {
		l := strings.ToLower(sc)
		if seen[l] {
			continue
		}
		seen[l] = true
		g.requested = append(g.requested, sc)
		switch {
		case l == "openid":
			g.openid = true
		case l == "offline_access":
			g.offline = true
		case l == "profile" || l == "email":
		case strings.HasPrefix(l, apiPrefix):
			resources["api"] = true
			name := sc[len(apiPrefix):]
			switch {
			case name == ".default":
			case s.exposed(name) != "":
				g.named = append(g.named, s.exposed(name))
			default:
				e := newAADError(650053, "invalid_client", name, s.opts.APIAudience)
				return g, e
			}
		case strings.HasPrefix(l, "https://graph.microsoft.com/"), strings.HasPrefix(l, GraphAudience+"/"):
			resources["graph"] = true
			var name string
			if strings.HasPrefix(l, "https://") {
				name = sc[len("https://graph.microsoft.com/"):]
			} else {
				name = sc[len(GraphAudience)+1:]
			}
			if name != ".default" {
				graph = append(graph, name)
			}
		case strings.Contains(l, "/"):
			res := sc[:strings.LastIndex(sc, "/")]
			return g, newAADError(500011, "invalid_resource", res, s.opts.TenantDomain)
		default:
			resources["graph"] = true
			graph = append(graph, sc)
		}
	}
	if len(g.requested) == 0 {
		return g, newAADError(900144, "invalid_request", "scope")
	}
	if len(resources) > 1 {
		return g, newAADError(28000, "invalid_scope", strings.Join(g.requested, " "))
	}
	if seen[apiPrefix+".default"] && len(g.named) > 0 {
		// .default does not mix with other scopes of the same API.
		return g, newAADError(70011, "invalid_scope")
	}
	if resources["api"] {
		g.audience = s.TokenAudience() // scp: at issue, the consented scopes
		return g, nil
	}
	g.audience = GraphAudience
	g.scp = append([]string{"openid", "profile", "email", "User.Read"}, graph...)
	g.scp = dedupFold(g.scp)
	return g, nil
}

func dedupFold(in []string) []string {
	seen := map[string]bool{}
	out := in[:0]
	for _, v := range in {
		if !seen[strings.ToLower(v)] {
			seen[strings.ToLower(v)] = true
			out = append(out, v)
		}
	}
	return out
}

// validRedirect reports whether uri is a loopback redirect URI of the
// "Mobile and desktop" platform: http://localhost or http://127.0.0.1,
// any port, no path.
func validRedirect(uri string) bool {
	u, err := url.Parse(uri)
	if err != nil || u.Scheme != "http" || u.RawQuery != "" || u.Fragment != "" {
		return false
	}
	if h := u.Hostname(); h != "localhost" && h != "127.0.0.1" {
		return false
	}
	return u.Path == "" || u.Path == "/"
}

// errorPage is Entra's "we're having trouble signing you in" page, for
// errors that cannot go back to the redirect URI.
func errorPage(w http.ResponseWriter, e *aadError) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(http.StatusBadRequest)
	fmt.Fprintf(w, `<!DOCTYPE html>
<html><head><title>Sign in to your account</title></head>
<body><div id="error"><p>Sorry, but we're having trouble signing you in.</p>
<p id="aadsts">AADSTS%d: %s</p></div></body></html>
`, e.Code, html.EscapeString(e.Message))
}

// formPost is the auto-submitting page Entra answers with when
// response_mode=form_post.
func formPost(w http.ResponseWriter, action string, fields [][2]string) {
	var b strings.Builder
	fmt.Fprintf(&b, `<html><head><title>Working...</title></head><body><form method="POST" name="hiddenform" action="%s">`, html.EscapeString(action))
	for _, f := range fields {
		fmt.Fprintf(&b, `<input type="hidden" name="%s" value="%s" />`, html.EscapeString(f[0]), html.EscapeString(f[1]))
	}
	b.WriteString(`<noscript><p>Script is disabled. Click Submit to continue.</p><input type="submit" value="Submit" /></noscript></form><script language="javascript">document.forms[0].submit();</script></body></html>`)
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store, no-cache")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(b.String()))
}

// handleAuthorize serves the authorization endpoint. The user is always
// signed in already (a browser session), so a valid request answers at
// once with the form_post page that carries the code to the redirect URI.
func (s *Server) handleAuthorize(w http.ResponseWriter, r *http.Request) {
	if err := r.ParseForm(); err != nil {
		errorPage(w, newAADError(9002313, "invalid_request"))
		return
	}
	q := r.Form
	seg := r.PathValue("tenant")
	if _, ok := s.resolveTenant(seg); !ok {
		errorPage(w, newAADError(90002, "invalid_tenant", seg))
		return
	}
	clientID := q.Get("client_id")
	switch {
	case clientID == "":
		errorPage(w, newAADError(900144, "invalid_request", "client_id"))
		return
	case !strings.EqualFold(clientID, s.opts.ClientID):
		errorPage(w, newAADError(700016, "unauthorized_client", clientID, seg))
		return
	}
	redirect := q.Get("redirect_uri")
	if !validRedirect(redirect) {
		errorPage(w, newAADError(50011, "invalid_request", redirect, clientID))
		return
	}
	mode := q.Get("response_mode")
	if mode == "" {
		mode = "query"
	}
	state := q.Get("state")
	fail := func(e *aadError) {
		desc := fmt.Sprintf("AADSTS%d: %s Trace ID: %s Correlation ID: %s Timestamp: %s", e.Code, e.Message, newUUID(), newUUID(), time.Now().UTC().Format("2006-01-02 15:04:05Z"))
		fields := [][2]string{{"error", e.Error}, {"error_description", desc}, {"error_uri", fmt.Sprintf("https://login.microsoftonline.com/error?code=%d", e.Code)}}
		if state != "" {
			fields = append(fields, [2]string{"state", state})
		}
		s.answerAuthorize(w, r, redirect, mode, fields)
	}
	if e := s.resourceError(q.Get("resource"), q.Get("scope")); e != nil {
		fail(e)
		return
	}
	if rt := q.Get("response_type"); rt != "code" {
		e := newAADError(900144, "unsupported_response_type", "response_type")
		if rt != "" {
			e.Message = fmt.Sprintf("The provided value for the input parameter 'response_type' is not allowed for this request. Expected value: 'code'. Supplied value: '%s'.", rt)
		}
		fail(e)
		return
	}
	challenge, method := q.Get("code_challenge"), q.Get("code_challenge_method")
	if challenge != "" {
		if method == "" {
			method = "plain"
		}
		if method != "S256" && method != "plain" {
			e := newAADError(9002313, "invalid_request")
			e.Message = "Invalid request. The code_challenge_method '" + method + "' is not supported."
			fail(e)
			return
		}
	}
	if _, e := s.parseScopes(q.Get("scope")); e != nil {
		fail(e)
		return
	}
	code := "1.A" + randomToken(96)
	s.mu.Lock()
	s.codes[code] = &authCode{
		clientID:    clientID,
		redirectURI: redirect,
		challenge:   challenge,
		method:      method,
		nonce:       q.Get("nonce"),
		expires:     time.Now().Add(10 * time.Minute),
	}
	s.mu.Unlock()
	fields := [][2]string{{"code", code}}
	if state != "" {
		fields = append(fields, [2]string{"state", state})
	}
	fields = append(fields, [2]string{"session_state", newUUID()})
	s.answerAuthorize(w, r, redirect, mode, fields)
}

// answerAuthorize returns the authorize result to the client: a form_post
// page, or a redirect with the fields in the query or fragment.
func (s *Server) answerAuthorize(w http.ResponseWriter, r *http.Request, redirect, mode string, fields [][2]string) {
	if mode == "form_post" {
		formPost(w, redirect, fields)
		return
	}
	v := url.Values{}
	for _, f := range fields {
		v.Add(f[0], f[1])
	}
	sep := "?"
	if mode == "fragment" {
		sep = "#"
	}
	http.Redirect(w, r, redirect+sep+v.Encode(), http.StatusFound)
}

// tokenResponse is a successful token response, in Entra's field order.
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope"`
	ExpiresIn    int    `json:"expires_in"`
	ExtExpiresIn int    `json:"ext_expires_in"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// handleToken serves the token endpoint.
func (s *Server) handleToken(w http.ResponseWriter, r *http.Request) {
	corr := r.Header.Get("client-request-id")
	seg := r.PathValue("tenant")
	if _, ok := s.resolveTenant(seg); !ok {
		newAADError(90002, "invalid_request", seg).write(w, corr)
		return
	}
	if e := s.tokenFault(); e != nil {
		e.write(w, corr)
		return
	}
	f := r.PostForm
	if f.Get("grant_type") == "client_credentials" {
		s.clientCredentials(w, f, seg, corr) // clientcred.go
		return
	}
	clientID := f.Get("client_id")
	resErr := s.resourceError(f.Get("resource"), f.Get("scope"))
	switch {
	case clientID == "":
		newAADError(900144, "invalid_request", "client_id").write(w, corr)
		return
	case !strings.EqualFold(clientID, s.opts.ClientID):
		newAADError(700016, "unauthorized_client", clientID, seg).write(w, corr)
		return
	case f.Get("client_secret") != "" || f.Get("client_assertion") != "":
		e := newAADError(700025, "invalid_client")
		e.Message = "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
		e.write(w, corr)
		return
	case resErr != nil:
		resErr.write(w, corr)
		return
	case f.Get("claims") != "" && !json.Valid([]byte(f.Get("claims"))):
		e := newAADError(9002313, "invalid_request")
		e.Message = "Invalid request. The claims parameter is not valid JSON."
		e.write(w, corr)
		return
	}
	var nonce string
	scope := f.Get("scope")
	switch gt := f.Get("grant_type"); gt {
	case "authorization_code":
		n, e := s.redeemCode(f)
		if e != nil {
			e.write(w, corr)
			return
		}
		nonce = n
	case "refresh_token":
		if e := s.redeemRefresh(f); e != nil {
			e.write(w, corr)
			return
		}
	case "device_code", "urn:ietf:params:oauth:grant-type:device_code":
		// MSAL Go sends "device_code"; RFC 8628 clients send the URN.
		sc, e := s.redeemDevice(f)
		if e != nil {
			e.write(w, corr)
			return
		}
		if scope == "" {
			// RFC 8628 and Entra need no scope here (MSAL Python, in az,
			// sends none): the device code's own.
			scope = sc
		}
	case "":
		newAADError(900144, "invalid_request", "grant_type").write(w, corr)
		return
	default:
		e := newAADError(70003, "unsupported_grant_type")
		e.Message = "The app requested an unsupported grant type '" + gt + "'."
		e.write(w, corr)
		return
	}
	g, e := s.parseScopes(scope)
	if e != nil {
		e.write(w, corr)
		return
	}
	if g.audience == s.TokenAudience() {
		if f.Get("grant_type") == "refresh_token" {
			// A scope nobody consented to needs the user.
			if missing := s.notConsented(g.named); len(missing) > 0 {
				e := newAADError(65001, "invalid_grant")
				e.Suberror = "consent_required"
				e.write(w, corr)
				return
			}
		} else {
			s.consent(g.named) // the user consents on the sign-in page
		}
		g.scp = s.consentedScopes()
	}
	cr := parseClaimsRequest(f.Get("claims"))
	if len(cr.acrs) > 0 && f.Get("grant_type") == "refresh_token" {
		// An authentication context stands for a step-up the user makes.
		e := newAADError(50076, "interaction_required")
		e.Suberror, e.Claims = "basic_action", f.Get("claims")
		e.write(w, corr)
		return
	}
	g.acrs, g.capabilities = cr.acrs, cr.capabilities
	s.issue(w, g, f.Get("client_info") == "1", nonce)
}

// redeemCode checks an authorization_code grant and uses the code up.
func (s *Server) redeemCode(f url.Values) (nonce string, _ *aadError) {
	code := f.Get("code")
	if code == "" {
		return "", newAADError(900144, "invalid_request", "code")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	c, ok := s.codes[code]
	switch {
	case !ok:
		return "", newAADError(9002313, "invalid_grant")
	case c.used:
		return "", newAADError(54005, "invalid_grant")
	case time.Now().After(c.expires):
		return "", newAADError(70008, "invalid_grant")
	case !strings.EqualFold(c.clientID, f.Get("client_id")):
		return "", newAADError(70000, "invalid_grant")
	case f.Get("redirect_uri") != c.redirectURI:
		e := newAADError(70000, "invalid_grant")
		e.Message = "Provided grant is invalid or malformed. The redirect_uri does not match the one used in the authorization request."
		return "", e
	}
	if c.challenge != "" {
		v := f.Get("code_verifier")
		if v == "" {
			return "", newAADError(900144, "invalid_request", "code_verifier")
		}
		got := v
		if c.method == "S256" {
			sum := sha256.Sum256([]byte(v))
			got = base64.RawURLEncoding.EncodeToString(sum[:])
		}
		if got != c.challenge {
			return "", newAADError(50148, "invalid_grant")
		}
	}
	c.used = true
	return c.nonce, nil
}

// redeemRefresh checks a refresh_token grant. The old refresh token stays
// valid unless strict rotation is on.
func (s *Server) redeemRefresh(f url.Values) *aadError {
	rt := f.Get("refresh_token")
	if rt == "" {
		return newAADError(900144, "invalid_request", "refresh_token")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	g, ok := s.refresh[rt]
	switch {
	case !ok:
		return newAADError(9002313, "invalid_grant")
	case g.revoked:
		return newAADError(50173, "invalid_grant")
	case !strings.EqualFold(g.clientID, f.Get("client_id")):
		e := newAADError(70000, "invalid_grant")
		e.Message = "Provided grant is invalid or malformed. The refresh token was issued to a different client."
		return e
	case g.used && s.strict:
		e := newAADError(70000, "invalid_grant")
		e.Message = "Provided grant is invalid or malformed. The refresh token was already redeemed (entrasim strict rotation)."
		return e
	}
	g.used = true
	return nil
}

// redeemDevice checks a device_code grant and returns its scope.
func (s *Server) redeemDevice(f url.Values) (string, *aadError) {
	dc := f.Get("device_code")
	if dc == "" {
		return "", newAADError(900144, "invalid_request", "device_code")
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	d, ok := s.devices[dc]
	if !ok {
		return "", newAADError(9002313, "invalid_grant")
	}
	last := d.lastPoll
	d.lastPoll = now
	switch {
	case now.After(d.expires):
		delete(s.devices, dc)
		delete(s.userCodes, d.userCode)
		return "", newAADError(70020, "expired_token")
	case !strings.EqualFold(d.clientID, f.Get("client_id")):
		return "", newAADError(70000, "invalid_grant")
	case s.opts.EnforceDeviceInterval && !last.IsZero() && now.Sub(last) < s.opts.DeviceInterval:
		e := newAADError(70016, "slow_down")
		e.Message = "OAuth 2.0 device flow error. Polling too frequently. Slow down."
		return "", e
	case !d.approved:
		return "", newAADError(70016, "authorization_pending")
	}
	delete(s.devices, dc)
	delete(s.userCodes, d.userCode)
	return d.scope, nil
}

// issue sends a successful token response for g.
func (s *Server) issue(w http.ResponseWriter, g grantScopes, withClientInfo bool, nonce string) {
	now := time.Now()
	life := s.nextLifetime()
	resp := tokenResponse{
		TokenType:    "Bearer",
		Scope:        strings.Join(g.requested, " "),
		ExpiresIn:    int(life / time.Second),
		ExtExpiresIn: int(life / time.Second),
	}
	c := s.accessClaims(g.audience, g.scp, now, now.Add(life))
	if len(g.acrs) > 0 {
		c["acrs"] = g.acrs
	}
	if len(g.capabilities) > 0 {
		c["xms_cc"] = g.capabilities
	}
	resp.AccessToken = s.sign(c, s.pki.signKey)
	if g.offline {
		rt := "1.A" + randomToken(180)
		s.mu.Lock()
		s.refresh[rt] = &refreshGrant{clientID: s.opts.ClientID, issued: now}
		s.mu.Unlock()
		resp.RefreshToken = rt
	}
	if g.openid {
		resp.IDToken = s.idToken(now, nonce)
	}
	if withClientInfo {
		resp.ClientInfo = s.clientInfo()
	}
	writeJSON(w, http.StatusOK, resp)
}

// deviceCodeResponse is the device authorization response.
type deviceCodeResponse struct {
	UserCode        string `json:"user_code"`
	DeviceCode      string `json:"device_code"`
	VerificationURI string `json:"verification_uri"`
	ExpiresIn       int    `json:"expires_in"`
	Interval        int    `json:"interval"`
	Message         string `json:"message"`
}

// handleDeviceCode serves /{tenant}/oauth2/v2.0/devicecode, the URL MSAL
// derives by replacing "token" in the token endpoint.
func (s *Server) handleDeviceCode(w http.ResponseWriter, r *http.Request) {
	corr := r.Header.Get("client-request-id")
	seg := r.PathValue("tenant")
	if _, ok := s.resolveTenant(seg); !ok {
		newAADError(90002, "invalid_request", seg).write(w, corr)
		return
	}
	f := r.PostForm
	clientID := f.Get("client_id")
	resErr := s.resourceError(f.Get("resource"), f.Get("scope"))
	switch {
	case clientID == "":
		newAADError(900144, "invalid_request", "client_id").write(w, corr)
		return
	case !strings.EqualFold(clientID, s.opts.ClientID):
		newAADError(700016, "unauthorized_client", clientID, seg).write(w, corr)
		return
	case resErr != nil:
		resErr.write(w, corr)
		return
	}
	if _, e := s.parseScopes(f.Get("scope")); e != nil {
		e.write(w, corr)
		return
	}
	dc := "DAQABIQEAAA" + randomToken(96)
	uc := userCode()
	verify := s.url + "/devicelogin"
	s.mu.Lock()
	s.devices[dc] = &deviceGrant{
		clientID: clientID,
		scope:    f.Get("scope"),
		userCode: uc,
		expires:  time.Now().Add(s.opts.DeviceCodeLifetime),
		approved: s.opts.AutoApproveDevice,
	}
	s.userCodes[uc] = dc
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, deviceCodeResponse{
		UserCode:        uc,
		DeviceCode:      dc,
		VerificationURI: verify,
		ExpiresIn:       int(s.opts.DeviceCodeLifetime / time.Second),
		Interval:        int(s.opts.DeviceInterval / time.Second),
		Message:         fmt.Sprintf("To sign in, use a web browser to open the page %s and enter the code %s to authenticate.", verify, uc),
	})
}

// userCode is a 9-character code like Entra's, without look-alike letters.
func userCode() string {
	const alphabet = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
	b := make([]byte, 9)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	for i := range b {
		b[i] = alphabet[int(b[i])%len(alphabet)]
	}
	return string(b)
}

// ApproveDeviceCode does what the user does on the device-login page:
// enters userCode and signs in. Dashes, spaces and case are ignored.
func (s *Server) ApproveDeviceCode(userCode string) error {
	uc := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(userCode))
	s.mu.Lock()
	defer s.mu.Unlock()
	dc, ok := s.userCodes[uc]
	if !ok {
		return fmt.Errorf("entrasim: unknown or expired user code %q", userCode)
	}
	d := s.devices[dc]
	if time.Now().After(d.expires) {
		return fmt.Errorf("entrasim: user code %q has expired", userCode)
	}
	d.approved = true
	return nil
}

// handleDeviceLogin is the verification page: GET shows a form, POST with
// otc=CODE approves it.
func (s *Server) handleDeviceLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	if r.Method == http.MethodPost {
		if err := s.ApproveDeviceCode(r.PostForm.Get("otc")); err != nil {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, "<html><body><p>That code didn't work. Check the code and try again.</p></body></html>\n")
			return
		}
		fmt.Fprintf(w, "<html><body><p>You have signed in to the application on your device. You may now close this window.</p></body></html>\n")
		return
	}
	fmt.Fprintf(w, `<html><head><title>Enter code</title></head><body><form method="POST" action="/devicelogin"><p>Enter code</p><input name="otc" type="text" /><input type="submit" value="Next" /></form></body></html>
`)
}
