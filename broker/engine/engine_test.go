package engine_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

func simConfig(s *entrasim.Server, names ...string) *config.Config {
	cfg := &config.Config{Settings: config.Settings{Storage: "file"}, Profiles: map[string]*config.Profile{}}
	for _, n := range names {
		cfg.Profiles[n] = &config.Profile{Name: n, Tenant: s.TenantID(), ClientID: s.ClientID(),
			Scopes: []string{s.Scope()}, Authority: s.URL(),
			Targets: []config.Target{{Client: "envfile", Path: "/tmp/x.env", Profile: n}}}
	}
	return cfg
}

func TestSelectProfile(t *testing.T) {
	t.Parallel()
	one := &config.Config{Profiles: map[string]*config.Profile{"a": {Name: "a"}}}
	two := &config.Config{Profiles: map[string]*config.Profile{"a": {Name: "a"}, "b": {Name: "b"}}}
	none := &config.Config{Profiles: map[string]*config.Profile{}}
	cases := []struct {
		cfg     *config.Config
		name    string
		want    string
		errLike string
		hint    string
	}{
		{one, "", "a", "", ""},
		{one, "a", "a", "", ""},
		{two, "b", "b", "", ""},
		{two, "", "", "several profiles are configured (a, b)", "--profile"},
		{two, "c", "", `unknown profile "c"`, "known profiles: a, b"},
		{none, "", "", "no profile is configured", "[profiles.NAME]"},
	}
	for _, tc := range cases {
		p, err := engine.SelectProfile(tc.cfg, tc.name)
		if tc.errLike == "" {
			if err != nil || p.Name != tc.want {
				t.Errorf("%q: %v, %v", tc.name, p, err)
			}
			continue
		}
		var ce *config.Error
		if !errors.As(err, &ce) || !strings.Contains(ce.Message, tc.errLike) || !strings.Contains(ce.Hint, tc.hint) {
			t.Errorf("%q: error %#v, want %q / hint %q", tc.name, err, tc.errLike, tc.hint)
		}
	}
}

func TestStatusAndLogout(t *testing.T) {
	t.Parallel()
	s, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	open := func() *engine.Engine {
		e, err := engine.Open(ctx, engine.Options{
			Config: simConfig(s, "a", "b"), StateDir: dir, HTTPClient: s.HTTPClient(),
			OpenURL: func(u string) error { return entrasim.Browse(ctx, s.HTTPClient(), u) },
		})
		if err != nil {
			t.Fatalf("engine.Open: %v", err)
		}
		return e
	}
	e := open()
	st := e.Status(ctx)
	if st.Storage != "file" || len(st.Profiles) != 2 || st.Profiles[0].State != state.SignedOut || st.Profiles[1].State != state.SignedOut {
		t.Fatalf("status before login: %+v", st)
	}
	if len(st.Profiles[0].Targets) != 1 || st.Profiles[0].Targets[0].State != state.TargetPending {
		t.Errorf("targets: %+v", st.Profiles[0].Targets)
	}

	c, err := e.Client("a")
	if err != nil {
		t.Fatal(err)
	}
	if again, _ := e.Client("a"); again != c {
		t.Errorf("Client built twice")
	}
	tok, err := c.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}

	// Another engine (another process) sees profile a signed in, b not,
	// without asking the authority.
	s.ResetLog()
	st = open().Status(ctx)
	a, b := st.Profiles[0], st.Profiles[1]
	if a.State != state.OK || a.Account != s.Username() || a.ExpiresOn == nil || a.ExpiresOn.Sub(tok.ExpiresOn).Abs() > 2*time.Second {
		// The cache keeps MSAL's expiry (its receipt time plus expires_in,
		// to the second); the token's is the earlier of that and its exp
		// claim: they differ by up to a second.
		t.Errorf("profile a: %+v (token expires %s)", a, tok.ExpiresOn)
	}
	if b.State != state.SignedOut {
		t.Errorf("profile b: %+v", b)
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("status made %d requests", n)
	}
	cb, _ := open().Client("b")
	if _, err := cb.Token(ctx, time.Minute); !errors.Is(err, auth.ErrSignInRequired) {
		t.Errorf("profile b Token: %v", err)
	}

	if err := open().Logout(ctx, "a"); err != nil {
		t.Fatalf("Logout: %v", err)
	}
	e2 := open()
	if st := e2.Status(ctx); st.Profiles[0].State != state.SignedOut {
		t.Errorf("after logout: %+v", st.Profiles[0])
	}
	ca, _ := e2.Client("a")
	if _, err := ca.Token(ctx, time.Minute); !errors.Is(err, auth.ErrSignInRequired) {
		t.Errorf("Token after logout: %v", err)
	}
}
