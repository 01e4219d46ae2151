package entrasim

import (
	"encoding/base64"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
)

// challengeClaims reads the claims of an insufficient_claims challenge.
func challengeClaims(t *testing.T, h http.Header) string {
	t.Helper()
	ch := h.Get("WWW-Authenticate")
	m := regexp.MustCompile(`error="insufficient_claims".*claims="([^"]+)"`).FindStringSubmatch(ch)
	if m == nil {
		t.Fatalf("no insufficient_claims challenge in %q", ch)
	}
	b, err := base64.StdEncoding.DecodeString(m[1])
	if err != nil {
		t.Fatalf("challenge claims: %v", err)
	}
	return string(b)
}

func newCAEClient(t *testing.T, s *Server, capabilities []string) public.Client {
	t.Helper()
	pca, err := public.New(s.ClientID(), public.WithAuthority(s.Authority()), public.WithHTTPClient(s.HTTPClient()),
		public.WithInstanceDiscovery(false), public.WithCache(&memCache{}), public.WithClientCapabilities(capabilities))
	if err != nil {
		t.Fatal(err)
	}
	return pca
}

// TestAuthContextChallenge: an API that demands an authentication context
// refuses a valid token with a claims challenge; MSAL cannot satisfy it
// silently (interaction_required), an interactive sign-in with the claims
// gets a token with acrs that the API takes.
func TestAuthContextChallenge(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	pca := newCAEClient(t, s, []string{"cp1"})
	scopes := []string{s.Scope()}
	res, err := interactive(ctx, t, s, pca, scopes)
	if err != nil {
		t.Fatal(err)
	}
	if cc := claimsOf(t, res.AccessToken)["xms_cc"]; !hasString(cc, "cp1") {
		t.Errorf("xms_cc = %v, want the client's cp1", cc)
	}
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	if st, body, _ := mcpPost(t, s, res.AccessToken, "", init); st != 200 {
		t.Fatalf("before the policy: %d %s", st, body)
	}
	s.RequireAuthContext("c1")
	st, _, h := mcpPost(t, s, res.AccessToken, "", init)
	if st != 401 {
		t.Fatalf("without acrs: %d, want 401", st)
	}
	claims := challengeClaims(t, h)
	if claims != `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}` {
		t.Errorf("challenge claims = %s", claims)
	}
	accts, _ := pca.Accounts(ctx)
	_, err = pca.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accts[0]), public.WithClaims(claims))
	var ce errors.CallErr
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "AADSTS50076") || !strings.Contains(err.Error(), "interaction_required") {
		t.Fatalf("silent with the auth context: %v, want AADSTS50076 interaction_required", err)
	}
	browsed := make(chan error, 1)
	stepped, err := pca.AcquireTokenInteractive(ctx, scopes, public.WithClaims(claims), public.WithOpenURL(func(u string) error {
		if !strings.Contains(u, "claims=") {
			t.Errorf("the sign-in page URL carries no claims: %s", u)
		}
		go func() { browsed <- Browse(ctx, s.HTTPClient(), u) }()
		return nil
	}))
	if err != nil {
		t.Fatal(err)
	}
	<-browsed
	if acrs := claimsOf(t, stepped.AccessToken)["acrs"]; !hasString(acrs, "c1") {
		t.Errorf("acrs = %v after the step-up", acrs)
	}
	if st, body, _ := mcpPost(t, s, stepped.AccessToken, "", init); st != 200 {
		t.Errorf("with acrs c1: %d %s", st, body)
	}
	if calls := s.MCPCalls(); calls[1].Reason != "authentication context c1 required" || calls[1].Authorized {
		t.Errorf("the refused call is logged as %+v", calls[1])
	}
}

// TestRevokeSessions: after a CAE critical event, a cp1 client's token is
// challenged for a newer nbf, which a silent request satisfies; a client
// without cp1 gets a plain invalid_token.
func TestRevokeSessions(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	init := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"t","version":"1"}}}`
	cae := newCAEClient(t, s, []string{"cp1"})
	plain := newCAEClient(t, s, nil)
	scopes := []string{s.Scope()}
	a, err := interactive(ctx, t, s, cae, scopes)
	if err != nil {
		t.Fatal(err)
	}
	b, err := interactive(ctx, t, s, plain, scopes)
	if err != nil {
		t.Fatal(err)
	}
	s.RevokeSessions()
	st, _, h := mcpPost(t, s, a.AccessToken, "", init)
	if st != 401 {
		t.Fatalf("revoked cp1 token: %d", st)
	}
	claims := challengeClaims(t, h)
	if !strings.HasPrefix(claims, `{"access_token":{"nbf":{"essential":true,"value":"`) {
		t.Errorf("challenge claims = %s", claims)
	}
	accts, _ := cae.Accounts(ctx)
	fresh, err := cae.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accts[0]), public.WithClaims(claims))
	if err != nil {
		t.Fatalf("silent with the nbf claims: %v", err)
	}
	if fresh.AccessToken == a.AccessToken {
		t.Fatal("MSAL answered from its cache despite the claims")
	}
	if st, body, _ := mcpPost(t, s, fresh.AccessToken, "", init); st != 200 {
		t.Errorf("the new token: %d %s", st, body)
	}
	st, _, h = mcpPost(t, s, b.AccessToken, "", init)
	if ch := h.Get("WWW-Authenticate"); st != 401 || !strings.Contains(ch, `error="invalid_token"`) || strings.Contains(ch, "insufficient_claims") {
		t.Errorf("revoked token of a client without cp1: %d %q", st, ch)
	}
}
