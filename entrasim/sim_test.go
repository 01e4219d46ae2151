package entrasim

import (
	"context"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

func postForm(t *testing.T, s *Server, u string, v url.Values) (int, string) {
	t.Helper()
	resp, err := s.HTTPClient().PostForm(u, v)
	if err != nil {
		t.Fatalf("POST %s: %v", u, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func getJSON(t *testing.T, s *Server, u string, into any) int {
	t.Helper()
	resp, err := s.HTTPClient().Get(u)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	if into != nil && resp.StatusCode == http.StatusOK {
		if err := json.NewDecoder(resp.Body).Decode(into); err != nil {
			t.Fatalf("decoding %s: %v", u, err)
		}
	}
	return resp.StatusCode
}

func TestDiscoveryAndJWKS(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	var d map[string]any
	if st := getJSON(t, s, s.URL()+"/"+s.TenantDomain()+"/v2.0/.well-known/openid-configuration", &d); st != 200 {
		t.Fatalf("discovery status %d", st)
	}
	base := s.Authority()
	for k, want := range map[string]string{
		"issuer":                        base + "/v2.0",
		"authorization_endpoint":        base + "/oauth2/v2.0/authorize",
		"token_endpoint":                base + "/oauth2/v2.0/token",
		"device_authorization_endpoint": base + "/oauth2/v2.0/devicecode",
		"jwks_uri":                      base + "/discovery/v2.0/keys",
	} {
		if d[k] != want {
			t.Errorf("%s = %v, want %s", k, d[k], want)
		}
	}
	// MSAL derives the device-code URL by replacing every "token" in the
	// token URL: that must land on the device authorization endpoint.
	if got := strings.ReplaceAll(d["token_endpoint"].(string), "token", "devicecode"); got != d["device_authorization_endpoint"] {
		t.Errorf("derived device-code URL %s", got)
	}
	var common map[string]any
	getJSON(t, s, s.URL()+"/common/v2.0/.well-known/openid-configuration", &common)
	if common["issuer"] != s.URL()+"/{tenantid}/v2.0" || common["token_endpoint"] != s.URL()+"/common/oauth2/v2.0/token" {
		t.Errorf("common discovery: %v %v", common["issuer"], common["token_endpoint"])
	}
	resp, err := s.HTTPClient().Get(s.URL() + "/nope.example/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), `"error":"invalid_tenant"`) || !strings.Contains(string(b), "AADSTS90002: Tenant 'nope.example' not found") {
		t.Errorf("unknown tenant discovery: %d %s", resp.StatusCode, b)
	}
	// Entra has no RFC 8414 document.
	if st := getJSON(t, s, s.URL()+"/.well-known/oauth-authorization-server/"+s.TenantID()+"/v2.0", nil); st != 404 {
		t.Errorf("RFC 8414 metadata status %d, want 404", st)
	}

	// The JWKS verifies the simulator's tokens.
	var set struct {
		Keys []struct{ Kid, N, E string } `json:"keys"`
	}
	getJSON(t, s, d["jwks_uri"].(string), &set)
	if len(set.Keys) != 1 {
		t.Fatalf("JWKS has %d keys", len(set.Keys))
	}
	n, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].N)
	e, _ := base64.RawURLEncoding.DecodeString(set.Keys[0].E)
	pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
	tok, err := jwt.Parse(s.IssueAccessToken(TokenOpts{}), func(tk *jwt.Token) (any, error) {
		if tk.Header["kid"] != set.Keys[0].Kid {
			t.Errorf("kid %v not in JWKS", tk.Header["kid"])
		}
		return pub, nil
	}, jwt.WithValidMethods([]string{"RS256"}))
	if err != nil || !tok.Valid {
		t.Errorf("JWKS does not verify an issued token: %v", err)
	}
	if _, err := jwt.Parse(s.IssueAccessToken(TokenOpts{BadSignature: true}), func(*jwt.Token) (any, error) { return pub, nil }); err == nil {
		t.Error("a BadSignature token verified")
	}
}

// authorizeURL builds an authorization request like MSAL's.
func authorizeURL(s *Server, redirect string, extra url.Values) (string, string) {
	verifier := "verifier-" + randomToken(32)
	sum := sha256.Sum256([]byte(verifier))
	v := url.Values{
		"client_id":             {s.ClientID()},
		"response_type":         {"code"},
		"redirect_uri":          {redirect},
		"scope":                 {s.Scope() + " openid offline_access profile"},
		"state":                 {"st-1"},
		"code_challenge":        {base64.RawURLEncoding.EncodeToString(sum[:])},
		"code_challenge_method": {"S256"},
		"prompt":                {"select_account"},
		"response_mode":         {"form_post"},
	}
	for k, vs := range extra {
		v[k] = vs
	}
	return s.Authority() + "/oauth2/v2.0/authorize?" + v.Encode(), verifier
}

var hiddenRe = regexp.MustCompile(`name="([^"]+)" value="([^"]*)"`)

// formFields reads the hidden fields of a form_post page.
func formFields(t *testing.T, s *Server, u string) (int, map[string]string) {
	t.Helper()
	resp, err := s.HTTPClient().Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	out := map[string]string{}
	for _, m := range hiddenRe.FindAllStringSubmatch(string(b), -1) {
		out[m[1]] = strings.ReplaceAll(m[2], "&#39;", "'")
	}
	if resp.StatusCode != 200 {
		out["page"] = string(b)
	}
	return resp.StatusCode, out
}

func TestAuthorizeAndCodeRedemption(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	redirect := "http://localhost:53123"
	token := s.Authority() + "/oauth2/v2.0/token"

	// resource is refused unless it is the Application ID URI of the API
	// whose scopes are asked for (Entra since 2026).
	u, _ := authorizeURL(s, redirect, url.Values{"resource": {"https://contoso.azure-api.net/mcp"}})
	st, f := formFields(t, s, u)
	if st != 200 || f["error"] != "invalid_target" || !strings.HasPrefix(f["error_description"], "AADSTS9010010: ") || f["state"] != "st-1" {
		t.Errorf("authorize with resource: %d %v", st, f)
	}
	stt, body := postForm(t, s, token, url.Values{"client_id": {s.ClientID()}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}, "resource": {"https://contoso.azure-api.net/mcp"}, "scope": {s.Scope()}})
	if stt != 400 || !strings.Contains(body, "AADSTS9010010") {
		t.Errorf("token with resource: %d %s", stt, body)
	}
	stt, body = postForm(t, s, token, url.Values{"client_id": {s.ClientID()}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}, "resource": {s.APIAudience()}, "scope": {s.Scope()}})
	if strings.Contains(body, "AADSTS9010010") {
		t.Errorf("token with the API's own App ID URI as resource: %d %s", stt, body)
	}

	// Error pages for what cannot go back to the client.
	for name, tc := range map[string]struct {
		extra url.Values
		want  string
	}{
		"unknown client": {url.Values{"client_id": {"00000000-1111-2222-3333-444444444444"}}, "AADSTS700016"},
		"bad redirect":   {url.Values{"redirect_uri": {"https://evil.example/cb"}}, "AADSTS50011"},
	} {
		u, _ := authorizeURL(s, redirect, tc.extra)
		err := Browse(context.Background(), s.HTTPClient(), u)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: Browse error %v, want %s", name, err, tc.want)
		}
	}

	// A good code, a wrong verifier, reuse.
	u, verifier := authorizeURL(s, redirect, nil)
	st, f = formFields(t, s, u)
	if st != 200 || f["code"] == "" || f["state"] != "st-1" {
		t.Fatalf("authorize: %d %v", st, f)
	}
	redeem := func(v string) (int, string) {
		return postForm(t, s, token, url.Values{
			"client_id": {s.ClientID()}, "grant_type": {"authorization_code"}, "code": {f["code"]},
			"redirect_uri": {redirect}, "code_verifier": {v}, "scope": {s.Scope() + " openid offline_access profile"},
			"client_info": {"1"},
		})
	}
	if st, body := redeem("wrong-verifier"); st != 400 || !strings.Contains(body, "AADSTS50148") {
		t.Errorf("wrong verifier: %d %s", st, body)
	}
	st, body = redeem(verifier)
	if st != 200 {
		t.Fatalf("redeem: %d %s", st, body)
	}
	var tr map[string]any
	_ = json.Unmarshal([]byte(body), &tr)
	for _, k := range []string{"access_token", "refresh_token", "id_token", "client_info", "expires_in", "ext_expires_in"} {
		if tr[k] == nil {
			t.Errorf("token response lacks %s", k)
		}
	}
	if tr["token_type"] != "Bearer" || tr["scope"] != s.Scope()+" openid offline_access profile" {
		t.Errorf("token_type %v scope %v", tr["token_type"], tr["scope"])
	}
	ci, _ := base64.RawURLEncoding.DecodeString(tr["client_info"].(string))
	if !strings.Contains(string(ci), `"utid":"`+s.TenantID()+`"`) {
		t.Errorf("client_info %s", ci)
	}
	id := claimsOf(t, tr["id_token"].(string))
	if id["aud"] != s.ClientID() || id["preferred_username"] != "alice@contoso.com" || id["oid"] == nil || id["tid"] != s.TenantID() {
		t.Errorf("id_token claims %v", id)
	}
	if st, body := redeem(verifier); st != 400 || !strings.Contains(body, "AADSTS54005") {
		t.Errorf("code reuse: %d %s", st, body)
	}
}

func TestDeviceCodeErrors(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{DeviceCodeLifetime: time.Second, DeviceInterval: time.Second, EnforceDeviceInterval: true})
	dcURL := s.Authority() + "/oauth2/v2.0/devicecode"
	tokenURL := s.Authority() + "/oauth2/v2.0/token"
	st, body := postForm(t, s, dcURL, url.Values{"client_id": {s.ClientID()}, "scope": {s.Scope() + " offline_access"}})
	if st != 200 {
		t.Fatalf("devicecode: %d %s", st, body)
	}
	var dc map[string]any
	_ = json.Unmarshal([]byte(body), &dc)
	poll := func() (int, string) {
		return postForm(t, s, tokenURL, url.Values{"client_id": {s.ClientID()}, "grant_type": {"urn:ietf:params:oauth:grant-type:device_code"}, "device_code": {dc["device_code"].(string)}, "scope": {s.Scope()}})
	}
	if st, body := poll(); st != 400 || !strings.Contains(body, `"authorization_pending"`) || !strings.Contains(body, "AADSTS70016") {
		t.Errorf("first poll: %d %s", st, body)
	}
	if st, body := poll(); st != 400 || !strings.Contains(body, `"slow_down"`) {
		t.Errorf("fast poll: %d %s", st, body)
	}
	time.Sleep(1100 * time.Millisecond)
	if st, body := poll(); st != 400 || !strings.Contains(body, `"expired_token"`) {
		t.Errorf("expired: %d %s", st, body)
	}
	if err := s.ApproveDeviceCode(dc["user_code"].(string)); err == nil {
		t.Error("approving an expired code worked")
	}
}

func TestParseScopes(t *testing.T) {
	t.Parallel()
	s := &Server{opts: Options{}}
	setDefaults(&s.opts)
	for _, tc := range []struct {
		scope, aud string
		code       int
	}{
		{"api://mcp-demo-api/.default openid offline_access profile", DefaultAPIAppID, 0},
		{"API://MCP-DEMO-API/access_as_user", DefaultAPIAppID, 0},
		{"openid profile offline_access", GraphAudience, 0},
		{"User.Read openid", GraphAudience, 0},
		{"https://graph.microsoft.com/.default", GraphAudience, 0},
		{"api://mcp-demo-api/write", "", 650053},
		{"api://mcp-demo-api/tools.write api://mcp-demo-api/access_as_user", DefaultAPIAppID, 0},
		{"api://mcp-demo-api/.default api://mcp-demo-api/Tools.Write", "", 70011},
		{"api://other/.default", "", 500011},
		{"api://mcp-demo-api/.default User.Read", "", 28000},
		{"", "", 900144},
	} {
		g, e := s.parseScopes(tc.scope)
		switch {
		case tc.code != 0 && (e == nil || e.Code != tc.code):
			t.Errorf("%q: error %+v, want AADSTS%d", tc.scope, e, tc.code)
		case tc.code == 0 && (e != nil || g.audience != tc.aud):
			t.Errorf("%q: aud %q err %+v, want %q", tc.scope, g.audience, e, tc.aud)
		}
	}
	// An API registered for v1 tokens: their aud is the App ID URI.
	s.opts.TokenVersion = 1
	if g, e := s.parseScopes("api://mcp-demo-api/.default"); e != nil || g.audience != DefaultAPIAudience {
		t.Errorf("v1 API: aud %q err %+v, want %q", g.audience, e, DefaultAPIAudience)
	}
}

func TestWriteCA(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	path := t.TempDir() + "/ca.pem"
	if err := s.WriteCA(path); err != nil {
		t.Fatal(err)
	}
	// A default client does not trust the simulator.
	if _, err := http.Get(s.URL() + "/common/v2.0/.well-known/openid-configuration"); err == nil {
		t.Error("the system roots trusted the simulator")
	}
	if !strings.HasPrefix(string(s.CACertPEM()), "-----BEGIN CERTIFICATE-----") {
		t.Error("CACertPEM is not PEM")
	}
}

func TestQueueErrorWording(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	s.QueueError(700016, "unauthorized_client", "")
	s.QueueError(503, "temporarily_unavailable", "")
	s.QueueError(7000218, "invalid_client", "")
	tokenURL := s.Authority() + "/oauth2/v2.0/token"
	form := url.Values{"client_id": {s.ClientID()}, "grant_type": {"refresh_token"}, "refresh_token": {"x"}, "scope": {s.Scope()}}
	for _, want := range []struct {
		status int
		text   string
	}{
		{400, "AADSTS700016: Application with identifier '" + s.ClientID() + "' was not found in the directory '" + s.TenantDomain() + "'"},
		{503, `"error_codes":[503]`},
		{401, "AADSTS7000218: The request body must contain"},
		{400, "AADSTS9002313"}, // the queue is empty: the bogus refresh token itself
	} {
		st, body := postForm(t, s, tokenURL, form)
		if st != want.status || !strings.Contains(body, want.text) || strings.Contains(body, "%!") {
			t.Errorf("got %d %s, want %d with %q", st, body, want.status, want.text)
		}
	}
	if n := s.TokenRequests(); n != 4 {
		t.Errorf("TokenRequests = %d, want 4", n)
	}
}

func TestUntrustedCert(t *testing.T) {
	t.Parallel()
	s, err := Start(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c := s.HTTPClient()
	get := func() error {
		resp, err := c.Get(s.Authority() + "/v2.0/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("trusted: %v", err)
	}
	if err := s.SetUntrustedCert(true); err != nil {
		t.Fatal(err)
	}
	// The connection that was open is cut (one request may see that),
	// then every handshake meets the untrusted certificate.
	err = get()
	if err != nil && !strings.Contains(err.Error(), "certificate") {
		err = get()
	}
	if err == nil || !strings.Contains(err.Error(), "certificate signed by unknown authority") {
		t.Fatalf("untrusted: %v", err)
	}
	if err := s.SetUntrustedCert(false); err != nil {
		t.Fatal(err)
	}
	if err := get(); err != nil {
		t.Fatalf("trusted again: %v", err)
	}
}
