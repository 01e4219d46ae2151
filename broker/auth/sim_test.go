package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// memCache is an in-memory cache.ExportReplace: what a second process
// would read from the persistent store.
type memCache struct {
	mu      sync.Mutex
	data    []byte
	exports int
}

func (m *memCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.data) == 0 {
		return nil
	}
	return u.Unmarshal(m.data)
}

func (m *memCache) Export(ctx context.Context, c cache.Marshaler, _ cache.ExportHints) error {
	b, err := c.Marshal()
	if err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.data, m.exports = b, m.exports+1
	return nil
}

func startSim(t *testing.T, o entrasim.Options) *entrasim.Server {
	t.Helper()
	s, err := entrasim.Start(o)
	if err != nil {
		t.Fatalf("starting the simulator: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func simProfile(s *entrasim.Server) *config.Profile {
	return &config.Profile{
		Name:      "test",
		Tenant:    s.TenantID(),
		ClientID:  s.ClientID(),
		Scopes:    []string{s.Scope()},
		Authority: s.URL(),
	}
}

type clientOpts struct {
	profile *config.Profile
	cache   cache.ExportReplace
	out     *bytes.Buffer
}

// newClient builds a client against s whose browser is the simulator's
// browser stand-in.
func newClient(t *testing.T, s *entrasim.Server, o clientOpts) *auth.Client {
	t.Helper()
	if o.profile == nil {
		o.profile = simProfile(s)
	}
	if o.cache == nil {
		o.cache = &memCache{}
	}
	var out bytes.Buffer
	if o.out == nil {
		o.out = &out
	}
	hc := s.HTTPClient()
	c, err := auth.New(o.profile, auth.Options{
		HTTPClient: hc,
		Cache:      o.cache,
		// The loopback listener is up before the browser opens, so the
		// stand-in can run to the end before OpenURL returns, like a
		// $BROWSER command that exits when done.
		OpenURL: func(u string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return entrasim.Browse(ctx, hc, u)
		},
		DeviceCodeOut: o.out,
	})
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return c
}

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func login(t *testing.T, c *auth.Client) {
	t.Helper()
	if _, err := c.Login(ctxT(t), false); err != nil {
		t.Fatalf("Login: %v (hint: %s)", err, auth.Classify(err).Hint)
	}
}

func TestInteractiveLoginThenSilentFromCache(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	mc := &memCache{}
	c := newClient(t, s, clientOpts{cache: mc})
	ctx := ctxT(t)

	tok, err := c.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	if tok.Audience != s.TokenAudience() || tok.Account != s.Username() || tok.Tenant != s.TenantID() {
		t.Errorf("token = aud %q account %q tenant %q, want %q %q %q", tok.Audience, tok.Account, tok.Tenant, s.TokenAudience(), s.Username(), s.TenantID())
	}
	if left := time.Until(tok.ExpiresOn); left < 55*time.Minute || left > 91*time.Minute {
		t.Errorf("token valid for %s, want Entra's 60-90 min", left)
	}
	if len(tok.Scopes) == 0 {
		t.Errorf("no scopes in the token")
	}
	var sawPKCE bool
	for _, r := range s.Requests() {
		if r.GrantType == "authorization_code" && r.Status == http.StatusOK {
			sawPKCE = true
		}
	}
	if !sawPKCE {
		t.Errorf("no successful authorization_code redemption in %+v", s.Requests())
	}
	if mc.exports == 0 {
		t.Errorf("the cache was never exported")
	}
	if name, ok := c.Account(ctx); !ok || name != s.Username() {
		t.Errorf("Account() = %q, %v", name, ok)
	}

	// Silent from cache: zero requests, also from a second client (a
	// second process) on the same cache.
	s.ResetLog()
	again, err := c.Token(ctx, 5*time.Minute)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if again.Value.Reveal() != tok.Value.Reveal() {
		t.Errorf("Token returned another token than the cached one")
	}
	other := newClient(t, s, clientOpts{cache: mc})
	third, err := other.Token(ctx, 5*time.Minute)
	if err != nil {
		t.Fatalf("Token from a second client: %v", err)
	}
	if third.Value.Reveal() != tok.Value.Reveal() {
		t.Errorf("the second client did not answer from the cache")
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("silent calls made %d requests to the authority: %+v", n, s.Requests())
	}

	cached, err := other.Cached(ctx)
	if err != nil || cached.Account != s.Username() || !cached.HasRefreshToken || !cached.ExpiresOn.Equal(tok.ExpiresOn.Truncate(time.Second)) {
		t.Errorf("Cached() = %+v, %v; want account, refresh token, expiry %s", cached, err, tok.ExpiresOn)
	}
}

func TestDeviceCode(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{AutoApproveDevice: true, DeviceInterval: time.Second})
	var out bytes.Buffer
	c := newClient(t, s, clientOpts{out: &out})
	tok, err := c.Login(ctxT(t), true)
	if err != nil {
		t.Fatalf("Login(device code): %v", err)
	}
	if tok.Audience != s.TokenAudience() {
		t.Errorf("aud = %q", tok.Audience)
	}
	if !strings.Contains(out.String(), "code") {
		t.Errorf("device code message not printed: %q", out.String())
	}
	if strings.Contains(out.String(), tok.Value.Reveal()) {
		t.Errorf("the token was printed")
	}
}

func TestSilentRefreshAfterExpiry(t *testing.T) {
	t.Parallel()
	// MSAL uses a cached token only while more than 5 minutes are left: a
	// token of 5m2s is due for refresh two seconds after it was issued.
	s := startSim(t, entrasim.Options{Lifetime: 5*time.Minute + 2*time.Second})
	c := newClient(t, s, clientOpts{})
	login(t, c)
	time.Sleep(2500 * time.Millisecond)
	s.ResetLog()
	if _, err := c.Token(ctxT(t), 0); err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got := grants(s); got != "refresh_token" {
		t.Errorf("token requests = %q, want one refresh_token grant", got)
	}
}

func TestMinValidityForcesRefresh(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{Lifetime: 20 * time.Minute})
	c := newClient(t, s, clientOpts{})
	login(t, c)
	ctx := ctxT(t)
	s.ResetLog()
	if _, err := c.Token(ctx, 10*time.Minute); err != nil {
		t.Fatalf("Token(10m): %v", err)
	}
	if got := grants(s); got != "" {
		t.Errorf("a token with 20m left was refreshed for 10m: %q", got)
	}
	s.SetLifetime(60 * time.Minute)
	tok, err := c.Token(ctx, 30*time.Minute)
	if err != nil {
		t.Fatalf("Token(30m): %v", err)
	}
	if got := grants(s); got != "refresh_token" {
		t.Errorf("token requests = %q, want one refresh_token grant", got)
	}
	if time.Until(tok.ExpiresOn) < 30*time.Minute {
		t.Errorf("token has %s left, asked for 30m", time.Until(tok.ExpiresOn))
	}
	// More than a fresh token can give is an error, not a short token.
	if _, err := c.Token(ctx, 2*time.Hour); err == nil {
		t.Errorf("Token(2h) with 1h tokens succeeded")
	}
}

func grants(s *entrasim.Server) string {
	var g []string
	for _, r := range s.Requests() {
		if r.GrantType != "" {
			g = append(g, r.GrantType)
		}
	}
	return strings.Join(g, ",")
}

func TestRefreshRedeemsAndRotationIsPersisted(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{StrictRotation: true})
	ctx := ctxT(t)
	st, err := store.Open(ctx, store.Options{Dir: t.TempDir(), Storage: "file"})
	if err != nil {
		t.Fatalf("store.Open: %v", err)
	}
	c := newClient(t, s, clientOpts{cache: st.Cache("test")})
	first, err := c.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}

	s.ResetLog()
	second, err := c.Refresh(ctx)
	if err != nil {
		t.Fatalf("Refresh: %v", err)
	}
	reqs := s.Requests()
	if len(reqs) != 1 || reqs[0].GrantType != "refresh_token" || !reqs[0].Claims || reqs[0].Status != http.StatusOK {
		t.Fatalf("Refresh requests = %+v, want one refresh_token grant with claims", reqs)
	}
	if second.Value.Reveal() == first.Value.Reveal() {
		t.Errorf("Refresh returned the cached token")
	}
	// The refreshed token is what the cache now answers, without a request.
	s.ResetLog()
	if tok, err := c.Token(ctx, 5*time.Minute); err != nil || tok.Value.Reveal() != second.Value.Reveal() {
		t.Errorf("Token after Refresh: err %v, same token %v", err, err == nil && tok.Value.Reveal() == second.Value.Reveal())
	}

	// A second process (new store, new client) must find the rotated
	// refresh token: with strict rotation the first one is dead.
	st2, err := store.Open(ctx, store.Options{Dir: filepath.Dir(st.Path()), Storage: "file"})
	if err != nil {
		t.Fatalf("store.Open again: %v", err)
	}
	c2 := newClient(t, s, clientOpts{cache: st2.Cache("test")})
	if _, err := c2.Refresh(ctx); err != nil {
		t.Fatalf("Refresh in a second process: %v (the rotated refresh token was not persisted)", err)
	}
	if got := grants(s); got != "refresh_token" {
		t.Errorf("grants = %q", got)
	}
}

func TestRevokedRefreshTokenNeedsSignIn(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	c := newClient(t, s, clientOpts{})
	login(t, c)
	s.RevokeRefreshTokens()
	_, err := c.Refresh(ctxT(t))
	if !errors.Is(err, auth.ErrSignInRequired) {
		t.Fatalf("Refresh after revocation: %v, want ErrSignInRequired", err)
	}
	e := auth.Classify(err)
	if e.Code != "50173" || !strings.Contains(e.Hint, "broker login --profile test") {
		t.Errorf("error = %+v", e)
	}
	// And through Token, which must not fall back to interaction.
	if _, err := c.Token(ctxT(t), 2*time.Hour); !errors.Is(err, auth.ErrSignInRequired) {
		t.Errorf("Token after revocation: %v", err)
	}
}

func TestNeverSignedIn(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	c := newClient(t, s, clientOpts{})
	_, err := c.Token(ctxT(t), 5*time.Minute)
	if !errors.Is(err, auth.ErrSignInRequired) || auth.ClassOf(err) != auth.ClassSignInRequired {
		t.Fatalf("Token never signed in: %v", err)
	}
	if _, err := c.Refresh(ctxT(t)); !errors.Is(err, auth.ErrSignInRequired) {
		t.Fatalf("Refresh never signed in: %v", err)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("%d requests to the authority", n)
	}
	if _, ok := c.Account(ctxT(t)); ok {
		t.Errorf("Account() reports an account")
	}
}

func TestGraphAudienceIsRejected(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	p := simProfile(s)
	p.Scopes = []string{"User.Read"}
	c := newClient(t, s, clientOpts{profile: p})
	_, err := c.Login(ctxT(t), false)
	e := auth.Classify(err)
	if e == nil || e.Class != auth.ClassMisconfigured || !strings.Contains(e.Message, "Microsoft Graph") || !strings.Contains(e.Hint, "scopes") {
		t.Fatalf("Login with a Graph scope: %+v", e)
	}
}

func TestLogout(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	mc := &memCache{}
	c := newClient(t, s, clientOpts{cache: mc})
	login(t, c)
	if err := c.Logout(ctxT(t)); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	if _, err := newClient(t, s, clientOpts{cache: mc}).Token(ctxT(t), 0); !errors.Is(err, auth.ErrSignInRequired) {
		t.Errorf("Token after Logout: %v", err)
	}
	if bytes.Contains(mc.data, []byte("secret")) && bytes.Contains(mc.data, []byte(`"RefreshToken":{"`)) {
		t.Errorf("the cache still holds a refresh token")
	}
}

// TestFailureClasses queues every AADSTS code of the lists at the real
// token endpoint and checks the class MSAL's error is given.
func TestFailureClasses(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	c := newClient(t, s, clientOpts{})
	login(t, c)
	ctx := ctxT(t)

	cases := []struct {
		code     int
		oauthErr string
		class    auth.Class
	}{
		{50076, "invalid_grant", auth.ClassSignInRequired},
		{50079, "invalid_grant", auth.ClassSignInRequired},
		{65001, "invalid_grant", auth.ClassSignInRequired},
		{70008, "invalid_grant", auth.ClassSignInRequired},
		{700082, "invalid_grant", auth.ClassSignInRequired},
		{50173, "invalid_grant", auth.ClassSignInRequired},
		{50133, "invalid_grant", auth.ClassSignInRequired},
		{53003, "invalid_grant", auth.ClassSignInRequired},
		{0, "invalid_grant", auth.ClassSignInRequired},
		{0, "interaction_required", auth.ClassSignInRequired},
		{12345, "interaction_required", auth.ClassSignInRequired},
		{700016, "unauthorized_client", auth.ClassMisconfigured},
		{7000218, "invalid_client", auth.ClassMisconfigured},
		{650053, "invalid_client", auth.ClassMisconfigured},
		{500011, "invalid_resource", auth.ClassMisconfigured},
		{90002, "invalid_request", auth.ClassMisconfigured},
		{9002327, "invalid_request", auth.ClassMisconfigured},
		{90033, "temporarily_unavailable", auth.ClassTemporary},
		{50000, "server_error", auth.ClassTemporary},
	}
	for _, tc := range cases {
		s.QueueError(tc.code, tc.oauthErr, "")
		_, err := c.Refresh(ctx)
		e := auth.Classify(err)
		if e == nil {
			t.Errorf("AADSTS%d %s: no error", tc.code, tc.oauthErr)
			continue
		}
		if e.Class != tc.class {
			t.Errorf("AADSTS%d %s: class %s, want %s (%s)", tc.code, tc.oauthErr, e.Class, tc.class, e.Message)
		}
		if tc.code != 0 && e.Code != strconv.Itoa(tc.code) {
			t.Errorf("AADSTS%d: Code = %q", tc.code, e.Code)
		}
		if e.Hint == "" || e.Message == "" || e.Message != strings.ToLower(e.Message[:1])+e.Message[1:] {
			t.Errorf("AADSTS%d: message %q hint %q", tc.code, e.Message, e.Hint)
		}
	}

	s.FailNext(1, http.StatusServiceUnavailable)
	_, err := c.Refresh(ctx)
	if e := auth.Classify(err); e.Class != auth.ClassTemporary {
		t.Errorf("503: %+v", e)
	}
	s.FailNext(1, http.StatusInternalServerError)
	_, err = c.Refresh(ctx)
	if e := auth.Classify(err); e.Class != auth.ClassTemporary {
		t.Errorf("500: %+v", e)
	}
	s.Throttle(1, 7*time.Second)
	_, err = c.Refresh(ctx)
	if e := auth.Classify(err); e.Class != auth.ClassTemporary || e.RetryAfter != 7*time.Second {
		t.Errorf("429: %+v", e)
	}

	s.SetDelay(3 * time.Second)
	short, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err = c.Refresh(short)
	cancel()
	s.SetDelay(0)
	if e := auth.Classify(err); e.Class != auth.ClassTemporary {
		t.Errorf("timeout: %+v", e)
	}

	// After all that the refresh token still works.
	if _, err := c.Refresh(ctx); err != nil {
		t.Errorf("Refresh after the faults: %v", err)
	}
}

func TestUnreachableAuthorityIsTemporary(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	p := simProfile(s)
	p.Authority = "https://" + addr
	c := newClient(t, s, clientOpts{profile: p})
	_, err = c.Login(ctxT(t), true)
	if e := auth.Classify(err); e == nil || e.Class != auth.ClassTemporary {
		t.Fatalf("unreachable authority: %+v", e)
	}
}

func TestOutageIsTemporary(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	s.SetOutage(true, http.StatusServiceUnavailable)
	_, err := newClient(t, s, clientOpts{}).Login(ctxT(t), true)
	if e := auth.Classify(err); e == nil || e.Class != auth.ClassTemporary {
		t.Fatalf("outage: %+v", e)
	}
}

func TestWrongTenantAndClient(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{AutoApproveDevice: true, DeviceInterval: time.Second})
	p := simProfile(s)
	p.Tenant = "fabrikam.onmicrosoft.com"
	_, err := newClient(t, s, clientOpts{profile: p}).Login(ctxT(t), true)
	if e := auth.Classify(err); e == nil || e.Class != auth.ClassMisconfigured || e.Code != "90002" {
		t.Errorf("wrong tenant: %+v", e)
	}
	p = simProfile(s)
	p.ClientID = "00000000-1111-2222-3333-444444444444"
	for _, dc := range []bool{true, false} {
		_, err = newClient(t, s, clientOpts{profile: p}).Login(ctxT(t), dc)
		if e := auth.Classify(err); e == nil || e.Class != auth.ClassMisconfigured || e.Code != "700016" {
			t.Errorf("wrong client id (device code %v): %+v", dc, e)
		}
	}
}

// refreshInTransport adds Entra's refresh_in to every token answer, as
// Entra does for long-lived tokens, so that MSAL refreshes proactively.
type refreshInTransport struct {
	base      http.RoundTripper
	refreshIn int
}

func (rt refreshInTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := rt.base.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK || !strings.HasSuffix(r.URL.Path, "/token") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		return nil, err
	}
	m["refresh_in"] = rt.refreshIn
	b, _ = json.Marshal(m)
	resp.Body = io.NopCloser(bytes.NewReader(b))
	resp.ContentLength = int64(len(b))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestProactiveRefreshFailureKeepsTheCachedToken: MSAL returns the cached
// token AND an error when its proactive refresh fails. A token that still
// meets minValidity is served; one that does not is an error.
func TestProactiveRefreshFailureKeepsTheCachedToken(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{Lifetime: time.Hour})
	hc := s.HTTPClient()
	hc.Transport = refreshInTransport{base: hc.Transport, refreshIn: 1}
	c, err := auth.New(simProfile(s), auth.Options{HTTPClient: hc, Cache: &memCache{},
		OpenURL: func(u string) error { return entrasim.Browse(ctxT(t), hc, u) }})
	if err != nil {
		t.Fatal(err)
	}
	first, err := c.Login(ctxT(t), false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	time.Sleep(1100 * time.Millisecond)

	s.ResetLog()
	s.FailNext(1, http.StatusServiceUnavailable)
	tok, err := c.Token(ctxT(t), 5*time.Minute)
	if err != nil {
		t.Fatalf("Token with a failed proactive refresh: %v", err)
	}
	if tok.Value.Reveal() != first.Value.Reveal() {
		t.Errorf("not the cached token")
	}
	if got := grants(s); got != "refresh_token" {
		t.Errorf("grants = %q: MSAL did not try a proactive refresh", got)
	}

	// The same failure when the caller needs more than the cached token
	// has: an error, not a short token.
	s.FailNext(2, http.StatusServiceUnavailable)
	if _, err := c.Token(ctxT(t), 2*time.Hour); auth.ClassOf(err) != auth.ClassTemporary {
		t.Errorf("Token(2h) with failing refreshes: %v", err)
	}
}

func TestBrowserThatCannotStart(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	c, err := auth.New(simProfile(s), auth.Options{HTTPClient: s.HTTPClient(),
		OpenURL: auth.BrowserOpener(filepath.Join(t.TempDir(), "no-such-browser"))})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Login(ctxT(t), false)
	e := auth.Classify(err)
	if e == nil || !strings.Contains(e.Message, "cannot open a browser") || !strings.Contains(e.Hint, "--device-code") {
		t.Fatalf("Login with a missing browser: %+v", e)
	}
}

// TestCodesUsersMeet covers AADSTS codes of 2026 through real MSAL against
// the simulator: each gets the class whose handling fits (signing in
// again does not fix an assignment, a device policy or a wrong
// resource), and a hint that names the fix.
func TestCodesUsersMeet(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	c := newClient(t, s, clientOpts{})
	login(t, c)
	ctx := ctxT(t)
	cases := []struct {
		code     int
		oauthErr string
		hint     string // a word of the fix
	}{
		{50105, "invalid_grant", "Users and groups"},
		{50020, "invalid_request", "guest"},
		{530084, "invalid_grant", "token-protection"},
		{900144, "invalid_request", "scopes"},
		{65002, "invalid_client", "your own public-client app"},
		{70011, "invalid_scope", ".default"},
		{50097, "invalid_grant", "OS broker"},
		{53000, "invalid_grant", "device-compliance"},
		{9010010, "invalid_target", "Application ID URI"},
		{28000, "invalid_scope", "one API"},
	}
	for _, tc := range cases {
		s.QueueError(tc.code, tc.oauthErr, "")
		_, err := c.Refresh(ctx)
		e := auth.Classify(err)
		if e == nil {
			t.Errorf("AADSTS%d: no error", tc.code)
			continue
		}
		if e.Class != auth.ClassMisconfigured || e.Code != strconv.Itoa(tc.code) {
			t.Errorf("AADSTS%d: class %s code %q, want misconfigured (%s)", tc.code, e.Class, e.Code, e.Message)
		}
		if strings.Contains(e.Hint, "broker login") {
			t.Errorf("AADSTS%d: hint says to sign in again, which does not help: %q", tc.code, e.Hint)
		}
		if !strings.Contains(e.Hint, tc.hint) || !strings.Contains(e.Message, "AADSTS"+strconv.Itoa(tc.code)) {
			t.Errorf("AADSTS%d: message %q hint %q, want the hint to mention %q", tc.code, e.Message, e.Hint, tc.hint)
		}
	}
	if _, err := c.Refresh(ctx); err != nil {
		t.Errorf("Refresh after the faults: %v", err)
	}
}

// TestRefreshDuringInteractiveSignIn: an interactive sign-in waits for the
// user (up to 10 minutes); meanwhile the current token can still be
// refreshed by the same client (the daemon's schedule, Refresh now).
func TestRefreshDuringInteractiveSignIn(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	mc := &memCache{}
	login(t, newClient(t, s, clientOpts{cache: mc}))
	hc := s.HTTPClient()
	ctx := ctxT(t)
	var c *auth.Client
	refreshed := make(chan error, 1)
	c, err := auth.New(simProfile(s), auth.Options{HTTPClient: hc, Cache: mc,
		// The user is slow: while the browser is open, a refresh runs.
		OpenURL: func(u string) error {
			go func() { _, err := c.Refresh(ctx); refreshed <- err }()
			select {
			case err := <-refreshed:
				if err != nil {
					return err
				}
			case <-ctx.Done():
				return errors.New("the refresh waited for the sign-in to end")
			}
			return entrasim.Browse(ctx, hc, u)
		}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Login(ctx, false); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if n := strings.Count(grants(s), "refresh_token"); n != 1 {
		t.Errorf("%d refresh_token grants during the sign-in, want 1 (%s)", n, grants(s))
	}
}

// A claims challenge that needs the user stays pending through a refresh
// ("Refresh now", the daemon's schedule): a token without the claims would
// only be refused again, so the refresh is sign-in required too, until a
// sign-in carries them; after it a refresh is silent again.
func TestRefreshCarriesAPendingClaimsChallenge(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	c := newClient(t, s, clientOpts{})
	ctx := ctxT(t)
	if _, err := c.Login(ctx, false); err != nil {
		t.Fatalf("Login: %v", err)
	}
	const claims = `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	if _, err := c.Challenge(ctx, claims); !errors.Is(err, auth.ErrSignInRequired) {
		t.Fatalf("Challenge needing a step-up: %v, want sign-in required", err)
	}
	if _, err := c.Refresh(ctx); !errors.Is(err, auth.ErrSignInRequired) {
		t.Fatalf("Refresh with the challenge pending: %v, want sign-in required", err)
	}
	tok, err := c.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login with the claims: %v", err)
	}
	if acrs := tokenClaim(t, tok.Value.Reveal(), "acrs"); !strings.Contains(acrs, "c1") {
		t.Errorf("acrs after the sign-in = %s, want c1", acrs)
	}
	if _, err := c.Refresh(ctx); err != nil {
		t.Fatalf("Refresh after the sign-in met the claims: %v", err)
	}
}

// tokenClaim is one claim of a JWT's payload, as JSON ("" when absent).
func tokenClaim(t *testing.T, jwt, name string) string {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT")
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	return string(m[name])
}
