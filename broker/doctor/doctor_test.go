package doctor

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// setup is a signed-in profile against the simulator, with a VS Code
// target written by the real integration.
type setup struct {
	sim    *entrasim.Server
	home   string
	cfg    *config.Config
	client *auth.Client
	tok    token.Token
	env    integrations.Env
}

func newSetup(t *testing.T, extraTarget string) *setup {
	t.Helper()
	return newSetupWith(t, extraTarget, entrasim.Options{})
}

// newSetupWith is newSetup against a simulator with o (its lifetime set).
func newSetupWith(t *testing.T, extraTarget string, o entrasim.Options) *setup {
	t.Helper()
	o.Lifetime = 65 * time.Minute
	sim, err := entrasim.Start(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	home := t.TempDir()
	cfgPath := filepath.Join(home, "config.toml")
	text := sim.ProfileTOML("api") + `
[[profiles.api.targets]]
client = "vscode"
server = "api"
url = "` + sim.MCPURL() + `"
` + extraTarget
	if err := os.WriteFile(cfgPath, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	c, err := auth.New(cfg.Profiles["api"], auth.Options{
		HTTPClient: sim.HTTPClient(),
		OpenURL:    func(u string) error { go entrasim.Browse(context.Background(), sim.HTTPClient(), u); return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tok, err := c.Login(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	env := integrations.Env{Home: home, Getenv: func(string) string { return "" }, GOOS: runtime.GOOS, BrokerPath: "/usr/bin/broker"}
	return &setup{sim: sim, home: home, cfg: cfg, client: c, tok: tok, env: env}
}

func (s *setup) apply(t *testing.T) {
	t.Helper()
	for _, tc := range s.cfg.Profiles["api"].Targets {
		it, err := integrations.New(tc, s.env)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := it.Apply(context.Background(), s.tok, nil); err != nil {
			t.Fatal(err)
		}
	}
}

// tokens serves a fixed token, or the client's.
type tokens struct {
	c   *auth.Client
	tok *token.Token
}

func (ts tokens) Token(ctx context.Context, _ string, min time.Duration) (token.Token, error) {
	if ts.tok != nil {
		return *ts.tok, nil
	}
	return ts.c.Token(ctx, min)
}

func (s *setup) options(probe bool, tok *token.Token) Options {
	return Options{
		Config:  s.cfg,
		Storage: "file",
		Tokens:  tokens{s.client, tok},
		Target: func(t config.Target) (Target, error) {
			it, err := integrations.New(t, s.env)
			if err != nil {
				return nil, err
			}
			return ForTarget(it), nil
		},
		HTTPClient: s.sim.HTTPClient(),
		Probe:      probe,
	}
}

// find returns the checks named name (and target, when given).
func find(r Report, name, target string) []Check {
	var out []Check
	for _, c := range r.Checks {
		if c.Name == name && (target == "" || c.Target == target) {
			out = append(out, c)
		}
	}
	return out
}

func expect(t *testing.T, r Report, name, target, level, substr string) {
	t.Helper()
	for _, c := range find(r, name, target) {
		if c.Level == level && strings.Contains(c.Message, substr) {
			if level != OK && c.Hint == "" {
				t.Errorf("%s %s: no hint", name, c.Message)
			}
			return
		}
	}
	t.Errorf("no %s check %q at level %s containing %q; got:\n%s", name, target, level, substr, dump(r))
}

func dump(r Report) string {
	var b strings.Builder
	for _, c := range r.Checks {
		b.WriteString(c.Level + " " + c.Name + " " + c.Target + " " + c.Message + " | " + c.Hint + "\n")
	}
	return b.String()
}

func TestHealthySetup(t *testing.T) {
	t.Parallel()
	for _, version := range []int{2, 1} {
		t.Run(fmt.Sprintf("v%d tokens", version), func(t *testing.T) {
			t.Parallel()
			s := newSetupWith(t, "", entrasim.Options{TokenVersion: version})
			s.apply(t)
			r := Run(context.Background(), s.options(true, nil))
			if r.Failed() {
				t.Fatalf("healthy setup failed:\n%s", dump(r))
			}
			expect(t, r, "sign-in", "", OK, "signed in as "+s.sim.Username())
			expect(t, r, "token", "", OK, fmt.Sprintf("v%d.0 token, aud %s, iss %s", version, s.sim.TokenAudience(), s.sim.TokenIssuer()))
			expect(t, r, "apim", "", OK, "<audience>"+s.sim.TokenAudience()+"</audience></audiences>; <validate-jwt> needs <issuer>"+s.sim.TokenIssuer()+"</issuer>")
			expect(t, r, "clock", "", OK, "clock skew")
			expect(t, r, "target", "vscode/api", OK, "token current")
			expect(t, r, "probe", "vscode/api", OK, `server "entrasim-mcp"`)
			for _, c := range r.Checks {
				if strings.Contains(c.Message+c.Hint, s.tok.Value.Reveal()) {
					t.Fatalf("a check prints the token: %+v", c)
				}
				if c.Level != OK && c.Name == "token" {
					t.Errorf("a v%d token gets %s: %s", version, c.Level, c.Message)
				}
			}
		})
	}
}

// TestV2AudienceOfAnotherAPI: with the default Application ID URI
// api://<application ID>, a v2 token for another application is caught.
func TestV2AudienceOfAnotherAPI(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, aud, want string
		warn            bool
	}{
		{"its own application ID", "3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68", "api://3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68", false},
		{"another application ID", "11111111-2222-3333-4444-555555555555", "api://3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68", true},
		{"a custom URI cannot be checked", "11111111-2222-3333-4444-555555555555", "api://data-platform", false},
		{"a v2 token with a URI aud", "api://other", "api://data-platform", true},
	} {
		c := token.Claims{Ver: "2.0", Aud: []string{tc.aud}}
		if got := audienceProblem(tc.aud, c, tc.want); (got != "") != tc.warn {
			t.Errorf("%s: audienceProblem = %q, want a warning: %v", tc.name, got, tc.warn)
		}
	}
	v1 := token.Claims{Ver: "1.0", Aud: []string{"3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68"}}
	if audienceProblem(v1.Aud[0], v1, "api://data-platform") == "" {
		t.Error("a v1 token whose aud is not the App ID URI passes")
	}
}

func TestExpiredAndGraphTokens(t *testing.T) {
	t.Parallel()
	s := newSetup(t, "")
	s.apply(t)

	expired := s.tok
	expired.ExpiresOn = time.Now().Add(-time.Minute)
	expired.Value = token.Secret(s.sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: -time.Minute}))
	r := Run(context.Background(), s.options(true, &expired))
	expect(t, r, "token", "", Fail, "expired")
	if !r.Failed() {
		t.Error("an expired token did not fail")
	}

	graph := s.tok
	graph.Audience = entrasim.GraphAudience
	graph.Value = token.Secret(s.sim.IssueAccessToken(entrasim.TokenOpts{Audience: entrasim.GraphAudience, Scopes: []string{"User.Read"}}))
	r = Run(context.Background(), s.options(false, &graph))
	expect(t, r, "token", "", Fail, "Microsoft Graph")
	for _, c := range find(r, "token", "") {
		if c.Level == Fail && !strings.Contains(c.Hint, s.sim.APIAudience()+"/.default") {
			t.Errorf("the Graph hint does not name the scope to set: %q", c.Hint)
		}
	}
}

func TestProbeExplains401(t *testing.T) {
	t.Parallel()
	s := newSetup(t, "")
	cases := []struct {
		name string
		opts entrasim.TokenOpts
		want string
	}{
		{"graph", entrasim.TokenOpts{Audience: entrasim.GraphAudience}, "Microsoft Graph"},
		{"expired", entrasim.TokenOpts{Lifetime: -10 * time.Minute}, "expired"},
		{"other api", entrasim.TokenOpts{Audience: "api://someone-else"}, "audience is api://someone-else"},
		{"bad signature", entrasim.TokenOpts{BadSignature: true}, "rejected the token"},
	}
	for _, tc := range cases {
		raw := s.sim.IssueAccessToken(tc.opts)
		tok := token.Token{Value: token.Secret(raw), Audience: tc.opts.Audience, ExpiresOn: time.Now().Add(tc.opts.Lifetime)}
		if tok.Audience == "" {
			tok.Audience = s.sim.TokenAudience()
		}
		if tc.opts.Lifetime == 0 {
			tok.ExpiresOn = time.Now().Add(time.Hour)
		}
		res := Probe(context.Background(), s.sim.HTTPClient(), s.sim.MCPURL(), tok.Value)
		if res.Status != 401 || res.Err == nil {
			t.Errorf("%s: status %d, err %v; want 401", tc.name, res.Status, res.Err)
			continue
		}
		msg, hint := explain401(res, tok, s.sim.APIAudience(), time.Now())
		if !strings.Contains(msg, tc.want) || hint == "" {
			t.Errorf("%s: explained as %q (hint %q), want %q", tc.name, msg, hint, tc.want)
		}
	}
	// The good token passes through the same probe.
	res := Probe(context.Background(), s.sim.HTTPClient(), s.sim.MCPURL(), s.tok.Value)
	if res.Err != nil || res.Status != 200 || res.Tools == 0 {
		t.Errorf("good token: %+v", res)
	}
}

func TestBrokenTargets(t *testing.T) {
	t.Parallel()
	s := newSetup(t, "")
	vscodePath := filepath.Join(s.home, ".config", "Code", "User", "mcp.json")
	if runtime.GOOS != "linux" {
		t.Skip("the VS Code path below is Linux's")
	}
	if err := os.MkdirAll(filepath.Dir(vscodePath), 0o700); err != nil {
		t.Fatal(err)
	}

	// Missing entry: a file without the server, and a target without url.
	noURL := *s.cfg
	prof := *s.cfg.Profiles["api"]
	prof.Targets = []config.Target{{Client: "vscode", Server: "api", Mode: "header", Template: "Bearer {token}", Profile: "api"}}
	noURL.Profiles = map[string]*config.Profile{"api": &prof}
	os.WriteFile(vscodePath, []byte("{\n  // mine\n  \"servers\": {}\n}\n"), 0o600)
	o := s.options(false, nil)
	o.Config = &noURL
	r := Run(context.Background(), o)
	expect(t, r, "target", "vscode/api", Fail, `server "api" not found`)

	// Unparsable file: named with line and column.
	os.WriteFile(vscodePath, []byte("{\n  \"servers\": {\n    \"api\": { \"url\": }\n  }\n}\n"), 0o600)
	r = Run(context.Background(), s.options(false, nil))
	expect(t, r, "target", "vscode/api", Fail, vscodePath+":3:")

	// Missing file.
	os.Remove(vscodePath)
	r = Run(context.Background(), s.options(false, nil))
	expect(t, r, "target", "vscode/api", Fail, "does not exist")

	// Stale token and a file others can read.
	s.apply(t)
	os.Chmod(vscodePath, 0o644)
	fresh, err := s.client.Refresh(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	r = Run(context.Background(), s.options(false, &fresh))
	expect(t, r, "target", "vscode/api", Warn, "holds an old token")
	expect(t, r, "target", "vscode/api", Warn, "readable by other users")
}

func TestTrackedFile(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is needed")
	}
	repo := t.TempDir()
	for _, args := range [][]string{{"init", "-q"}, {"config", "user.email", "t@example.com"}, {"config", "user.name", "t"}} {
		if out, err := exec.Command("git", append([]string{"-C", repo}, args...)...).CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v %s", args, err, out)
		}
	}
	mcp := filepath.Join(repo, ".vscode", "mcp.json")
	os.MkdirAll(filepath.Dir(mcp), 0o700)
	os.WriteFile(mcp, []byte("{\"servers\": {\"api\": {\"type\": \"http\", \"url\": \"https://x\"}}}\n"), 0o600)
	exec.Command("git", "-C", repo, "add", ".").Run()
	s := newSetup(t, "")
	prof := s.cfg.Profiles["api"]
	prof.Targets = []config.Target{{Client: "vscode", Server: "api", Path: mcp, Mode: "header", Template: "Bearer {token}", Profile: "api"}}
	r := Run(context.Background(), s.options(false, nil))
	expect(t, r, "target", "vscode/api", Fail, "tracked by git")
}

func TestConfigErrorStopsEarly(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(p, []byte("[settings]\nstorage = \"vault\"\n"), 0o600)
	_, err := config.Load("", p)
	r := Run(context.Background(), Options{ConfigErr: err})
	if len(r.Checks) != 1 || r.Checks[0].Level != Fail || !strings.Contains(r.Checks[0].Message, p+":2:1") || r.Checks[0].Hint == "" {
		t.Fatalf("got:\n%s", dump(r))
	}
}

// The source check names where the tokens come from; a credential tool
// that is not installed fails with what to install.
func TestSourceCheck(t *testing.T) {
	t.Setenv("PATH", t.TempDir()) // azureauth is nowhere
	p := &config.Profile{Name: "api", Tenant: "contoso.com", ClientID: "11111111-2222-3333-4444-555555555555",
		Scopes: []string{"api://x/.default"}, Login: config.LoginAzureAuth}
	c := sourceCheck(p)
	if c.Level != Fail || !strings.Contains(c.Message, "AzureAuth CLI (azureauth) is not installed") || !strings.Contains(c.Hint, "install AzureAuth") {
		t.Errorf("missing azureauth: %+v", c)
	}
	p.Login = config.LoginBrowser
	if c := sourceCheck(p); c.Level != OK || c.Message != `login = "browser": MSAL, sign-in in the browser` {
		t.Errorf("browser: %+v", c)
	}
	dir, name := t.TempDir(), "az"
	if runtime.GOOS == "windows" {
		name = "az.cmd"
	}
	if err := os.WriteFile(filepath.Join(dir, name), []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)
	p.Login = config.LoginAzureCLI
	if c := sourceCheck(p); c.Level != OK || c.Message != `login = "azurecli": az account get-access-token (`+filepath.Join(dir, name)+`)` {
		t.Errorf("azurecli: %+v", c)
	}
}
