package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// azureCLIClientID is the Azure CLI's own app registration, which az signs
// in with (the simulator registers it as its public client).
const azureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// azSandbox is the real Azure CLI pointed at a simulator: a custom cloud
// whose authority is the simulator, its CA trusted (REQUESTS_CA_BUNDLE),
// MSAL Python's instance discovery reaching the simulator through its
// proxy, az's own folder in the sandbox, and a wrapper `az` first on PATH
// that logs each run's arguments.
type azSandbox struct {
	sim    *entrasim.Server
	env    []string
	runs   string // the wrapper's log
	azDir  string // AZURE_CONFIG_DIR
	config string // the broker's config.toml
	work   string
}

func newAzSandbox(t *testing.T, bin string) *azSandbox {
	t.Helper()
	az, err := exec.LookPath("az")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the Azure CLI is needed: scripts/test-deps installs Debian's azure-cli")
		}
		t.Skip("no az on PATH")
	}
	s, err := entrasim.Start(entrasim.Options{ClientID: azureCLIClientID, AutoApproveDevice: true, DeviceInterval: time.Second, Lifetime: 20 * time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	proxy, err := s.StartWorldwideProxy()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { proxy.Close() })
	work := t.TempDir()
	sb := &azSandbox{sim: s, work: work, runs: filepath.Join(work, "az-runs.log"), azDir: filepath.Join(work, "azure")}
	ca := filepath.Join(work, "sim-ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	wrap := filepath.Join(work, "bin")
	if err := os.MkdirAll(wrap, 0o755); err != nil {
		t.Fatal(err)
	}
	script := fmt.Sprintf("#!/bin/sh\necho \"$*\" >> %q\nexec %q \"$@\"\n", sb.runs, az)
	if err := os.WriteFile(filepath.Join(wrap, "az"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	// az login without a device code opens the browser through Python's
	// webbrowser, which runs $BROWSER URL and waits for it: the stand-in
	// starts `browse` (this test binary, see TestMain) in the background,
	// which follows the simulator's sign-in to az's loopback listener.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(self, filepath.Join(wrap, "browse")); err != nil {
		t.Fatal(err)
	}
	opener := filepath.Join(wrap, "open-browser")
	if err := os.WriteFile(opener, []byte(fmt.Sprintf("#!/bin/sh\n%q \"$1\" >>%q 2>&1 &\n", filepath.Join(wrap, "browse"), filepath.Join(work, "browse.log"))), 0o755); err != nil {
		t.Fatal(err)
	}
	home := filepath.Join(work, "home")
	sb.env = isolatedEnv(
		"BROWSER="+opener,
		"SSL_CERT_FILE="+ca, // for browse
		"HOME="+home,
		"XDG_RUNTIME_DIR="+filepath.Join(work, "run"),
		"BROKER_ADMIN_CONFIG="+filepath.Join(work, "no-admin.toml"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(work, "no-bus"),
		"PATH="+wrap+string(os.PathListSeparator)+os.Getenv("PATH"),
		"AZURE_CONFIG_DIR="+sb.azDir,
		"REQUESTS_CA_BUNDLE="+ca,
		"HTTPS_PROXY="+proxy.URL(), "https_proxy="+proxy.URL(),
		"NO_PROXY=127.0.0.1,localhost", "no_proxy=127.0.0.1,localhost",
		"AZURE_CORE_COLLECT_TELEMETRY=false",
	)
	sb.az(t, "cloud", "register", "--name", "EntraSim",
		"--endpoint-active-directory", s.URL(),
		"--endpoint-resource-manager", s.URL()+"/",
		"--endpoint-active-directory-resource-id", s.APIAudience(),
		"--endpoint-active-directory-graph-resource-id", s.URL()+"/")
	sb.az(t, "cloud", "set", "--name", "EntraSim")
	sb.config = filepath.Join(home, ".config", "mcp-token-broker", "config.toml")
	if err := os.MkdirAll(filepath.Dir(sb.config), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("[settings]\nstorage = \"file\"\n\n[profiles.api]\ntenant = %q\nscopes = [%q]\nlogin = \"azurecli\"\n\n"+
		"[[profiles.api.targets]]\nclient = \"file\"\npath = %q\n", s.TenantID(), s.Scope(), filepath.Join(work, "token.txt"))
	if err := os.WriteFile(sb.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return sb
}

// az runs the real az in the sandbox (not through the wrapper).
func (sb *azSandbox) az(t *testing.T, args ...string) string {
	t.Helper()
	cmd := exec.Command("az", args...)
	cmd.Env = sb.env
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("az %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// azRuns returns the wrapper's log: the arguments of each run by the broker.
func (sb *azSandbox) azRuns(t *testing.T) []string {
	t.Helper()
	b, err := os.ReadFile(sb.runs)
	if os.IsNotExist(err) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSpace(string(b)), "\n")
}

// expireAzToken makes az's cached access token expire in a minute (in az's
// own MSAL cache, a JSON file on Linux), so that az must redeem its
// refresh token at the simulator on its next run.
func (sb *azSandbox) expireAzToken(t *testing.T) {
	t.Helper()
	path := filepath.Join(sb.azDir, "msal_token_cache.json")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]map[string]map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("az's token cache: %v", err)
	}
	if len(doc["AccessToken"]) == 0 {
		t.Fatal("az has no cached access token")
	}
	soon := fmt.Sprint(time.Now().Add(time.Minute).Unix())
	for _, at := range doc["AccessToken"] {
		at["expires_on"], at["extended_expires_on"] = soon, soon
	}
	if b, err = json.Marshal(doc); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

type azTokenJSON struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   int64  `json:"expires_on"`
}

func (sb *azSandbox) brokerToken(t *testing.T, bin string, args ...string) azTokenJSON {
	t.Helper()
	stdout, stderr, code := runWithin(t, helperLimit, bin, sb.env, append([]string{"token", "--profile", "api", "--format", "json"}, args...)...)
	if code != 0 {
		t.Fatalf("broker token %v: exit %d\n%s", args, code, stderr)
	}
	var tok azTokenJSON
	if err := json.Unmarshal([]byte(stdout), &tok); err != nil {
		t.Fatalf("broker token: %v\n%s", err, stdout)
	}
	return tok
}

// TestAzureCLISource: a profile with login = "azurecli" gets its token
// from the real az (Debian's azure-cli), signed in to the simulator by
// device code, through the real broker binary: `broker login` runs az's
// own login, the token is the API's and is delivered, az runs again only
// when the stored token is due, and a refresh goes through az's refresh
// token. Before az is signed in, `broker token` says exactly what to run.
func TestAzureCLISource(t *testing.T) {
	bin := buildBroker(t)
	sb := newAzSandbox(t, bin)
	s := sb.sim

	// Never signed in: az's own "Please run 'az login'" is sign-in
	// required (exit 3) naming the command.
	_, stderr, code := runWithin(t, helperLimit, bin, sb.env, "token", "--profile", "api")
	wantHint := "az login --tenant " + s.TenantID() + " --scope " + s.Scope() + " --allow-no-subscriptions"
	if code != 3 || !strings.Contains(stderr, "az needs you to sign in") || !strings.Contains(stderr, wantHint) {
		t.Fatalf("token before az login: exit %d, want 3 naming %q\n%s", code, wantHint, stderr)
	}

	// broker login runs az login (device code, which the simulator
	// approves), then takes az's token and writes the targets.
	stdout, stderr, code := runWithin(t, 2*time.Minute, bin, sb.env, "login", "--profile", "api", "--device-code")
	if code != 0 {
		t.Fatalf("broker login: exit %d\n%s\n%s", code, stdout, stderr)
	}
	if !strings.Contains(stderr, "enter the code") || !strings.Contains(stdout, "signed in to profile api as "+s.Username()) {
		t.Errorf("broker login output:\nstdout: %s\nstderr: %s", stdout, stderr)
	}
	delivered, err := os.ReadFile(filepath.Join(sb.work, "token.txt"))
	if err != nil {
		t.Fatalf("the file target: %v", err)
	}

	first := sb.brokerToken(t, bin)
	claims, err := token.ParseClaims(first.AccessToken)
	if err != nil {
		t.Fatal(err)
	}
	if len(claims.Aud) != 1 || claims.Aud[0] != s.TokenAudience() || claims.Iss != s.TokenIssuer() || claims.AppID != azureCLIClientID {
		t.Errorf("token: aud %v iss %s app %s, want aud %s iss %s app %s", claims.Aud, claims.Iss, claims.AppID, s.TokenAudience(), s.TokenIssuer(), azureCLIClientID)
	}
	if strings.TrimSpace(string(delivered)) != first.AccessToken {
		t.Errorf("the file target does not hold the token")
	}
	if left := time.Until(time.Unix(first.ExpiresOn, 0)); left < 15*time.Minute || left > 21*time.Minute {
		t.Errorf("token valid for %v, want the simulator's 20 minutes", left)
	}
	// The stored token serves the next calls: az ran for its login and
	// once for the token, not for each `broker token`.
	sb.brokerToken(t, bin)
	runs := sb.azRuns(t)
	wantRuns := []string{
		"login --tenant " + s.TenantID() + " --scope " + s.Scope() + " --allow-no-subscriptions --output none --use-device-code",
		"account get-access-token --scope " + s.Scope() + " --tenant " + s.TenantID() + " --output json",
	}
	if strings.Join(runs[1:], "\n") != strings.Join(wantRuns, "\n") { // runs[0]: the token before login
		t.Errorf("az runs:\n%s\nwant (after the first):\n%s", strings.Join(runs, "\n"), strings.Join(wantRuns, "\n"))
	}

	// Fresh: the stored token (20 min) has less than asked for, and az's
	// own token is about to expire: az redeems its refresh token at the
	// simulator, and the broker hands out the new token (60 min).
	s.SetLifetime(time.Hour)
	sb.expireAzToken(t)
	s.ResetLog()
	second := sb.brokerToken(t, bin, "--min-validity", "30m")
	if second.AccessToken == first.AccessToken {
		t.Fatal("the same token after az's expired")
	}
	if left := time.Until(time.Unix(second.ExpiresOn, 0)); left < 55*time.Minute {
		t.Errorf("new token valid for %v, want about an hour", left)
	}
	refreshed := false
	for _, r := range s.Requests() {
		refreshed = refreshed || r.GrantType == "refresh_token"
	}
	if !refreshed {
		t.Errorf("az made no refresh_token grant: %+v", s.Requests())
	}
	if n := len(sb.azRuns(t)); n != len(runs)+1 {
		t.Errorf("az ran %d times for the refresh, want 1", n-len(runs))
	}

	// status (no daemon) and doctor say where the tokens come from.
	out, _, code := runWithin(t, helperLimit, bin, sb.env, "status")
	if code != 0 || !strings.Contains(out, "source: azurecli (az account get-access-token)") || !strings.Contains(out, "profile api: ok") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	out, _, _ = runWithin(t, time.Minute, bin, sb.env, "doctor")
	if !strings.Contains(out, `login = "azurecli": az account get-access-token (`+filepath.Join(sb.work, "bin", "az")+`)`) {
		t.Errorf("doctor does not name the source:\n%s", out)
	}

	// The daemon: it loads the stored token, serves it without running
	// az, shows the source, and a refresh goes through az.
	ctx, cancel := context.WithCancel(context.Background())
	d := exec.CommandContext(ctx, bin, "run", "--no-tray")
	d.Env = sb.env
	var dlog bytes.Buffer
	d.Stdout, d.Stderr = &dlog, &dlog
	d.Cancel = func() error { return d.Process.Signal(os.Interrupt) }
	d.WaitDelay = 5 * time.Second
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.Wait() })
	status := func() state.Status {
		out, _, _ := runWithin(t, helperLimit, bin, sb.env, "status", "--json")
		var st state.Status
		_ = json.Unmarshal([]byte(out), &st)
		return st
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		if st := status(); st.Daemon.Running && len(st.Profiles) == 1 && st.Profiles[0].State == state.OK {
			if p := st.Profiles[0]; p.Source != "azurecli" || p.Account != s.Username() || p.ExpiresOn == nil || p.ExpiresOn.Unix() != second.ExpiresOn {
				t.Errorf("daemon status: %+v", p)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not get ready:\n%s", dlog.String())
		}
	}
	before := len(sb.azRuns(t))
	if got := sb.brokerToken(t, bin); got.AccessToken != second.AccessToken {
		t.Errorf("the daemon serves another token than the stored one")
	}
	if n := len(sb.azRuns(t)); n != before {
		t.Errorf("az ran %d times for a token the daemon holds", n-before)
	}
	// broker login with the daemon running still runs az login here,
	// where its prompt is seen, and tells the daemon.
	stdout, stderr, code = runWithin(t, 2*time.Minute, bin, sb.env, "login", "--profile", "api", "--device-code")
	if code != 0 || !strings.Contains(stderr, "enter the code") || !strings.Contains(stdout, "signed in to profile api") {
		t.Errorf("broker login beside the daemon: exit %d\nstdout: %s\nstderr: %s", code, stdout, stderr)
	}
	if runs := sb.azRuns(t); len(runs) < before+1 || !strings.HasPrefix(runs[before], "login ") {
		t.Errorf("az runs of broker login beside the daemon: %q", runs[before:])
	}
	before = len(sb.azRuns(t))

	// Sign in from the tray (the daemon): az login in the browser, its
	// words in the daemon's output.
	s.ResetLog()
	if err := sb.daemon(t, ctx).SignIn(ctx, "api"); err != nil {
		b, _ := os.ReadFile(filepath.Join(sb.work, "browse.log"))
		t.Fatalf("sign-in through the daemon: %v\n%s\nbrowse: %s", err, dlog.String(), b)
	}
	if runs := sb.azRuns(t); len(runs) < before+1 || runs[before] != "login --tenant "+s.TenantID()+" --scope "+s.Scope()+" --allow-no-subscriptions --output none" {
		t.Errorf("az runs of the daemon's sign-in: %q", runs[before:])
	}
	codeGrant := false
	for _, r := range s.Requests() {
		codeGrant = codeGrant || r.GrantType == "authorization_code"
	}
	if !codeGrant {
		t.Errorf("az's sign-in through the daemon made no authorization_code grant: %+v", s.Requests())
	}
	if !strings.Contains(dlog.String(), `signing in to profile "api" with the Azure CLI (az)`) {
		t.Errorf("the daemon's output does not show the sign-in:\n%s", dlog.String())
	}
	if p := status().Profiles[0]; p.State != state.OK {
		t.Errorf("after the daemon's sign-in: %+v", p)
	}
	before = len(sb.azRuns(t))
	sb.expireAzToken(t)
	if err := sb.daemon(t, ctx).RefreshNow(ctx, "api"); err != nil {
		t.Fatalf("refresh through the daemon: %v\n%s", err, dlog.String())
	}
	var third string
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		b, _ := os.ReadFile(filepath.Join(sb.work, "token.txt"))
		if third = strings.TrimSpace(string(b)); third != "" && third != second.AccessToken && third != first.AccessToken {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not deliver a new token from az:\n%s", dlog.String())
		}
	}
	if runs := sb.azRuns(t); len(runs) != before+1 || !strings.HasPrefix(runs[len(runs)-1], "account get-access-token") {
		t.Errorf("az runs by the daemon: %q", runs[before:])
	}
	logs := dlog.String()
	if b, err := os.ReadFile(filepath.Join(sb.work, "home", ".local", "state", "mcp-token-broker", "broker.log")); err == nil {
		logs += string(b)
	} else {
		t.Errorf("the daemon's log: %v", err)
	}
	for _, tok := range []string{first.AccessToken, second.AccessToken, third} {
		if strings.Contains(logs, tok) {
			t.Errorf("the daemon's log shows a token")
		}
	}
	if !strings.Contains(logs, "az") {
		t.Errorf("the daemon's log does not mention az:\n%s", logs)
	}

	// The refresh token az holds is revoked: az's own error (AADSTS50173)
	// is sign-in required, exit 3, naming az login.
	cancel()
	d.Wait()
	if _, stderr, code := runWithin(t, helperLimit, bin, sb.env, "logout", "--profile", "api"); code != 0 {
		t.Fatalf("broker logout: exit %d\n%s", code, stderr)
	}
	s.RevokeRefreshTokens()
	sb.expireAzToken(t)
	_, stderr, code = runWithin(t, helperLimit, bin, sb.env, "token", "--profile", "api")
	t.Logf("broker token with a revoked refresh token: exit %d\n%s", code, stderr)
	if code != 3 || !strings.Contains(stderr, "AADSTS50173") || !strings.Contains(stderr, wantHint) {
		t.Errorf("token with a revoked refresh token: exit %d, want 3 naming %q\n%s", code, wantHint, stderr)
	}
}

// daemon dials the sandbox's daemon (closed when the test ends).
func (sb *azSandbox) daemon(t *testing.T, ctx context.Context) *localapi.Client {
	t.Helper()
	c, err := localapi.DialAddress(ctx, filepath.Join(sb.work, "run", "mcp-token-broker", "broker.sock"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}
