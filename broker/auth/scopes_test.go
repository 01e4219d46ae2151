package auth_test

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// scopeClient is a client of the simulator's profile that keeps the
// scopes servers add in file (a second client on the same cache and file
// is another process); scopes replace the profile's .default when given.
func scopeClient(t *testing.T, s *entrasim.Server, cache *memCache, file string, scopes ...string) *auth.Client {
	t.Helper()
	hc := s.HTTPClient()
	p := simProfile(s)
	if len(scopes) > 0 {
		p.Scopes = scopes
	}
	c, err := auth.New(p, auth.Options{
		HTTPClient: hc, Cache: cache, ScopesFile: file,
		OpenURL: func(u string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return entrasim.Browse(ctx, hc, u)
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// TestScopeChallengeNeedsConsent: real MSAL against the simulator. A
// server asks for a scope nobody consented to: the silent request for the
// union fails, the error is sign-in required naming the server and the
// scope, the scope is kept, and the next interactive sign-in (another
// process) asks for the union and gets a token that carries it; later
// silent refreshes keep asking for it; logout forgets it.
func TestScopeChallengeNeedsConsent(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	cache := &memCache{}
	file := filepath.Join(t.TempDir(), "scopes-test.json")
	user := s.APIScope("access_as_user")
	c := scopeClient(t, s, cache, file, user)
	login(t, c)
	write := s.APIScope("Tools.Write")

	_, err := c.ScopeChallenge(ctxT(t), "demo", []string{write, "openid"})
	e := auth.Classify(err)
	if e == nil || e.Class != auth.ClassSignInRequired || e.Message != "demo needs scope "+write || !strings.Contains(e.Hint, "broker login --profile test") {
		t.Fatalf("a scope without consent: %+v, want sign-in required naming demo and %s", e, write)
	}
	if !strings.Contains(auth.Classify(e.Err).Message, "consent") {
		t.Errorf("the cause is not the missing consent: %v", e.Err)
	}
	if b, err := os.ReadFile(file); err != nil || !strings.Contains(string(b), write) || strings.Contains(string(b), "openid") {
		t.Errorf("the scopes file: %q %v", b, err)
	}
	if _, err := c.Token(ctxT(t), 0); auth.ClassOf(err) != auth.ClassSignInRequired {
		t.Errorf("a silent request after the challenge: %v, want sign-in required (it asks for the union)", err)
	}

	other := scopeClient(t, s, cache, file, user)
	if got := other.Scopes(); !slices.Equal(got, []string{user, write}) {
		t.Errorf("another process asks for %v", got)
	}
	tok, err := other.Login(ctxT(t), false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tok.Scopes, "Tools.Write") {
		t.Errorf("the sign-in's token has scp %v, want Tools.Write", tok.Scopes)
	}
	if tok, err := other.Refresh(ctxT(t)); err != nil || !slices.Contains(tok.Scopes, "Tools.Write") {
		t.Errorf("a later refresh: %v %v", tok.Scopes, err)
	}
	var asked bool
	for _, r := range s.Requests() {
		if r.GrantType == "refresh_token" && strings.Contains(r.Scope, write) && r.Status == 200 {
			asked = true
		}
	}
	if !asked {
		t.Error("no silent refresh asked for the added scope")
	}
	if err := other.Logout(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) || len(other.ExtraScopes()) != 0 {
		t.Errorf("logout kept the added scopes: %v %v", err, other.ExtraScopes())
	}
}

// TestScopeChallengeSilent: the scope has consent (an admin's, given after
// the token was issued): the challenge gets a token with it silently,
// for a profile that names its scopes (the union) and for one that asks
// for .default (which Entra does not mix with named scopes: a new .default
// token carries what was granted).
func TestScopeChallengeSilent(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		named bool
		extra int // scopes kept beside the profile's
	}{{"named scopes", true, 1}, {".default", false, 0}} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := startSim(t, entrasim.Options{})
			var scopes []string
			if tc.named {
				scopes = []string{s.APIScope("access_as_user")}
			}
			c := scopeClient(t, s, &memCache{}, "", scopes...)
			login(t, c)
			if err := s.GrantConsent("Tools.Write"); err != nil {
				t.Fatal(err)
			}
			tok, err := c.ScopeChallenge(ctxT(t), "demo", []string{s.APIScope("Tools.Write")})
			if err != nil || !slices.Contains(tok.Scopes, "Tools.Write") {
				t.Fatalf("a consented scope: %v %v", tok.Scopes, err)
			}
			// Asked again (the server still refuses): a new token, not the cache.
			n := len(s.Requests())
			if _, err := c.ScopeChallenge(ctxT(t), "demo", []string{s.APIScope("Tools.Write")}); err != nil {
				t.Fatal(err)
			}
			if len(s.Requests()) == n {
				t.Error("a second challenge for the same scope made no token request")
			}
			if got := c.ExtraScopes(); len(got) != tc.extra {
				t.Errorf("extra scopes %v, want %d", got, tc.extra)
			}
			for _, r := range s.Requests() {
				if r.Status != 200 && r.Path != "" && strings.Contains(r.Path, "token") {
					t.Errorf("a token request failed: %+v", r)
				}
			}
		})
	}
}

// TestScopeChallengeDefaultWithoutConsent: a profile that asks for
// .default cannot add a scope (Entra does not mix them), and a new token
// lacks one nobody granted: the error says so and names the fixes; the
// profile's scopes stay as they are.
func TestScopeChallengeDefaultWithoutConsent(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	file := filepath.Join(t.TempDir(), "scopes-test.json")
	c := scopeClient(t, s, &memCache{}, file)
	login(t, c)
	_, err := c.ScopeChallenge(ctxT(t), "demo", []string{s.APIScope("Tools.Write")})
	e := auth.Classify(err)
	if e == nil || e.Class != auth.ClassMisconfigured || !strings.Contains(e.Message, "demo needs scope "+s.APIScope("Tools.Write")) ||
		!strings.Contains(e.Hint, "admin-consent") || !strings.Contains(e.Hint, s.APIScope("access_as_user")) {
		t.Fatalf("a scope nobody granted, for a .default profile: %+v", e)
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) {
		t.Errorf("a .default profile kept added scopes: %v", err)
	}
	if _, err := c.Token(ctxT(t), 0); err != nil {
		t.Errorf("the profile's own token after the challenge: %v", err)
	}
}

// TestScopeChallengeOtherAPI: a scope of another API (or of none) is an
// error that says so, and changes nothing.
func TestScopeChallengeOtherAPI(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	file := filepath.Join(t.TempDir(), "scopes-test.json")
	c := scopeClient(t, s, &memCache{}, file)
	login(t, c)
	n := len(s.Requests())
	for _, tc := range []struct{ scope, want string }{
		{"api://other-api/Files.Read", "demo asks for scope api://other-api/Files.Read, of another API, api://other-api: profile \"test\" is for api://mcp-demo-api, and one token is for one API"},
		{"Tools.Write", "names no API"},
		{"openid", "names none"},
	} {
		_, err := c.ScopeChallenge(ctxT(t), "demo", []string{tc.scope})
		if e := auth.Classify(err); e == nil || !strings.Contains(e.Message, tc.want) || e.Hint == "" || e.Class == auth.ClassSignInRequired {
			t.Errorf("%s: %+v, want an error saying %q", tc.scope, e, tc.want)
		}
	}
	if _, err := os.Stat(file); !os.IsNotExist(err) || len(s.Requests()) != n {
		t.Errorf("a refused challenge changed something: file %v, %d requests", err, len(s.Requests())-n)
	}
}

// TestAddedScopesFollowTheConfig: scopes kept for a profile that no longer
// fit it (config.toml now names another API, or the API's .default) are
// not asked for: the sign-in still works.
func TestAddedScopesFollowTheConfig(t *testing.T) {
	t.Parallel()
	s := startSim(t, entrasim.Options{})
	file := filepath.Join(t.TempDir(), "scopes-test.json")
	if err := os.WriteFile(file, []byte(`{"scopes":["api://old-api/Files.Read","`+s.APIScope("Tools.Write")+`"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	named := scopeClient(t, s, &memCache{}, file, s.APIScope("access_as_user"))
	if got := named.Scopes(); !slices.Equal(got, []string{s.APIScope("access_as_user"), s.APIScope("Tools.Write")}) {
		t.Errorf("named scopes: asks for %v", got)
	}
	if got := named.ExtraScopes(); !slices.Equal(got, []string{s.APIScope("Tools.Write")}) {
		t.Errorf("named scopes: added %v", got)
	}
	dflt := scopeClient(t, s, &memCache{}, file)
	if got := dflt.Scopes(); !slices.Equal(got, []string{s.Scope()}) || len(dflt.ExtraScopes()) != 0 {
		t.Errorf(".default: asks for %v, added %v", got, dflt.ExtraScopes())
	}
	login(t, dflt)
}
