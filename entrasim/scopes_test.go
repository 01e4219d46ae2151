package entrasim

import (
	"strings"
	"testing"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/mcp-token-broker/mcp-token-broker/broker/challenge"
)

// TestScopeConsent: real MSAL. A scope nobody consented to fails a silent
// request with AADSTS65001; an admin's consent makes the same silent
// request work, and the token's scp holds the scope; a scope consented in
// an interactive sign-in reaches every later token.
func TestScopeConsent(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	pca := newCAEClient(t, s, nil)
	base := []string{s.APIScope("access_as_user")}
	union := append(base[:1:1], s.APIScope("Tools.Write"))
	res, err := interactive(ctx, t, s, pca, base)
	if err != nil {
		t.Fatal(err)
	}
	if scp := claimsOf(t, res.AccessToken)["scp"]; scp != "access_as_user" {
		t.Errorf("scp = %v, want access_as_user", scp)
	}
	acct := res.Account
	_, err = pca.AcquireTokenSilent(ctx, union, public.WithSilentAccount(acct))
	if err == nil || !strings.Contains(err.Error(), "AADSTS65001") || !strings.Contains(err.Error(), "consent_required") {
		t.Fatalf("silent with a scope nobody consented to: %v, want AADSTS65001 consent_required", err)
	}
	if err := s.GrantConsent("nope"); err == nil {
		t.Error("consent to a scope the API does not expose")
	}
	if err := s.GrantConsent("Tools.Write"); err != nil {
		t.Fatal(err)
	}
	res, err = pca.AcquireTokenSilent(ctx, union, public.WithSilentAccount(acct))
	if err != nil {
		t.Fatalf("silent after the admin's consent: %v", err)
	}
	if scp := claimsOf(t, res.AccessToken)["scp"]; scp != "access_as_user Tools.Write" {
		t.Errorf("scp = %v, want both scopes", scp)
	}

	// Another user's machine: no admin consent, an interactive sign-in
	// with the union consents.
	s2 := startSim(t, Options{})
	pca2 := newCAEClient(t, s2, nil)
	union2 := []string{s2.APIScope("access_as_user"), s2.APIScope("Tools.Write")}
	res2, err := interactive(ctx, t, s2, pca2, union2)
	if err != nil {
		t.Fatal(err)
	}
	res, err = forceRefresh(ctx, pca2, res2.Account, []string{s2.Scope()})
	if err != nil {
		t.Fatalf("a refresh for .default after consenting: %v", err)
	}
	if scp := claimsOf(t, res.AccessToken)["scp"]; scp != "access_as_user Tools.Write" {
		t.Errorf("scp of a .default token after the consent = %v, want both scopes", scp)
	}
}

// TestRequireScope: tool calls of a token without the scope get 403 and
// an insufficient_scope challenge naming the scope in full; other methods
// and a token with the scope pass.
func TestRequireScope(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	pca := newCAEClient(t, s, nil)
	res, err := interactive(ctx, t, s, pca, []string{s.APIScope("access_as_user")})
	if err != nil {
		t.Fatal(err)
	}
	s.RequireScope("Tools.Write")
	call := `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`
	st, _, h := mcpPost(t, s, res.AccessToken, "", call)
	scope, ok := challenge.InsufficientScope(h.Values("WWW-Authenticate"))
	if st != 403 || !ok || scope != "api://mcp-demo-api/Tools.Write" {
		t.Fatalf("a tool call without the scope: %d %q %v, want 403 naming api://mcp-demo-api/Tools.Write", st, scope, ok)
	}
	if !strings.Contains(h.Get("WWW-Authenticate"), `resource_metadata="`+s.ResourceMetadataURL()+`"`) {
		t.Errorf("the challenge names no metadata: %s", h.Get("WWW-Authenticate"))
	}
	calls := s.MCPCalls()
	if last := calls[len(calls)-1]; last.Authorized || last.Reason != "scope Tools.Write required" || last.Status != 403 {
		t.Errorf("the call log: %+v", last)
	}
	if st, body, _ := mcpPost(t, s, res.AccessToken, "", `{"jsonrpc":"2.0","id":1,"method":"tools/list"}`); st != 200 {
		t.Errorf("tools/list without the scope: %d %s", st, body)
	}
	if err := s.GrantConsent("Tools.Write"); err != nil {
		t.Fatal(err)
	}
	accts, _ := pca.Accounts(ctx)
	res, err = pca.AcquireTokenSilent(ctx, []string{s.APIScope("access_as_user"), s.APIScope("Tools.Write")}, public.WithSilentAccount(accts[0]))
	if err != nil {
		t.Fatal(err)
	}
	if st, body, _ := mcpPost(t, s, res.AccessToken, "", call); st != 200 {
		t.Errorf("a tool call with the scope: %d %s", st, body)
	}
	s.RequireScope("")
}
