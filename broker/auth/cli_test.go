package auth_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// These tests run the CLI sources against fake az, azd and azureauth
// scripts that print exactly what the real tools print (the shapes and
// texts cited in cli.go). The real az runs against the simulator in
// cmd/broker's azurecli e2e test; azd and azureauth are not installable
// here.

const cliTenant = "11111111-2222-3333-4444-555555555555"

// fakeJWT is an unsigned access token with the claims the broker reads.
func fakeJWT(aud string, exp time.Time) string {
	enc := func(v any) string {
		b, _ := json.Marshal(v)
		return base64.RawURLEncoding.EncodeToString(b)
	}
	return enc(map[string]string{"alg": "RS256", "typ": "JWT"}) + "." +
		enc(map[string]any{"aud": aud, "exp": exp.Unix(), "tid": cliTenant, "upn": "alice@contoso.com", "scp": "access_as_user", "ver": "1.0"}) + ".c2ln"
}

// fakeTool writes an executable script NAME into a new folder that prints
// the contents of files the test sets: each run appends its arguments
// (one line) and AZUREAUTH_NO_USER to runs.log, then prints out.json on
// stdout and err.txt on stderr and exits with the number in code (0 when
// absent). A `login` run (az, azd) prints login.txt on stderr instead.
type fakeTool struct {
	dir string
	env []string
}

func newFakeTool(t *testing.T, name string) *fakeTool {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("the fake tools are sh scripts; the real az runs under cmd/broker's e2e test")
	}
	dir := t.TempDir()
	script := `#!/bin/sh
d=$(dirname "$0")
echo "$* no_user=${AZUREAUTH_NO_USER:-}" >> "$d/runs.log"
if [ -f "$d/sleep" ]; then exec sleep 30; fi
case "$1 $2" in
  "login "*|"auth login") cat "$d/login.txt" >&2 2>/dev/null; exit 0 ;;
esac
[ -f "$d/out.json" ] && cat "$d/out.json"
[ -f "$d/err.txt" ] && cat "$d/err.txt" >&2
exit $(cat "$d/code" 2>/dev/null || echo 0)
`
	if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return &fakeTool{dir: dir, env: []string{"PATH=" + dir + string(os.PathListSeparator) + "/usr/bin:/bin", "HOME=" + t.TempDir()}}
}

func (f *fakeTool) set(t *testing.T, name, content string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(f.dir, name), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// runs returns the argument lines of every run so far.
func (f *fakeTool) runs(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(f.dir, "runs.log"))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

func cliProfile(login string) *config.Profile {
	return &config.Profile{Name: "api", Tenant: cliTenant, ClientID: "22222222-3333-4444-5555-666666666666",
		Scopes: []string{"api://contoso-api/.default"}, Login: login}
}

func newCLIClient(t *testing.T, p *config.Profile, f *fakeTool, mc *memCache, out *bytes.Buffer) *auth.Client {
	t.Helper()
	o := auth.Options{Environ: f.env}
	if mc != nil {
		o.Cache = mc
	}
	if out != nil {
		o.DeviceCodeOut = out
	}
	c, err := auth.New(p, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// azJSON is az 2.45's answer (no expires_on) or a newer one (with it).
func azJSON(tok string, exp time.Time, epoch bool) string {
	v := map[string]any{"accessToken": tok, "expiresOn": exp.Local().Format("2006-01-02 15:04:05.000000"),
		"tenant": cliTenant, "tokenType": "Bearer"}
	if epoch {
		v["expires_on"] = exp.Unix()
	}
	b, _ := json.MarshalIndent(v, "", "  ")
	return string(b) + "\n"
}

func TestAzureCLIToken(t *testing.T) {
	t.Parallel()
	for _, epoch := range []bool{false, true} {
		t.Run(fmt.Sprintf("expires_on=%v", epoch), func(t *testing.T) {
			t.Parallel()
			ctx := ctxT(t)
			f := newFakeTool(t, "az")
			exp := time.Now().Add(time.Hour).Truncate(time.Second)
			// A JWT whose exp is later than az's expiry: az's word wins
			// when it is earlier.
			f.set(t, "out.json", azJSON(fakeJWT("api://contoso-api", exp.Add(time.Minute)), exp, epoch))
			mc := &memCache{}
			c := newCLIClient(t, cliProfile(auth.LoginAzureCLI), f, mc, nil)
			tok, err := c.Token(ctx, 5*time.Minute)
			if err != nil {
				t.Fatalf("Token: %v", err)
			}
			if tok.Audience != "api://contoso-api" || !tok.ExpiresOn.Equal(exp) || tok.Account != "alice@contoso.com" {
				t.Errorf("token: aud %q, expires %v (want %v), account %q", tok.Audience, tok.ExpiresOn, exp, tok.Account)
			}
			want := "account get-access-token --scope api://contoso-api/.default --tenant " + cliTenant + " --output json no_user="
			if runs := f.runs(t); len(runs) != 1 || runs[0] != want {
				t.Fatalf("runs = %q, want [%q]", runs, want)
			}
			// Another process (a new client on the same store) gets the
			// stored token without running az.
			other := newCLIClient(t, cliProfile(auth.LoginAzureCLI), f, mc, nil)
			if tok2, err := other.Token(ctx, 5*time.Minute); err != nil || tok2.Value.Reveal() != tok.Value.Reveal() {
				t.Fatalf("second Token: %v", err)
			}
			if n := len(f.runs(t)); n != 1 {
				t.Errorf("az ran %d times, want 1 (the stored token is good)", n)
			}
			cached, err := other.Cached(ctx)
			if err != nil || cached.Account != "alice@contoso.com" || !cached.ExpiresOn.Equal(exp) || !cached.HasRefreshToken {
				t.Errorf("Cached = %+v, %v", cached, err)
			}
			// Refresh runs az again; more validity than az's token has
			// is an error that says why.
			if _, err := other.Refresh(ctx); err != nil || len(f.runs(t)) != 2 {
				t.Errorf("Refresh: %v, %d runs", err, len(f.runs(t)))
			}
			_, err = other.Token(ctx, 2*time.Hour)
			var ae *auth.Error
			if !errors.As(err, &ae) || !strings.Contains(ae.Message, "less than the 2h0m0s asked for") || !strings.Contains(ae.Hint, "own cache") {
				t.Errorf("Token(2h) = %v", err)
			}
			// Logout forgets the stored token: the next Token runs az.
			if err := other.Logout(ctx); err != nil {
				t.Fatal(err)
			}
			if cached, _ := other.Cached(ctx); cached.Account != "" {
				t.Errorf("after Logout: Cached = %+v", cached)
			}
		})
	}
}

func TestAzureCLIGraphTokenRefused(t *testing.T) {
	t.Parallel()
	f := newFakeTool(t, "az")
	exp := time.Now().Add(time.Hour)
	f.set(t, "out.json", azJSON(fakeJWT("https://graph.microsoft.com", exp), exp, true))
	_, err := newCLIClient(t, cliProfile(auth.LoginAzureCLI), f, nil, nil).Token(ctxT(t), 0)
	if auth.ClassOf(err) != auth.ClassMisconfigured || !strings.Contains(err.Error(), "Microsoft Graph token") {
		t.Errorf("err = %v", err)
	}
}

func TestCLIFailures(t *testing.T) {
	t.Parallel()
	secret := fakeJWT("api://contoso-api", time.Now().Add(time.Hour))
	azLogin := "`az login --tenant " + cliTenant + " --scope api://contoso-api/.default --allow-no-subscriptions`"
	cases := []struct {
		name, tool, login  string
		stdout, stderr     string
		class              auth.Class
		message, hint, not string
	}{
		// core/_profile.py _AZ_LOGIN_MESSAGE, as knack prints a CLIError.
		{"az never signed in", "az", auth.LoginAzureCLI, "", "ERROR: Please run 'az login' to setup account.\n",
			auth.ClassSignInRequired, "az needs you to sign in: Please run 'az login' to setup account.", azLogin, ""},
		// core/auth/util.py aad_error_handler: the description, then the
		// recommendation; AADSTS70043 is not one the broker knows.
		{"az refresh token expired", "az", auth.LoginAzureCLI, "",
			"ERROR: AADSTS70043: The refresh token has expired or is invalid due to sign-in frequency checks by conditional access. " +
				"The token was issued on 2026-12-01T08:00:00Z and the maximum allowed lifetime for this request is 43200.\n" +
				"Interactive authentication is needed. Please run:\naz login --scope api://contoso-api/.default\n",
			auth.ClassSignInRequired, "AADSTS70043", azLogin, ""},
		{"az token protection", "az", auth.LoginAzureCLI, "",
			"ERROR: AADSTS530084: Access has been blocked by conditional access token protection policy.\nInteractive authentication is needed. Please run:\naz login --scope api://contoso-api/.default\n",
			auth.ClassMisconfigured, "token protection", "exclude the broker's app registration", ""},
		{"az not consented", "az", auth.LoginAzureCLI, "",
			"ERROR: AADSTS65001: The user or administrator has not consented to use the application with ID '04b07795-8ddb-461a-bbee-02f9e1bf7b46' named 'Microsoft Azure CLI'. Send an interactive authorization request for this user and resource.\nInteractive authentication is needed. Please run:\naz login --scope api://contoso-api/.default\n",
			auth.ClassSignInRequired, "the app needs your consent", "Authorized client applications", ""},
		{"az offline", "az", auth.LoginAzureCLI, "",
			"ERROR: HTTPSConnectionPool(host='login.microsoftonline.com', port=443): Max retries exceeded with url: /organizations/oauth2/v2.0/token\n",
			auth.ClassTemporary, "az failed: HTTPSConnectionPool", "network", ""},
		{"az unknown error leaks no token", "az", auth.LoginAzureCLI, "", "ERROR: something odd about " + secret + "\n",
			auth.ClassUnknown, "az failed: something odd about [token redacted]", "az account get-access-token --scope api://contoso-api/.default", secret},
		// azd prints errors as consoleMessage events on stdout with --output json.
		{"azd not logged in", "azd", auth.LoginAzd,
			`{"type":"consoleMessage","timestamp":"2026-12-04T21:00:00.123Z","data":{"message":"\nERROR: not logged in, run ` + "`azd auth login`" + ` to login\n"}}` + "\n", "",
			auth.ClassSignInRequired, "azd needs you to sign in: not logged in, run `azd auth login` to login",
			"`azd auth login --tenant-id " + cliTenant + " --scope api://contoso-api/.default`", ""},
		{"azureauth silent failure", "azureauth", auth.LoginAzureAuth, "",
			"Interactive authentication is disabled.\nOnly Broker silent authentication will be attempted.\nAuthentication failed. Re-run with '--verbosity debug' to get see more info.\n",
			auth.ClassSignInRequired, "azureauth needs you to sign in", "`broker login --profile api`", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			f := newFakeTool(t, tc.tool)
			f.set(t, "code", "1")
			if tc.stdout != "" {
				f.set(t, "out.json", tc.stdout)
			}
			f.set(t, "err.txt", tc.stderr)
			_, err := newCLIClient(t, cliProfile(tc.login), f, nil, nil).Token(ctxT(t), 0)
			var ae *auth.Error
			if !errors.As(err, &ae) {
				t.Fatalf("err = %v (%T), want *auth.Error", err, err)
			}
			if ae.Class != tc.class || !strings.Contains(ae.Message, tc.message) || !strings.Contains(ae.Hint, tc.hint) {
				t.Errorf("got %s %q hint %q\nwant %s %q hint containing %q", ae.Class, ae.Message, ae.Hint, tc.class, tc.message, tc.hint)
			}
			if tc.class == auth.ClassSignInRequired && !errors.Is(err, auth.ErrSignInRequired) {
				t.Errorf("%v does not match ErrSignInRequired", err)
			}
			if tc.not != "" && (strings.Contains(ae.Message, tc.not) || strings.Contains(ae.Hint, tc.not)) {
				t.Errorf("the error shows the token")
			}
		})
	}
}

func TestCLIToolMissing(t *testing.T) {
	t.Parallel()
	for _, login := range []string{auth.LoginAzureCLI, auth.LoginAzd, auth.LoginAzureAuth} {
		c, err := auth.New(cliProfile(login), auth.Options{Environ: []string{"PATH=" + t.TempDir()}})
		if err != nil {
			t.Fatal(err)
		}
		if login == auth.LoginAzureCLI {
			if _, err := os.Stat("/usr/bin/az"); err == nil {
				continue // found outside PATH: TestCLIToolOutsidePath
			}
		}
		_, err = c.Token(ctxT(t), 0)
		var ae *auth.Error
		if !errors.As(err, &ae) || ae.Class != auth.ClassMisconfigured || !strings.Contains(ae.Message, "is not installed or not on PATH") || !strings.Contains(ae.Hint, "install") {
			t.Errorf("%s: err = %v (hint %q)", login, err, hintOf(err))
		}
	}
}

// TestCLIToolOutsidePath: a daemon started at login has a short PATH; az
// is still found where its installers put it (here Debian's /usr/bin/az).
func TestCLIToolOutsidePath(t *testing.T) {
	if _, err := os.Stat("/usr/bin/az"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("CI needs azure-cli (scripts/test-deps installs it)")
		}
		t.Skip("no /usr/bin/az")
	}
	t.Parallel()
	out := &bytes.Buffer{}
	c, err := auth.New(cliProfile(auth.LoginAzureCLI), auth.Options{DeviceCodeOut: out,
		Environ: []string{"PATH=/nonexistent", "HOME=" + t.TempDir(), "AZURE_CONFIG_DIR=" + t.TempDir(), "AZURE_CORE_COLLECT_TELEMETRY=false"}})
	if err != nil {
		t.Fatal(err)
	}
	// The real az, never signed in: its own words make it sign-in required.
	_, err = c.Token(ctxT(t), 0)
	if auth.ClassOf(err) != auth.ClassSignInRequired || !strings.Contains(hintOf(err), "az login --tenant "+cliTenant) {
		t.Errorf("err = %v (hint %q), want sign-in required naming az login", err, hintOf(err))
	}
}

func hintOf(err error) string {
	var ae *auth.Error
	if errors.As(err, &ae) {
		return ae.Hint
	}
	return ""
}

func TestCLIToolTimeout(t *testing.T) {
	t.Parallel()
	f := newFakeTool(t, "az")
	f.set(t, "sleep", "")
	ctx, cancel := context.WithTimeout(ctxT(t), time.Second)
	defer cancel()
	_, err := newCLIClient(t, cliProfile(auth.LoginAzureCLI), f, nil, nil).Token(ctx, 0)
	if auth.ClassOf(err) != auth.ClassTemporary || !strings.Contains(err.Error(), "az did not answer in time") {
		t.Errorf("err = %v", err)
	}
}

func TestAzdToken(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newFakeTool(t, "azd")
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	// pkg/contracts/auth_token.go: {"token", "expiresOn" RFC 3339}.
	f.set(t, "out.json", fmt.Sprintf(`{"token":%q,"expiresOn":%q}`+"\n", fakeJWT("api://contoso-api", exp), exp.Format(time.RFC3339)))
	c := newCLIClient(t, cliProfile(auth.LoginAzd), f, nil, nil)
	tok, err := c.Token(ctx, 0)
	if err != nil || !tok.ExpiresOn.Equal(exp) {
		t.Fatalf("Token = %v, %v", tok.ExpiresOn, err)
	}
	// A claims challenge goes to azd as --claims BASE64.
	claims := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	if _, err := c.Challenge(ctx, claims); err != nil {
		t.Fatalf("Challenge: %v", err)
	}
	runs := f.runs(t)
	want := []string{
		"auth token --output json --tenant-id " + cliTenant + " --scope api://contoso-api/.default no_user=",
		"auth token --output json --tenant-id " + cliTenant + " --scope api://contoso-api/.default --claims " + base64.StdEncoding.EncodeToString([]byte(claims)) + " no_user=",
	}
	if strings.Join(runs, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(runs, "\n"), strings.Join(want, "\n"))
	}
}

func TestAzureAuthToken(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newFakeTool(t, "azureauth")
	exp := time.Now().Add(time.Hour).Truncate(time.Second)
	// src/MSALWrapper/TokenResult.cs ToJson: expiration_date is a string.
	f.set(t, "out.json", fmt.Sprintf("{\n    \"user\": \"alice@contoso.com\",\n    \"display_name\": \"Alice\",\n    \"token\": \"%s\",\n    \"expiration_date\": \"%d\"\n}",
		fakeJWT("api://contoso-api", exp), exp.Unix()))
	// Its prompts (a device code) go to stderr, to be shown; stdout is
	// the token, never shown.
	f.set(t, "err.txt", "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code EFGH5678 to authenticate.\n")
	out := &bytes.Buffer{}
	c := newCLIClient(t, cliProfile(auth.LoginAzureAuth), f, nil, out)
	if tok, err := c.Token(ctx, 0); err != nil || !tok.ExpiresOn.Equal(exp) {
		t.Fatalf("Token = %v, %v", tok.ExpiresOn, err)
	}
	if _, err := c.Login(ctx, false); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if _, err := c.Login(ctx, true); err != nil {
		t.Fatalf("Login with a device code: %v", err)
	}
	base := "aad --client 22222222-3333-4444-5555-666666666666 --tenant " + cliTenant + " --scope api://contoso-api/.default "
	want := []string{
		base + "--mode broker --output json no_user=1", // silent: no prompt
		base + "--mode broker --mode web --output json no_user=",
		base + "--mode devicecode --output json no_user=",
	}
	if runs := f.runs(t); strings.Join(runs, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(runs, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out.String(), "signing in to profile \"api\" with Microsoft's AzureAuth CLI") || !strings.Contains(out.String(), "enter the code EFGH5678") {
		t.Errorf("sign-in output: %q", out.String())
	}
	if strings.Contains(out.String(), "eyJ") {
		t.Errorf("the sign-in output shows the token: %q", out.String())
	}
}

// TestAzureCLILogin: `broker login` for an az profile runs az's own login
// (its prompts to DeviceCodeOut), then takes az's token. A claims challenge
// az cannot carry makes the profile sign-in required until that login.
func TestAzureCLILogin(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newFakeTool(t, "az")
	exp := time.Now().Add(time.Hour)
	f.set(t, "out.json", azJSON(fakeJWT("api://contoso-api", exp), exp, true))
	f.set(t, "login.txt", "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD1234 to authenticate.\n")
	out := &bytes.Buffer{}
	claimsFile := filepath.Join(t.TempDir(), "claims.json")
	c, err := auth.New(cliProfile(auth.LoginAzureCLI), auth.Options{Environ: f.env, DeviceCodeOut: out, ClaimsFile: claimsFile})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Challenge(ctx, `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`)
	if !errors.Is(err, auth.ErrSignInRequired) || !strings.Contains(err.Error(), "cannot request silently") {
		t.Fatalf("Challenge = %v", err)
	}
	if _, err := os.Stat(claimsFile); err != nil {
		t.Errorf("the claims are not kept for the next sign-in: %v", err)
	}
	tok, err := c.Login(ctx, true)
	if err != nil || tok.Account != "alice@contoso.com" {
		t.Fatalf("Login = %v, %v", tok.Account, err)
	}
	want := []string{
		"login --tenant " + cliTenant + " --scope api://contoso-api/.default --allow-no-subscriptions --output none --use-device-code no_user=",
		"account get-access-token --scope api://contoso-api/.default --tenant " + cliTenant + " --output json no_user=",
	}
	if runs := f.runs(t); strings.Join(runs, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(runs, "\n"), strings.Join(want, "\n"))
	}
	if !strings.Contains(out.String(), "enter the code ABCD1234") {
		t.Errorf("az's prompt did not reach the user: %q", out.String())
	}
	if _, err := os.Stat(claimsFile); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the claims are still pending after the sign-in: %v", err)
	}
}

// A profile whose login changes keeps a usable cache: MSAL reads past a
// CLI source's entry (sign-in required, not a broken cache), and a CLI
// source reads past MSAL's.
func TestLoginSwitchKeepsTheCache(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newFakeTool(t, "az")
	exp := time.Now().Add(time.Hour)
	f.set(t, "out.json", azJSON(fakeJWT("api://contoso-api", exp), exp, true))
	mc := &memCache{}
	if _, err := newCLIClient(t, cliProfile(auth.LoginAzureCLI), f, mc, nil).Token(ctx, 0); err != nil {
		t.Fatal(err)
	}
	s := startSim(t, entrasim.Options{})
	c := newClient(t, s, clientOpts{cache: mc})
	if _, err := c.Token(ctx, 0); !errors.Is(err, auth.ErrSignInRequired) {
		t.Fatalf("MSAL over a CLI entry: %v, want sign-in required", err)
	}
	login(t, c)
	if _, err := c.Token(ctx, 0); err != nil {
		t.Fatalf("MSAL after its sign-in: %v", err)
	}
	// (MSAL keeps members it does not know, so az's entry may still be
	// there: either way a token comes.)
	if _, err := newCLIClient(t, cliProfile(auth.LoginAzureCLI), f, mc, nil).Token(ctx, 0); err != nil {
		t.Fatalf("az over MSAL's cache: %v", err)
	}
}

// A server's scope challenge adds its scope to what the tool is asked for
// (azd gets both --scope), and the token stored for the old scopes is not
// served for the new ones.
func TestCLIScopeChallenge(t *testing.T) {
	t.Parallel()
	ctx := ctxT(t)
	f := newFakeTool(t, "azd")
	exp := time.Now().Add(time.Hour).UTC().Truncate(time.Second)
	f.set(t, "out.json", fmt.Sprintf(`{"token":%q,"expiresOn":%q}`+"\n", fakeJWT("api://contoso-api", exp), exp.Format(time.RFC3339)))
	p := cliProfile(auth.LoginAzd)
	p.Scopes = []string{"api://contoso-api/access_as_user"}
	c, err := auth.New(p, auth.Options{Environ: f.env, Cache: &memCache{}, ScopesFile: filepath.Join(t.TempDir(), "scopes.json")})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Token(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := c.ScopeChallenge(ctx, "tools", []string{"api://contoso-api/Tools.Write"}); err != nil {
		t.Fatalf("ScopeChallenge: %v", err)
	}
	if _, err := c.Token(ctx, 0); err != nil {
		t.Fatal(err)
	}
	base := "auth token --output json --tenant-id " + cliTenant + " --scope api://contoso-api/access_as_user"
	want := []string{base + " no_user=", base + " --scope api://contoso-api/Tools.Write no_user="}
	if runs := f.runs(t); strings.Join(runs, "\n") != strings.Join(want, "\n") {
		t.Errorf("runs:\n%s\nwant:\n%s", strings.Join(runs, "\n"), strings.Join(want, "\n"))
	}
	if got := c.ExtraScopes(); len(got) != 1 || got[0] != "api://contoso-api/Tools.Write" {
		t.Errorf("ExtraScopes = %q", got)
	}
	if err := c.Logout(ctx); err != nil || len(c.ExtraScopes()) != 0 {
		t.Errorf("after Logout: %v, extra scopes %q", err, c.ExtraScopes())
	}
}
