package auth_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

const (
	ciApp   = "6d1b5a3e-2f4c-4e8a-9b7d-0c1e2f3a4b5c"
	miUser  = "9a4e8d6b-5c7f-4b1d-8e2a-3f4a5b6c7d8e"
	miSys   = "8f3d7c5a-4b6e-4a0c-9d1f-2e3a4b5c6d7e"
	subject = "repo:contoso/agents:ref:refs/heads/main"
)

// appProfile is an unattended profile against s.
func appProfile(s *entrasim.Server, login string) *config.Profile {
	p := simProfile(s)
	p.Name, p.Login, p.ClientID = "ci", login, ciApp
	if login == config.LoginManagedIdentity {
		p.ClientID, p.Tenant = "", ""
	}
	return p
}

// newAppClient builds the profile's client as the engine does, with an
// in-memory cache (what another process reads too) and a logger.
func newAppClient(t *testing.T, s *entrasim.Server, p *config.Profile, c *memCache, log *bytes.Buffer) *auth.Client {
	t.Helper()
	o := auth.Options{HTTPClient: s.HTTPClient(), Cache: c}
	if log != nil {
		o.Logger = slog.New(slog.NewTextHandler(log, nil))
	}
	cl, err := auth.New(p, o)
	if err != nil {
		t.Fatalf("auth.New: %v", err)
	}
	return cl
}

// writeCert registers a new certificate on the app and writes its PEM
// (certificate and key) to path with mode perm.
func writeCert(t *testing.T, s *entrasim.Server, path string, perm os.FileMode) {
	t.Helper()
	pemData, der, err := entrasim.NewClientCertificate("ci agent")
	if err != nil {
		t.Fatal(err)
	}
	s.RegisterApp(entrasim.ConfidentialApp{ClientID: ciApp, Certificates: [][]byte{der}, Roles: []string{entrasim.DefaultAppRole}})
	if err := os.WriteFile(path, pemData, perm); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, perm); err != nil {
		t.Fatal(err)
	}
}

// checkApp checks an app token: the API's audience, the role, no scp.
func checkApp(t *testing.T, s *entrasim.Server, tok token.Token, account string) {
	t.Helper()
	c, err := token.ParseClaims(string(tok.Value))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Aud) != 1 || c.Aud[0] != s.TokenAudience() || len(c.Scp) != 0 || len(c.Roles) != 1 || c.Roles[0] != entrasim.DefaultAppRole {
		t.Errorf("claims %+v: want aud %s, roles [%s], no scp", c, s.TokenAudience(), entrasim.DefaultAppRole)
	}
	if tok.Account != account || tok.Audience != s.TokenAudience() || !tok.ValidFor(time.Now(), 50*time.Minute) {
		t.Errorf("token account %q audience %q expires %s; want %q", tok.Account, tok.Audience, tok.ExpiresOn, account)
	}
}

func TestCertificateSource(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := startSim(t, entrasim.Options{})
	p := appProfile(s, config.LoginCertificate)
	p.Certificate = filepath.Join(t.TempDir(), "agent.pem")
	writeCert(t, s, p.Certificate, 0o600)
	c := &memCache{}
	cl := newAppClient(t, s, p, c, nil)

	// Before the first token: no user is needed to get one.
	if cached, err := cl.Cached(ctx); err != nil || cached.Account != "app "+ciApp || !cached.HasRefreshToken || !cached.ExpiresOn.IsZero() {
		t.Errorf("Cached before the first token = %+v, %v", cached, err)
	}
	tok, err := cl.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	checkApp(t, s, tok, "app "+ciApp)

	// The token is cached where another process finds it: no request.
	n := s.TokenRequests()
	other := newAppClient(t, s, p, c, nil)
	got, err := other.Token(ctx, 5*time.Minute)
	if err != nil || got.Value != tok.Value || s.TokenRequests() != n {
		t.Errorf("Token from another process: err %v, same %v, requests %d -> %d", err, got.Value == tok.Value, n, s.TokenRequests())
	}
	cached, err := other.Cached(ctx)
	if err != nil || cached.Account != "app "+ciApp || !cached.ExpiresOn.Equal(tok.ExpiresOn.Truncate(time.Second)) || !cached.HasRefreshToken {
		t.Errorf("Cached = %+v, %v; want the app, the token's expiry, and no user needed", cached, err)
	}

	// Refresh acquires a new token (no refresh token: client credentials
	// again), and the cached one is replaced.
	ref, err := cl.Refresh(ctx)
	if err != nil || ref.Value == tok.Value || s.TokenRequests() != n+1 {
		t.Fatalf("Refresh: err %v, new %v, requests %d", err, ref.Value != tok.Value, s.TokenRequests()-n)
	}
	if got, _ := other.Token(ctx, 5*time.Minute); got.Value != ref.Value {
		t.Errorf("the other process did not get the refreshed token")
	}

	// Ahead of expiry: a cached token with less than asked for is
	// replaced by a new one.
	s.SetLifetime(10 * time.Minute)
	short, err := cl.Refresh(ctx)
	if err != nil || short.ValidFor(time.Now(), 11*time.Minute) {
		t.Fatalf("short token: %v, expires %s", err, short.ExpiresOn)
	}
	s.SetLifetime(time.Hour)
	long, err := other.Token(ctx, 15*time.Minute)
	if err != nil || long.Value == short.Value || !long.ValidFor(time.Now(), 55*time.Minute) {
		t.Errorf("Token(15m) with a 10-minute token cached: err %v, new %v, expires %s", err, long.Value != short.Value, long.ExpiresOn)
	}

	// A renewed certificate (the old one removed from the app) is
	// picked up by the client that read the old one.
	writeCert(t, s, p.Certificate, 0o600)
	if _, err := cl.Refresh(ctx); err != nil {
		t.Errorf("Refresh after the certificate was renewed: %v", err)
	}
}

func TestCertificateErrors(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := startSim(t, entrasim.Options{})
	dir := t.TempDir()

	p := appProfile(s, config.LoginCertificate)
	p.Certificate = filepath.Join(dir, "agent.pem")
	writeCert(t, s, p.Certificate, 0o644)
	var log bytes.Buffer
	if _, err := newAppClient(t, s, p, &memCache{}, &log).Login(ctx, false); err != nil {
		t.Fatalf("Login: %v", err)
	}
	if runtime.GOOS != "windows" && !strings.Contains(log.String(), "can be read by other users (mode 0644)") {
		t.Errorf("no warning about a world-readable key in %q", log.String())
	}

	unregistered := filepath.Join(dir, "other.pem")
	pemData, _, err := entrasim.NewClientCertificate("not registered")
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(unregistered, pemData, 0o600)
	notPEM := filepath.Join(dir, "agent.pfx")
	os.WriteFile(notPEM, []byte{0x30, 0x82, 0x01}, 0o600)
	certOnly := filepath.Join(dir, "cert-only.pem")
	os.WriteFile(certOnly, pemData[:bytes.Index(pemData, []byte("-----BEGIN PRIVATE KEY"))], 0o600)

	for _, tc := range []struct {
		name, path, msg, hint string
	}{
		{"unregistered", unregistered, "is not registered on the app", "az ad app credential reset --id " + ciApp},
		{"pfx", notPEM, "no certificates found", "openssl pkcs12"},
		{"no key", certOnly, "no private key found", "unencrypted private key"},
		{"missing", filepath.Join(dir, "gone.pem"), "reading the certificate", "set `certificate`"},
	} {
		q := *p
		q.Certificate = tc.path
		_, err := newAppClient(t, s, &q, &memCache{}, nil).Token(ctx, 5*time.Minute)
		var e *auth.Error
		if !errors.As(err, &e) || e.Class != auth.ClassMisconfigured || !strings.Contains(e.Message, tc.msg) || !strings.Contains(e.Hint, tc.hint) {
			t.Errorf("%s: err %#v, want misconfigured with %q and hint %q", tc.name, err, tc.msg, tc.hint)
		}
	}

	// A delegated scope in a profile built without the config's checks:
	// Entra's AADSTS1002012, never "sign in again".
	q := *p
	q.Scopes = []string{s.APIAudience() + "/access_as_user"}
	_, err = newAppClient(t, s, &q, &memCache{}, nil).Token(ctx, 5*time.Minute)
	if auth.ClassOf(err) != auth.ClassMisconfigured || !strings.Contains(err.Error(), "AADSTS1002012") {
		t.Errorf("delegated scope: %v (%v)", err, auth.ClassOf(err))
	}
}

func TestWorkloadIdentitySource(t *testing.T) {
	t.Parallel()
	ctx := testCtx(t)
	s := startSim(t, entrasim.Options{TokenVersion: 1})
	s.RegisterApp(entrasim.ConfidentialApp{ClientID: ciApp, Roles: []string{entrasim.DefaultAppRole},
		Federated: []entrasim.FederatedCredential{{Issuer: s.FederatedIssuer(), Subject: subject}}})
	p := appProfile(s, config.LoginWorkloadIdentity)
	p.FederatedTokenFile = filepath.Join(t.TempDir(), "azure-identity-token")
	write := func(o entrasim.FederatedTokenOpts) {
		t.Helper()
		if err := os.WriteFile(p.FederatedTokenFile, []byte(s.IssueFederatedToken(o)+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cl := newAppClient(t, s, p, &memCache{}, nil)

	_, err := cl.Token(ctx, 5*time.Minute)
	if auth.ClassOf(err) != auth.ClassMisconfigured || !strings.Contains(err.Error(), "reading the federated token file") {
		t.Errorf("no token file yet: %v", err)
	}
	write(entrasim.FederatedTokenOpts{Subject: subject})
	tok, err := cl.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}
	checkApp(t, s, tok, "app "+ciApp)

	// The file is read again at every acquisition: an expired token in
	// it is a temporary failure, a rotated one works again.
	write(entrasim.FederatedTokenOpts{Subject: subject, Lifetime: -time.Minute})
	if _, err := cl.Refresh(ctx); auth.ClassOf(err) != auth.ClassTemporary || !strings.Contains(err.Error(), "expired") {
		t.Errorf("expired federated token: %v (%v), want temporary", err, auth.ClassOf(err))
	}
	write(entrasim.FederatedTokenOpts{Subject: "repo:contoso/other:ref:refs/heads/main"})
	_, err = cl.Refresh(ctx)
	var e *auth.Error
	if !errors.As(err, &e) || e.Class != auth.ClassMisconfigured || e.Code != "700213" || !strings.Contains(e.Hint, "subject") {
		t.Errorf("other subject: %#v", err)
	}
	write(entrasim.FederatedTokenOpts{Subject: subject})
	again, err := cl.Refresh(ctx)
	if err != nil || again.Value == tok.Value {
		t.Errorf("rotated token file: %v", err)
	}
}

// TestManagedIdentitySource is not parallel: MSAL reads the endpoint
// from the environment.
func TestManagedIdentitySource(t *testing.T) {
	ctx := testCtx(t)
	s := startSim(t, entrasim.Options{})
	s.AddManagedIdentity(entrasim.ManagedIdentity{ClientID: miSys, Roles: []string{entrasim.DefaultAppRole}})
	s.AddManagedIdentity(entrasim.ManagedIdentity{ClientID: miUser, UserAssigned: true, Roles: []string{entrasim.DefaultAppRole}})
	endpoint, header := s.ManagedIdentityEnv()
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", header)

	p := appProfile(s, config.LoginManagedIdentity)
	if src := auth.DescribeSource(p, nil); !strings.Contains(src.Description, "system-assigned") || !strings.Contains(src.Description, endpoint) || src.Err != nil {
		t.Errorf("DescribeSource = %+v", src)
	}
	c := &memCache{}
	sys := newAppClient(t, s, p, c, nil)
	tok, err := sys.Login(ctx, false)
	if err != nil {
		t.Fatalf("system-assigned: %v", err)
	}
	checkApp(t, s, tok, "managed identity (system-assigned)")
	n := s.Requests()
	if got, err := newAppClient(t, s, p, c, nil).Token(ctx, 5*time.Minute); err != nil || got.Value != tok.Value || len(s.Requests()) != len(n) {
		t.Errorf("another process: err %v, same %v, requests %d -> %d", err, got.Value == tok.Value, len(n), len(s.Requests()))
	}
	ref, err := sys.Refresh(ctx)
	if err != nil || ref.Value == tok.Value {
		t.Errorf("Refresh: %v, new %v (MSAL's own cache must be skipped)", err, ref.Value != tok.Value)
	}

	u := appProfile(s, config.LoginManagedIdentity)
	u.ManagedIdentityClientID = miUser
	tok, err = newAppClient(t, s, u, c, nil).Token(ctx, 5*time.Minute)
	if err != nil {
		t.Fatalf("user-assigned: %v", err)
	}
	checkApp(t, s, tok, "managed identity "+miUser)
	if c, _ := token.ParseClaims(string(tok.Value)); c.AppID != miUser {
		t.Errorf("user-assigned token of %s", c.AppID)
	}

	u.ManagedIdentityClientID = ciApp
	_, err = newAppClient(t, s, u, &memCache{}, nil).Token(ctx, 5*time.Minute)
	if auth.ClassOf(err) != auth.ClassMisconfigured || !strings.Contains(err.Error(), "no such managed identity") {
		t.Errorf("unknown identity: %v", err)
	}
}

func testCtx(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
