package entrasim

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// memCache is MSAL's persistent cache kept in memory, so a second client
// can play a second process reading what the first one wrote.
type memCache struct {
	mu   sync.Mutex
	data []byte
}

func (m *memCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.data == nil {
		return nil
	}
	return u.Unmarshal(m.data)
}

func (m *memCache) Export(ctx context.Context, mar cache.Marshaler, _ cache.ExportHints) error {
	b, err := mar.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data = b
	return nil
}

// refreshTokens returns the refresh-token secrets in the cache.
func (m *memCache) refreshTokens(t *testing.T) []string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	var c struct {
		RefreshToken map[string]struct {
			Secret string `json:"secret"`
		} `json:"RefreshToken"`
	}
	if err := json.Unmarshal(m.data, &c); err != nil {
		t.Fatalf("reading MSAL cache: %v", err)
	}
	var out []string
	for _, rt := range c.RefreshToken {
		out = append(out, rt.Secret)
	}
	return out
}

func startSim(t *testing.T, opts Options) *Server {
	t.Helper()
	s, err := Start(opts)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// newPCA is the broker's MSAL configuration against the simulator:
// authority URL()/tenant, the simulator's HTTP client, instance discovery
// off (else MSAL calls login.microsoftonline.com).
func newPCA(t *testing.T, s *Server, c cache.ExportReplace, authority string) public.Client {
	t.Helper()
	if authority == "" {
		authority = s.Authority()
	}
	opts := []public.Option{
		public.WithAuthority(authority),
		public.WithHTTPClient(s.HTTPClient()),
		public.WithInstanceDiscovery(false),
	}
	if c != nil {
		opts = append(opts, public.WithCache(c))
	}
	pca, err := public.New(s.ClientID(), opts...)
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return pca
}

// interactive signs in through the browser stand-in.
func interactive(ctx context.Context, t *testing.T, s *Server, pca public.Client, scopes []string) (public.AuthResult, error) {
	t.Helper()
	browsed := make(chan error, 1)
	res, err := pca.AcquireTokenInteractive(ctx, scopes, public.WithOpenURL(func(u string) error {
		go func() { browsed <- Browse(ctx, s.HTTPClient(), u) }()
		return nil
	}))
	if err == nil {
		if berr := <-browsed; berr != nil {
			t.Errorf("Browse: %v", berr)
		}
	}
	return res, err
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// claimsOf decodes a JWT's payload without checking it.
func claimsOf(t *testing.T, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("decoding JWT payload: %v", err)
	}
	var c map[string]any
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("decoding JWT claims: %v", err)
	}
	return c
}

// forceRefresh is the broker's "refresh now": silent with a claims
// challenge, which makes MSAL skip its cached access token.
func forceRefresh(ctx context.Context, pca public.Client, acct public.Account, scopes []string) (public.AuthResult, error) {
	claims := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, time.Now().Unix())
	return pca.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(acct), public.WithClaims(claims))
}

func TestInteractivePKCEAndSilentFromCache(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		version int
		claims  func(s *Server) map[string]any
		absent  []string
	}{
		{2, func(s *Server) map[string]any {
			return map[string]any{"aud": DefaultAPIAppID, "tid": s.TenantID(), "iss": s.URL() + "/" + s.TenantID() + "/v2.0",
				"scp": "access_as_user", "ver": "2.0", "preferred_username": "alice@contoso.com", "upn": "alice@contoso.com",
				"azp": s.ClientID()}
		}, []string{"appid", "unique_name"}},
		{1, func(s *Server) map[string]any {
			return map[string]any{"aud": "api://mcp-demo-api", "tid": s.TenantID(), "iss": "https://sts.windows.net/" + s.TenantID() + "/",
				"scp": "access_as_user", "ver": "1.0", "unique_name": "alice@contoso.com", "upn": "alice@contoso.com",
				"appid": s.ClientID()}
		}, []string{"azp", "preferred_username"}},
	} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			t.Parallel()
			testInteractivePKCEAndSilentFromCache(t, tc.version, tc.claims, tc.absent)
		})
	}
}

func testInteractivePKCEAndSilentFromCache(t *testing.T, version int, want func(*Server) map[string]any, absent []string) {
	s := startSim(t, Options{TokenVersion: version})
	ctx := testCtx(t)
	mc := &memCache{}
	pca := newPCA(t, s, mc, "")
	scopes := []string{s.Scope()}

	res, err := interactive(ctx, t, s, pca, scopes)
	if err != nil {
		t.Fatalf("AcquireTokenInteractive: %v", err)
	}
	c := claimsOf(t, res.AccessToken)
	for k, want := range want(s) {
		if c[k] != want {
			t.Errorf("access token %s = %v, want %v", k, c[k], want)
		}
	}
	for _, k := range absent {
		if _, ok := c[k]; ok {
			t.Errorf("a v%d access token has %s", version, k)
		}
	}
	// The protected endpoint takes the token as APIM's policy would.
	if tc := s.checkToken(res.AccessToken); tc.Reason != "" {
		t.Errorf("the MCP endpoint refuses the v%d token: %s", version, tc.Reason)
	}
	if life := time.Until(res.ExpiresOn); life < 59*time.Minute || life > 91*time.Minute {
		t.Errorf("default lifetime %v, want random 60–90 min", life)
	}
	if res.Account.PreferredUsername != "alice@contoso.com" || res.Account.HomeAccountID == "" {
		t.Errorf("account = %+v, want alice with a home account id", res.Account)
	}
	if want := res.Account.LocalAccountID + "." + s.TenantID(); res.Account.HomeAccountID != want {
		t.Errorf("home account id %q, want uid.utid %q (client_info)", res.Account.HomeAccountID, want)
	}
	if n := s.TokenRequests(); n != 1 {
		t.Errorf("token requests after sign-in = %d, want 1", n)
	}
	var sawAuthorize bool
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/authorize") {
			sawAuthorize = true
			if !strings.Contains(r.Scope, "offline_access") {
				t.Errorf("authorize scope %q lacks offline_access", r.Scope)
			}
		}
	}
	if !sawAuthorize {
		t.Error("no authorize request logged")
	}

	// Silent from the same client: the cached token, zero requests.
	before := len(s.Requests())
	again, err := pca.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatalf("AcquireTokenSilent: %v", err)
	}
	if again.AccessToken != res.AccessToken {
		t.Error("silent call did not return the cached token")
	}
	// A second "process": a new client over the exported cache, also
	// without any request (no discovery either).
	pca2 := newPCA(t, s, mc, "")
	accts, err := pca2.Accounts(ctx)
	if err != nil || len(accts) != 1 {
		t.Fatalf("Accounts from cache = %v, %v; want one", accts, err)
	}
	third, err := pca2.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accts[0]))
	if err != nil {
		t.Fatalf("AcquireTokenSilent from a second client: %v", err)
	}
	if third.AccessToken != res.AccessToken {
		t.Error("second client did not get the cached token")
	}
	if got := len(s.Requests()); got != before {
		t.Errorf("silent calls made %d requests, want 0: %+v", got-before, s.Requests()[before:])
	}

	// The token opens the protected MCP endpoint.
	status, _, _ := mcpPost(t, s, res.AccessToken, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`)
	if status != http.StatusOK {
		t.Errorf("MCP endpoint answered %d to an MSAL token", status)
	}
}

func TestSilentRefreshAfterExpiry(t *testing.T) {
	t.Parallel()
	// MSAL treats a token with 5 minutes or less left as expired, and does
	// not cache one that arrives with 300 s or less. A 303 s token is
	// cached and becomes due 3 s later: that is the fastest honest way to
	// make MSAL redeem its refresh token on its own.
	s := startSim(t, Options{Lifetime: 303 * time.Second})
	ctx := testCtx(t)
	pca := newPCA(t, s, &memCache{}, "")
	scopes := []string{s.Scope()}
	res, err := interactive(ctx, t, s, pca, scopes)
	if err != nil {
		t.Fatalf("AcquireTokenInteractive: %v", err)
	}
	again, err := pca.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(res.Account))
	if err != nil || again.AccessToken != res.AccessToken || s.TokenRequests() != 1 {
		t.Fatalf("a fresh 303 s token should come from the cache: err=%v requests=%d", err, s.TokenRequests())
	}
	time.Sleep(3100 * time.Millisecond)
	s.SetLifetime(time.Hour)
	later, err := pca.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(res.Account))
	if err != nil {
		t.Fatalf("AcquireTokenSilent after expiry: %v", err)
	}
	if later.AccessToken == res.AccessToken {
		t.Error("silent call after expiry returned the old token")
	}
	reqs := s.Requests()
	if last := reqs[len(reqs)-1]; last.GrantType != "refresh_token" || last.Status != http.StatusOK {
		t.Errorf("last request = %+v, want a successful refresh_token grant", last)
	}
}

func TestMSALDoesNotCacheShortTokens(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Lifetime: 300 * time.Second, AutoApproveDevice: true})
	ctx := testCtx(t)
	pca := newPCA(t, s, nil, "")
	res := deviceCodeSignIn(ctx, t, s, pca, []string{s.Scope()}, nil)
	if _, err := pca.AcquireTokenSilent(ctx, []string{s.Scope()}, public.WithSilentAccount(res.Account)); err != nil {
		t.Fatalf("AcquireTokenSilent: %v", err)
	}
	if n := s.TokenRequests(); n != 2 {
		t.Errorf("token requests = %d, want 2: MSAL must not cache a 300 s token", n)
	}
}

func TestRefreshTokenRotation(t *testing.T) {
	t.Parallel()
	for _, strict := range []bool{false, true} {
		t.Run(fmt.Sprintf("strict=%v", strict), func(t *testing.T) {
			t.Parallel()
			s := startSim(t, Options{StrictRotation: strict, AutoApproveDevice: true})
			ctx := testCtx(t)
			mc := &memCache{}
			pca := newPCA(t, s, mc, "")
			scopes := []string{s.Scope()}
			res := deviceCodeSignIn(ctx, t, s, pca, scopes, nil)
			first := mc.refreshTokens(t)
			if len(first) != 1 {
				t.Fatalf("cache holds %d refresh tokens, want 1", len(first))
			}

			r1, err := forceRefresh(ctx, pca, res.Account, scopes)
			if err != nil {
				t.Fatalf("forced refresh: %v", err)
			}
			if r1.AccessToken == res.AccessToken {
				t.Error("forced refresh returned the old access token")
			}
			second := mc.refreshTokens(t)
			if len(second) != 1 || second[0] == first[0] {
				t.Fatal("the refresh token did not rotate in MSAL's cache")
			}
			reqs := s.Requests()
			if last := reqs[len(reqs)-1]; !last.Claims || last.GrantType != "refresh_token" {
				t.Errorf("forced refresh request = %+v, want refresh_token with claims", last)
			}
			// MSAL uses the rotated token next time, which strict mode requires.
			if _, err := forceRefresh(ctx, pca, res.Account, scopes); err != nil {
				t.Fatalf("second forced refresh: %v", err)
			}

			// The first refresh token, redeemed by hand: Entra keeps it valid,
			// strict mode refuses it.
			status, body := postForm(t, s, s.Authority()+"/oauth2/v2.0/token", url.Values{
				"client_id": {s.ClientID()}, "grant_type": {"refresh_token"},
				"refresh_token": {first[0]}, "scope": {s.Scope() + " offline_access openid profile"},
			})
			if strict {
				if status != http.StatusBadRequest || !strings.Contains(body, `"invalid_grant"`) || !strings.Contains(body, "AADSTS70000") {
					t.Errorf("reusing a rotated refresh token in strict mode: %d %s", status, body)
				}
			} else if status != http.StatusOK {
				t.Errorf("reusing a rotated refresh token (Entra keeps it valid): %d %s", status, body)
			}
		})
	}
}

func TestRevokedRefreshToken(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{AutoApproveDevice: true})
	ctx := testCtx(t)
	pca := newPCA(t, s, nil, "")
	scopes := []string{s.Scope()}
	res := deviceCodeSignIn(ctx, t, s, pca, scopes, nil)
	s.RevokeRefreshTokens()
	_, err := forceRefresh(ctx, pca, res.Account, scopes)
	status, body := callErr(t, err)
	if status != http.StatusBadRequest || !strings.Contains(body, `"error":"invalid_grant"`) || !strings.Contains(body, `"error_codes":[50173]`) {
		t.Errorf("revoked refresh token: %d %s", status, body)
	}
	// A new sign-in works again.
	res2 := deviceCodeSignIn(ctx, t, s, pca, scopes, nil)
	if _, err := forceRefresh(ctx, pca, res2.Account, scopes); err != nil {
		t.Errorf("refresh after a new sign-in: %v", err)
	}
}

// deviceCodeSignIn signs in with the device code flow. approve, when not
// nil, is called with the user code (else the simulator auto-approves).
func deviceCodeSignIn(ctx context.Context, t *testing.T, s *Server, pca public.Client, scopes []string, approve func(code string)) public.AuthResult {
	t.Helper()
	dc, err := pca.AcquireTokenByDeviceCode(ctx, scopes)
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	if approve != nil {
		approve(dc.Result.UserCode)
	}
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatalf("device code AuthenticationResult: %v", err)
	}
	return res
}

func TestDeviceCode(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	pca := newPCA(t, s, nil, "")
	dc, err := pca.AcquireTokenByDeviceCode(ctx, []string{s.Scope()})
	if err != nil {
		t.Fatalf("AcquireTokenByDeviceCode: %v", err)
	}
	if dc.Result.VerificationURL != s.URL()+"/devicelogin" || len(dc.Result.UserCode) != 9 {
		t.Errorf("device code result = %+v", dc.Result)
	}
	if !strings.Contains(dc.Result.Message, dc.Result.UserCode) {
		t.Errorf("message %q does not name the code", dc.Result.Message)
	}
	go func() {
		time.Sleep(300 * time.Millisecond) // let MSAL poll and get authorization_pending
		if err := s.ApproveDeviceCode(strings.ToLower(dc.Result.UserCode)); err != nil {
			t.Errorf("ApproveDeviceCode: %v", err)
		}
	}()
	res, err := dc.AuthenticationResult(ctx)
	if err != nil {
		t.Fatalf("AuthenticationResult: %v", err)
	}
	if aud := claimsOf(t, res.AccessToken)["aud"]; aud != s.TokenAudience() {
		t.Errorf("aud = %v", aud)
	}
	var pending int
	for _, r := range s.Requests() {
		if strings.HasSuffix(r.Path, "/devicecode") && r.Status != http.StatusOK {
			t.Errorf("devicecode request failed: %+v", r)
		}
		if r.GrantType == "device_code" && r.Status == http.StatusBadRequest {
			pending++
		}
	}
	if pending == 0 {
		t.Error("MSAL never saw authorization_pending")
	}

	// The verification page approves too, as a user at a browser would.
	res2 := deviceCodeSignIn(ctx, t, s, pca, []string{s.Scope()}, func(code string) {
		status, body := postForm(t, s, s.URL()+"/devicelogin", url.Values{"otc": {code}})
		if status != http.StatusOK {
			t.Errorf("devicelogin: %d %s", status, body)
		}
	})
	if res2.Account.PreferredUsername != "alice@contoso.com" {
		t.Errorf("account = %+v", res2.Account)
	}
}

func TestGraphAudienceWithoutAPIScope(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	pca := newPCA(t, s, nil, "")
	res, err := interactive(ctx, t, s, pca, []string{"User.Read"})
	if err != nil {
		t.Fatalf("AcquireTokenInteractive: %v", err)
	}
	c := claimsOf(t, res.AccessToken)
	if c["aud"] != GraphAudience {
		t.Errorf("aud = %v, want Microsoft Graph", c["aud"])
	}
	if scp, _ := c["scp"].(string); !strings.Contains(scp, "User.Read") {
		t.Errorf("scp = %q", scp)
	}
	status, _, hdr := mcpPost(t, s, res.AccessToken, "", `{"jsonrpc":"2.0","id":1,"method":"ping"}`)
	if status != http.StatusUnauthorized || !strings.Contains(hdr.Get("WWW-Authenticate"), `error="invalid_token"`) {
		t.Errorf("MCP endpoint with a Graph token: %d %q", status, hdr.Get("WWW-Authenticate"))
	}
}

// callErr returns the HTTP status and body MSAL got with err.
func callErr(t *testing.T, err error) (int, string) {
	t.Helper()
	if err == nil {
		t.Fatal("got no error")
	}
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp == nil {
		t.Fatalf("error is not an MSAL CallErr: %v", err)
	}
	b, _ := io.ReadAll(ce.Resp.Body)
	return ce.Resp.StatusCode, string(b)
}

func TestFaultsReachMSAL(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{AutoApproveDevice: true})
	ctx := testCtx(t)
	pca := newPCA(t, s, nil, "")
	scopes := []string{s.Scope()}
	res := deviceCodeSignIn(ctx, t, s, pca, scopes, nil)
	refresh := func() error {
		_, err := forceRefresh(ctx, pca, res.Account, scopes)
		return err
	}

	s.FailNext(1, http.StatusInternalServerError)
	status, body := callErr(t, refresh())
	if status != 500 || !strings.Contains(body, `"error":"server_error"`) || !strings.Contains(body, "AADSTS50000") {
		t.Errorf("FailNext 500: %d %s", status, body)
	}

	s.FailNext(1, http.StatusServiceUnavailable)
	status, body = callErr(t, refresh())
	if status != 503 || !strings.Contains(body, "temporarily_unavailable") {
		t.Errorf("FailNext 503: %d %s", status, body)
	}

	s.Throttle(1, 7*time.Second)
	err := refresh()
	var ce msalerrors.CallErr
	if !errors.As(err, &ce) || ce.Resp.StatusCode != http.StatusTooManyRequests || ce.Resp.Header.Get("Retry-After") != "7" {
		t.Errorf("Throttle: %v", err)
	}

	s.QueueError(50076, "invalid_grant", "basic_action")
	status, body = callErr(t, refresh())
	var eb map[string]any
	if err := json.Unmarshal([]byte(body), &eb); err != nil {
		t.Fatalf("queued error body is not JSON: %s", body)
	}
	if status != 400 || eb["error"] != "invalid_grant" || eb["suberror"] != "basic_action" ||
		!strings.HasPrefix(eb["error_description"].(string), "AADSTS50076: ") || eb["claims"] == nil ||
		eb["trace_id"] == nil || eb["correlation_id"] == nil || eb["timestamp"] == nil {
		t.Errorf("queued 50076: %d %s", status, body)
	}
	if codes, _ := eb["error_codes"].([]any); len(codes) != 1 || codes[0] != float64(50076) {
		t.Errorf("error_codes = %v", eb["error_codes"])
	}

	s.SetDelay(3 * time.Second)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = forceRefresh(short, pca, res.Account, scopes)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("SetDelay: err = %v, want a deadline", err)
	}
	s.SetDelay(0)

	s.SetOutage(true, 0)
	status, _ = callErr(t, refresh())
	if status != http.StatusServiceUnavailable {
		t.Errorf("outage status %d", status)
	}
	s.SetOutage(false, 0)

	if err := refresh(); err != nil {
		t.Errorf("refresh after the faults: %v", err)
	}
}

func TestMisconfigurationErrors(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)

	// Unknown client.
	other, err := public.New("11111111-2222-3333-4444-555555555555",
		public.WithAuthority(s.Authority()), public.WithHTTPClient(s.HTTPClient()), public.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	_, err = other.AcquireTokenByDeviceCode(ctx, []string{s.Scope()})
	status, body := callErr(t, err)
	if status != 400 || !strings.Contains(body, "AADSTS700016") || !strings.Contains(body, `"unauthorized_client"`) {
		t.Errorf("unknown client: %d %s", status, body)
	}

	// Unknown tenant: discovery fails like Entra's.
	pca := newPCA(t, s, nil, s.URL()+"/fabrikam.onmicrosoft.com")
	_, err = pca.AcquireTokenByDeviceCode(ctx, []string{s.Scope()})
	status, body = callErr(t, err)
	if status != 400 || !strings.Contains(body, "AADSTS90002") || !strings.Contains(body, "invalid_tenant") {
		t.Errorf("unknown tenant: %d %s", status, body)
	}

	// Unknown API.
	pca = newPCA(t, s, nil, "")
	_, err = pca.AcquireTokenByDeviceCode(ctx, []string{"api://not-registered/.default"})
	status, body = callErr(t, err)
	if status != 400 || !strings.Contains(body, "AADSTS500011") {
		t.Errorf("unknown resource: %d %s", status, body)
	}

	// Tenant by domain, "organizations" and "common" all work.
	for _, tenant := range []string{s.TenantDomain(), "organizations", "common"} {
		s2 := startSim(t, Options{AutoApproveDevice: true})
		pca := newPCA(t, s2, nil, s2.URL()+"/"+tenant)
		res := deviceCodeSignIn(ctx, t, s2, pca, []string{s2.Scope()}, nil)
		if tid := claimsOf(t, res.AccessToken)["tid"]; tid != s2.TenantID() {
			t.Errorf("tenant %s: tid = %v", tenant, tid)
		}
	}
}

// With Hostname "localhost" the simulator announces https://localhost:PORT
// (Go on Windows does not match IP addresses in certificates): MSAL signs
// in through it, verifying the certificate for the name.
func TestLocalhostHostname(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{Hostname: "localhost"})
	u, err := url.Parse(s.URL())
	if err != nil || u.Hostname() != "localhost" || u.Port() == "" {
		t.Fatalf("URL() = %q, want https://localhost:PORT", s.URL())
	}
	ctx := testCtx(t)
	pca := newPCA(t, s, &memCache{}, "")
	res, err := interactive(ctx, t, s, pca, []string{s.Scope()})
	if err != nil {
		t.Fatalf("sign-in through %s: %v", s.URL(), err)
	}
	if iss := claimsOf(t, res.AccessToken)["iss"]; iss != s.URL()+"/"+s.TenantID()+"/v2.0" {
		t.Errorf("iss = %v, want the localhost authority", iss)
	}
	if status, _, _ := mcpPost(t, s, res.AccessToken, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); status != http.StatusOK {
		t.Errorf("MCP endpoint at %s answered %d", s.MCPURL(), status)
	}
}
