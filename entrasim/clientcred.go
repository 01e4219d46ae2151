package entrasim

// The client_credentials grant (app tokens for unattended agents and CI
// runners): confidential app registrations that authenticate with a
// certificate (a client assertion signed with the registered certificate's
// key) or with a federated credential (an assertion from a trusted
// external issuer, as GitHub Actions and Kubernetes hand out), and an App
// Service style managed-identity endpoint.

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7515)
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Client assertions and federation.
const (
	// ClientAssertionType is the only client_assertion_type Entra takes.
	ClientAssertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"
	// FederationAudience is the audience Entra requires of a federated
	// credential's assertion by default.
	FederationAudience = "api://AzureADTokenExchange"
	// DefaultAppRole is an app role the API defines, for tests to grant.
	DefaultAppRole = "Tools.Invoke"
)

// ConfidentialApp is a confidential-client app registration in the
// simulator's tenant, with its service principal: what `az ad app create`
// plus `az ad app credential reset --cert` or `az ad app federated-credential
// create` make.
type ConfidentialApp struct {
	// ClientID is the application (client) ID.
	ClientID string
	// Certificates are the DER certificates registered under
	// "Certificates & secrets"; an assertion must be signed by one's key.
	Certificates [][]byte
	// Federated are the federated identity credentials.
	Federated []FederatedCredential
	// Roles are the API's app roles granted to the service principal (by
	// admin consent): the roles claim of its tokens.
	Roles []string
}

// FederatedCredential is one federated identity credential of an app: an
// assertion from Issuer with subject Subject and one of Audiences
// (default FederationAudience) is accepted in place of a secret.
type FederatedCredential struct {
	Issuer    string
	Subject   string
	Audiences []string
}

// ManagedIdentity is a managed identity the simulator's managed-identity
// endpoint hands tokens out for.
type ManagedIdentity struct {
	// ClientID is the identity's application (client) ID.
	ClientID string
	// UserAssigned identities are asked for by client_id; the one
	// system-assigned identity is what a request without one gets.
	UserAssigned bool
	// Roles are the API's app roles granted to the identity.
	Roles []string
}

// appRegistry is what the simulator knows of confidential apps and
// managed identities (guarded by Server.mu).
type appRegistry struct {
	apps       map[string]*ConfidentialApp // by lower-case client ID
	identities []ManagedIdentity
	miHeader   string
}

// federation is the simulator's own external OIDC issuer (a stand-in for
// GitHub Actions or a Kubernetes service-account issuer), made on first use.
type federation struct {
	once sync.Once
	key  *rsa.PrivateKey
	kid  string
}

// RegisterApp adds (or replaces) a confidential app registration.
func (s *Server) RegisterApp(a ConfidentialApp) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg.apps == nil {
		s.reg.apps = map[string]*ConfidentialApp{}
	}
	a.ClientID = strings.ToLower(a.ClientID)
	s.reg.apps[a.ClientID] = &a
}

// AddManagedIdentity adds a managed identity to the managed-identity
// endpoint.
func (s *Server) AddManagedIdentity(mi ManagedIdentity) {
	s.mu.Lock()
	defer s.mu.Unlock()
	mi.ClientID = strings.ToLower(mi.ClientID)
	s.reg.identities = append(s.reg.identities, mi)
}

// ManagedIdentityEnv returns the IDENTITY_ENDPOINT and IDENTITY_HEADER
// values with which MSAL's managedidentity package (its App Service
// source) talks to this simulator.
func (s *Server) ManagedIdentityEnv() (endpoint, header string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reg.miHeader == "" {
		s.reg.miHeader = randomToken(24)
	}
	return s.url + "/msi/token", s.reg.miHeader
}

// FederatedIssuer is the issuer URL of the simulator's external OIDC
// issuer, to register in a FederatedCredential.
func (s *Server) FederatedIssuer() string { return s.url + "/federation" }

// FederatedTokenOpts describe an assertion of the external issuer.
type FederatedTokenOpts struct {
	Subject  string
	Audience string        // default FederationAudience
	Lifetime time.Duration // default 1h; negative gives an expired token
	// Issuer overrides iss (the signature stays the issuer's).
	Issuer string
}

// IssueFederatedToken mints a token of the external issuer: what GitHub
// Actions' OIDC endpoint or a projected Kubernetes service-account token
// holds. It is safe for concurrent use.
func (s *Server) IssueFederatedToken(o FederatedTokenOpts) string {
	f := s.federationKey()
	if o.Audience == "" {
		o.Audience = FederationAudience
	}
	if o.Lifetime == 0 {
		o.Lifetime = time.Hour
	}
	if o.Issuer == "" {
		o.Issuer = s.FederatedIssuer()
	}
	now := time.Now()
	iat := now
	if o.Lifetime < 0 {
		iat = now.Add(o.Lifetime - time.Hour)
	}
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, jwt.MapClaims{
		"iss": o.Issuer, "sub": o.Subject, "aud": o.Audience,
		"iat": iat.Unix(), "nbf": iat.Unix(), "exp": now.Add(o.Lifetime).Unix(),
		"jti": newUUID(),
	})
	t.Header["kid"] = f.kid
	out, err := t.SignedString(f.key)
	if err != nil {
		panic(fmt.Sprintf("entrasim: signing: %v", err))
	}
	return out
}

func (s *Server) federationKey() *federation {
	s.fed.once.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		s.fed.key, s.fed.kid = k, randomToken(12)
	})
	return &s.fed
}

// handleFederationDiscovery and handleFederationKeys serve the external
// issuer's OIDC metadata and keys, as Entra fetches them.
func (s *Server) handleFederationDiscovery(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{
		"issuer":                                s.FederatedIssuer(),
		"jwks_uri":                              s.FederatedIssuer() + "/keys",
		"subject_types_supported":               []string{"public"},
		"response_types_supported":              []string{"id_token"},
		"id_token_signing_alg_values_supported": []string{"RS256"},
	})
}

func (s *Server) handleFederationKeys(w http.ResponseWriter, r *http.Request) {
	f := s.federationKey()
	writeJSON(w, http.StatusOK, map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "use": "sig", "alg": "RS256", "kid": f.kid,
		"n": base64.RawURLEncoding.EncodeToString(f.key.N.Bytes()),
		"e": base64.RawURLEncoding.EncodeToString(big.NewInt(int64(f.key.E)).Bytes()),
	}}})
}

// NewClientCertificate makes a self-signed RSA certificate for a
// confidential app: pemData holds the certificate and its unencrypted
// PKCS#8 key (what MSAL's confidential.CertFromPEM reads), der the
// certificate to register in ConfidentialApp.Certificates.
func NewClientCertificate(commonName string) (pemData, der []byte, err error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, nil, fmt.Errorf("generating key: %w", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: commonName},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err = x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("creating certificate: %w", err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("encoding key: %w", err)
	}
	pemData = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	pemData = append(pemData, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})...)
	return pemData, der, nil
}

// appScope reads the scope of a client_credentials request like Entra:
// exactly one resource's /.default (the OIDC scopes MSAL adds are
// ignored); anything else is AADSTS1002012.
func (s *Server) appScope(raw string) (audience string, _ *aadError) {
	var res []string
	for _, sc := range strings.Fields(raw) {
		switch l := strings.ToLower(sc); {
		case l == "openid", l == "profile", l == "offline_access", l == "email":
		case strings.HasSuffix(l, "/.default"):
			res = append(res, sc[:len(sc)-len("/.default")])
		default:
			return "", newAADError(1002012, "invalid_scope", sc)
		}
	}
	switch {
	case len(res) == 0 && strings.TrimSpace(raw) == "":
		return "", newAADError(900144, "invalid_request", "scope")
	case len(res) == 0:
		return "", newAADError(1002012, "invalid_scope", strings.TrimSpace(raw))
	case len(res) > 1:
		return "", newAADError(28000, "invalid_scope", raw)
	}
	switch r := strings.ToLower(strings.TrimSuffix(res[0], "/")); r {
	case strings.ToLower(s.opts.APIAudience), s.opts.APIAppID:
		return s.TokenAudience(), nil
	case "https://graph.microsoft.com", GraphAudience:
		return GraphAudience, nil
	}
	return "", newAADError(500011, "invalid_resource", res[0], s.opts.TenantDomain)
}

// clientCredentials answers a client_credentials grant. seg is the tenant
// path segment of the request.
func (s *Server) clientCredentials(w http.ResponseWriter, f url.Values, seg, corr string) {
	clientID := strings.ToLower(f.Get("client_id"))
	s.mu.Lock()
	app := s.reg.apps[clientID]
	s.mu.Unlock()
	assertion, aType := f.Get("client_assertion"), f.Get("client_assertion_type")
	switch {
	case clientID == "":
		newAADError(900144, "invalid_request", "client_id").write(w, corr)
		return
	case app == nil && strings.EqualFold(clientID, s.opts.ClientID) && assertion != "":
		e := newAADError(700025, "invalid_client")
		e.Message = "Client is public so neither 'client_assertion' nor 'client_secret' should be presented."
		e.write(w, corr)
		return
	case app == nil && strings.EqualFold(clientID, s.opts.ClientID):
		newAADError(7000218, "invalid_client").write(w, corr)
		return
	case app == nil:
		newAADError(700016, "unauthorized_client", clientID, seg).write(w, corr)
		return
	case f.Get("client_secret") != "":
		newAADError(7000215, "invalid_client").write(w, corr)
		return
	case assertion == "":
		newAADError(7000218, "invalid_client").write(w, corr)
		return
	case aType != ClientAssertionType:
		e := newAADError(9002313, "invalid_request")
		e.Message = "Invalid request. client_assertion_type must be '" + ClientAssertionType + "'."
		e.write(w, corr)
		return
	}
	aud, e := s.appScope(f.Get("scope"))
	if e != nil {
		e.write(w, corr)
		return
	}
	if e := s.checkAssertion(app, assertion); e != nil {
		e.write(w, corr)
		return
	}
	s.issueApp(w, app.ClientID, aud, app.Roles, nil)
}

// checkAssertion validates a client assertion: one signed with a
// registered certificate (iss = sub = the client, aud = the token
// endpoint), or one of a federated credential's issuer.
func (s *Server) checkAssertion(app *ConfidentialApp, raw string) *aadError {
	parsed, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{})
	if err != nil {
		return newAADError(50027, "invalid_request")
	}
	c := parsed.Claims.(jwt.MapClaims)
	iss, _ := c.GetIssuer()
	_, hasX5t := parsed.Header["x5t"]
	_, hasX5tS256 := parsed.Header["x5t#S256"]
	if hasX5t || hasX5tS256 || strings.EqualFold(iss, app.ClientID) {
		return s.checkCertAssertion(app, raw, parsed)
	}
	return s.checkFederatedAssertion(app, raw, c)
}

// checkCertAssertion checks an assertion signed with a certificate.
func (s *Server) checkCertAssertion(app *ConfidentialApp, raw string, parsed *jwt.Token) *aadError {
	cert, thumb := registeredCert(app, parsed.Header)
	if cert == nil {
		e := newAADError(700027, "invalid_client")
		e.Message = fmt.Sprintf("The certificate with identifier used to sign the client assertion is not registered on application. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", thumb, app.ClientID)
		return e
	}
	_, err := jwt.Parse(raw, func(*jwt.Token) (any, error) { return cert.PublicKey, nil },
		jwt.WithValidMethods([]string{"RS256", "PS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		e := newAADError(700027, "invalid_client")
		e.Message = "Client assertion failed signature validation."
		return e
	}
	c := parsed.Claims.(jwt.MapClaims)
	iss, _ := c.GetIssuer()
	sub, _ := c.GetSubject()
	if !strings.EqualFold(iss, app.ClientID) || !strings.EqualFold(sub, app.ClientID) {
		return newAADError(700021, "invalid_client")
	}
	if auds, _ := c.GetAudience(); !slices.ContainsFunc(auds, s.isTokenEndpoint) {
		return newAADError(700023, "invalid_client")
	}
	return assertionTime(c)
}

// registeredCert finds the app's certificate that the header's x5t#S256
// or x5t names. MSAL sends the thumbprint in standard base64, RFC 7515
// says base64url: Entra takes both. The thumbprint is returned for the
// error message.
func registeredCert(app *ConfidentialApp, header map[string]any) (*x509.Certificate, string) {
	decode := func(v any) []byte {
		str, _ := v.(string)
		if b, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(str, "=")); err == nil {
			return b
		}
		b, _ := base64.StdEncoding.DecodeString(str)
		return b
	}
	s256, s1 := decode(header["x5t#S256"]), decode(header["x5t"])
	for _, der := range app.Certificates {
		h256, h1 := sha256.Sum256(der), sha1.Sum(der) //nolint:gosec
		if (len(s256) > 0 && string(s256) == string(h256[:])) || (len(s1) > 0 && string(s1) == string(h1[:])) {
			if cert, err := x509.ParseCertificate(der); err == nil {
				return cert, strings.ToUpper(fmt.Sprintf("%x", h1))
			}
		}
	}
	shown := s1
	if len(shown) == 0 {
		shown = s256
	}
	return nil, strings.ToUpper(fmt.Sprintf("%x", shown))
}

// isTokenEndpoint reports whether aud is the tenant's token endpoint (v2
// or v1, the tenant by ID or domain), the audience of a client assertion.
func (s *Server) isTokenEndpoint(aud string) bool {
	rest, ok := strings.CutPrefix(aud, s.url+"/")
	if !ok {
		return false
	}
	seg, path, _ := strings.Cut(rest, "/")
	if _, ok := s.resolveTenant(seg); !ok || seg == "common" || seg == "organizations" {
		return false
	}
	return path == "oauth2/v2.0/token" || path == "oauth2/token"
}

// assertionTime checks exp and nbf, as AADSTS700024 does.
func assertionTime(c jwt.MapClaims) *aadError {
	now := time.Now()
	exp, _ := c.GetExpirationTime()
	nbf, _ := c.GetNotBefore()
	if exp == nil || now.After(exp.Time) || (nbf != nil && now.Add(5*time.Minute).Before(nbf.Time)) {
		from, until := "(none)", "(none)"
		if nbf != nil {
			from = nbf.UTC().Format(time.RFC3339)
		}
		if exp != nil {
			until = exp.UTC().Format(time.RFC3339)
		}
		return newAADError(700024, "invalid_client", now.UTC().Format(time.RFC3339), from, until)
	}
	return nil
}

// checkFederatedAssertion checks an assertion of an external issuer
// against the app's federated credentials. Only the simulator's own
// issuer (FederatedIssuer) can be verified: others are refused as
// Entra refuses an issuer whose keys it cannot fetch.
func (s *Server) checkFederatedAssertion(app *ConfidentialApp, raw string, c jwt.MapClaims) *aadError {
	iss, _ := c.GetIssuer()
	sub, _ := c.GetSubject()
	auds, _ := c.GetAudience()
	var issuerKnown, subjectKnown bool
	var match *FederatedCredential
	for i := range app.Federated {
		fc := &app.Federated[i]
		if fc.Issuer != iss {
			continue
		}
		issuerKnown = true
		if fc.Subject != sub {
			continue
		}
		subjectKnown = true
		want := fc.Audiences
		if len(want) == 0 {
			want = []string{FederationAudience}
		}
		for _, a := range auds {
			if slices.Contains(want, a) {
				match = fc
			}
		}
	}
	aud := strings.Join(auds, ",")
	switch {
	case !issuerKnown:
		return newAADError(700211, "invalid_client", iss)
	case !subjectKnown:
		return newAADError(700213, "invalid_client", sub)
	case match == nil:
		return newAADError(700212, "invalid_client", aud)
	}
	if iss != s.FederatedIssuer() {
		e := newAADError(50027, "invalid_request")
		e.Message = "JWT token is invalid or malformed. (entrasim verifies only the assertions of its own issuer, " + s.FederatedIssuer() + ".)"
		return e
	}
	f := s.federationKey()
	_, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != f.kid {
			return nil, errors.New("unknown key")
		}
		return &f.key.PublicKey, nil
	}, jwt.WithValidMethods([]string{"RS256"}), jwt.WithoutClaimsValidation())
	if err != nil {
		e := newAADError(700027, "invalid_client")
		e.Message = "Client assertion failed signature validation."
		return e
	}
	return assertionTime(c)
}

// issueApp sends an app token (client credentials or managed identity):
// roles, not scp, no refresh token, no id_token. mi adds the fields of a
// managed identity's answer.
func (s *Server) issueApp(w http.ResponseWriter, clientID, aud string, roles []string, mi *miAnswer) {
	now := time.Now()
	life := s.nextLifetime()
	c := s.appClaims(clientID, aud, roles, now, now.Add(life))
	if mi != nil && mi.resourceID != "" {
		c["xms_mirid"] = mi.resourceID
	}
	at := s.sign(c, s.pki.signKey)
	if mi != nil {
		// App Service's shape (api-version 2019-08-01): expires_on is a
		// string of epoch seconds.
		writeJSON(w, http.StatusOK, map[string]string{
			"access_token": at,
			"expires_on":   strconv.FormatInt(now.Add(life).Unix(), 10),
			"resource":     mi.resource,
			"token_type":   "Bearer",
			"client_id":    clientID,
		})
		return
	}
	writeJSON(w, http.StatusOK, tokenResponse{
		TokenType:    "Bearer",
		ExpiresIn:    int(life / time.Second),
		ExtExpiresIn: int(life / time.Second),
		AccessToken:  at,
	})
}

// appClaims are the claims of an app-only access token: idtyp app, roles,
// the service principal's oid as sub, no user; v1 or v2 as the API's
// registration says (Graph tokens are v1).
func (s *Server) appClaims(clientID, aud string, roles []string, now, exp time.Time) jwt.MapClaims {
	oid := nameUUID("sp:" + clientID)
	c := jwt.MapClaims{
		"aud":   aud,
		"iat":   now.Unix(),
		"nbf":   now.Unix(),
		"exp":   exp.Unix(),
		"aio":   randomToken(24),
		"idtyp": "app",
		"oid":   oid,
		"rh":    "1.A" + randomToken(18) + ".",
		"sub":   oid,
		"tid":   s.opts.TenantID,
		"uti":   randomToken(16),
	}
	if len(roles) > 0 && aud != GraphAudience {
		c["roles"] = roles
	}
	s.issuedToken(c["uti"].(string))
	if aud == GraphAudience || s.opts.TokenVersion == 1 {
		c["iss"], c["idp"] = s.v1Issuer(), s.v1Issuer()
		c["ver"], c["appid"], c["appidacr"] = "1.0", clientID, "2"
		return c
	}
	c["iss"], c["ver"], c["azp"], c["azpacr"] = s.issuer(), "2.0", clientID, "2"
	return c
}

// miAnswer is what a managed-identity answer adds to an app token.
type miAnswer struct {
	resource   string
	resourceID string
}

// miError is the managed-identity endpoint's error body.
func miError(w http.ResponseWriter, status int, msg string) {
	writeJSON(w, status, map[string]any{"statusCode": status, "message": msg, "correlationId": newUUID()})
}

// handleManagedIdentity serves GET /msi/token the way App Service's
// managed-identity endpoint does (api-version 2019-08-01): the
// X-IDENTITY-HEADER secret, resource (an App ID URI, no /.default), and
// client_id for a user-assigned identity.
func (s *Server) handleManagedIdentity(w http.ResponseWriter, r *http.Request) {
	_, header := s.ManagedIdentityEnv()
	q := r.URL.Query()
	if r.Header.Get("X-IDENTITY-HEADER") != header {
		miError(w, http.StatusUnauthorized, "The X-IDENTITY-HEADER header is missing or does not match.")
		return
	}
	if v := q.Get("api-version"); v != "2019-08-01" {
		miError(w, http.StatusBadRequest, "The api-version '"+v+"' is not supported; use 2019-08-01.")
		return
	}
	if q.Get("object_id") != "" || q.Get("mi_res_id") != "" {
		miError(w, http.StatusBadRequest, "entrasim finds user-assigned identities by client_id only.")
		return
	}
	want := strings.ToLower(q.Get("client_id"))
	s.mu.Lock()
	var mi *ManagedIdentity
	for i := range s.reg.identities {
		id := &s.reg.identities[i]
		if (want == "" && !id.UserAssigned) || (want != "" && id.UserAssigned && id.ClientID == want) {
			mi = id
			break
		}
	}
	s.mu.Unlock()
	if mi == nil {
		miError(w, http.StatusBadRequest, "Unable to load the proper Managed Identity.")
		return
	}
	resource := q.Get("resource")
	aud, e := s.appScope(strings.TrimSuffix(resource, "/") + "/.default")
	if resource == "" || e != nil {
		if e == nil || resource == "" {
			e = newAADError(900144, "invalid_request", "resource")
		}
		miError(w, http.StatusBadRequest, fmt.Sprintf("AADSTS%d: %s", e.Code, e.Message))
		return
	}
	ans := &miAnswer{resource: resource}
	if mi.UserAssigned {
		ans.resourceID = "/subscriptions/" + nameUUID("sub:"+mi.ClientID) + "/resourcegroups/entrasim/providers/Microsoft.ManagedIdentity/userAssignedIdentities/" + mi.ClientID[:8]
	}
	s.issueApp(w, mi.ClientID, aud, mi.Roles, ans)
}
