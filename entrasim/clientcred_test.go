package entrasim

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"
)

const (
	certApp = "6d1b5a3e-2f4c-4e8a-9b7d-0c1e2f3a4b5c"
	fedApp  = "7e2c6b4f-3a5d-4f9b-8c0e-1d2f3a4b5c6d"
	miSys   = "8f3d7c5a-4b6e-4a0c-9d1f-2e3a4b5c6d7e"
	miUser  = "9a4e8d6b-5c7f-4b1d-8e2a-3f4a5b6c7d8e"
)

// newCCA is the broker's confidential-client configuration against the
// simulator.
func newCCA(t *testing.T, s *Server, clientID string, cred confidential.Credential) confidential.Client {
	t.Helper()
	cca, err := confidential.New(s.Authority(), clientID, cred,
		confidential.WithHTTPClient(s.HTTPClient()), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatalf("confidential.New: %v", err)
	}
	return cca
}

// certCred registers a new certificate on app (when register) and returns
// MSAL's credential for it, read with CertFromPEM as the broker reads it.
func certCred(t *testing.T, s *Server, app string, register bool) confidential.Credential {
	t.Helper()
	pemData, der, err := NewClientCertificate("entrasim test " + app)
	if err != nil {
		t.Fatal(err)
	}
	if register {
		s.RegisterApp(ConfidentialApp{ClientID: app, Certificates: [][]byte{der}, Roles: []string{DefaultAppRole}})
	}
	certs, key, err := confidential.CertFromPEM(pemData, "")
	if err != nil {
		t.Fatalf("CertFromPEM: %v", err)
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		t.Fatalf("NewCredFromCert: %v", err)
	}
	return cred
}

// checkAppToken checks the claims of an app token for clientID: the
// token version's iss and aud, roles and no scp, no user.
func checkAppToken(t *testing.T, s *Server, raw, clientID string) {
	t.Helper()
	c := claimsOf(t, raw)
	if c["aud"] != s.TokenAudience() || c["iss"] != s.TokenIssuer() {
		t.Errorf("aud %v iss %v, want %s %s", c["aud"], c["iss"], s.TokenAudience(), s.TokenIssuer())
	}
	if roles, _ := c["roles"].([]any); len(roles) != 1 || roles[0] != DefaultAppRole {
		t.Errorf("roles = %v, want [%s]", c["roles"], DefaultAppRole)
	}
	for _, k := range []string{"scp", "upn", "preferred_username", "name"} {
		if _, ok := c[k]; ok {
			t.Errorf("an app token has %s = %v", k, c[k])
		}
	}
	client := c["azp"]
	if s.TokenVersion() == 1 {
		client = c["appid"]
	}
	if client != clientID || c["idtyp"] != "app" || c["sub"] != c["oid"] {
		t.Errorf("client %v idtyp %v sub %v oid %v", client, c["idtyp"], c["sub"], c["oid"])
	}
	if tc := s.checkToken(raw); tc.Reason != "" {
		t.Errorf("the MCP endpoint refuses the token: %s", tc.Reason)
	}
}

func TestClientCredentialsWithCertificate(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			s := startSim(t, Options{TokenVersion: v})
			ctx := testCtx(t)
			cca := newCCA(t, s, certApp, certCred(t, s, certApp, true))
			res, err := cca.AcquireTokenByCredential(ctx, []string{s.Scope()})
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			checkAppToken(t, s, res.AccessToken, certApp)
			n := s.TokenRequests()
			again, err := cca.AcquireTokenByCredential(ctx, []string{s.Scope()})
			if err != nil || again.AccessToken != res.AccessToken || s.TokenRequests() != n {
				t.Errorf("second call: err %v, same token %v, requests %d -> %d: MSAL should answer from its cache",
					err, again.AccessToken == res.AccessToken, n, s.TokenRequests())
			}
			var sawGrant bool
			for _, r := range s.Requests() {
				if r.GrantType == "client_credentials" && strings.Contains(r.Scope, "offline_access") {
					sawGrant = true
				}
			}
			if !sawGrant {
				t.Errorf("requests %+v: MSAL's client_credentials request not logged with its scope", s.Requests())
			}
		})
	}
}

func TestClientCredentialsRefusals(t *testing.T) {
	t.Parallel()
	s := startSim(t, Options{})
	ctx := testCtx(t)
	registered := certCred(t, s, certApp, true)
	cases := []struct {
		name   string
		client string
		cred   confidential.Credential
		scopes []string
		want   string
	}{
		{"unregistered certificate", certApp, certCred(t, s, certApp, false), []string{s.Scope()}, "AADSTS700027: The certificate with identifier used to sign the client assertion is not registered on application."},
		{"delegated scope", certApp, registered, []string{s.APIAudience() + "/access_as_user"}, "AADSTS1002012: The provided value for scope " + s.APIAudience() + "/access_as_user is not valid. Client credential flows must have a scope value with /.default suffixed"},
		{"unknown API", certApp, registered, []string{"api://nope/.default"}, "AADSTS500011: The resource principal named api://nope was not found"},
		{"unknown app", "00000000-1111-2222-3333-444444444444", registered, []string{s.Scope()}, "AADSTS700016"},
		{"the public client", s.ClientID(), registered, []string{s.Scope()}, "AADSTS700025"},
		{"assertion for another client", certApp, confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			return s.IssueFederatedToken(FederatedTokenOpts{Subject: "x", Issuer: "00000000-1111-2222-3333-444444444444"}), nil
		}), []string{s.Scope()}, "AADSTS700211"},
	}
	for _, tc := range cases {
		_, err := newCCA(t, s, tc.client, tc.cred).AcquireTokenByCredential(ctx, tc.scopes)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestClientCredentialsWithFederatedAssertion(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			t.Parallel()
			s := startSim(t, Options{TokenVersion: v})
			ctx := testCtx(t)
			const subject = "repo:contoso/agents:ref:refs/heads/main"
			s.RegisterApp(ConfidentialApp{ClientID: fedApp, Roles: []string{DefaultAppRole},
				Federated: []FederatedCredential{{Issuer: s.FederatedIssuer(), Subject: subject}}})
			assertion := func(o FederatedTokenOpts) confidential.Credential {
				return confidential.NewCredFromAssertionCallback(func(_ context.Context, ro confidential.AssertionRequestOptions) (string, error) {
					if ro.ClientID != fedApp {
						return "", fmt.Errorf("asked for an assertion of %s", ro.ClientID)
					}
					return s.IssueFederatedToken(o), nil
				})
			}
			res, err := newCCA(t, s, fedApp, assertion(FederatedTokenOpts{Subject: subject})).AcquireTokenByCredential(ctx, []string{s.Scope()})
			if err != nil {
				t.Fatalf("AcquireTokenByCredential: %v", err)
			}
			checkAppToken(t, s, res.AccessToken, fedApp)

			for name, tc := range map[string]struct {
				o    FederatedTokenOpts
				want string
			}{
				"other subject":  {FederatedTokenOpts{Subject: "repo:contoso/other:ref:refs/heads/main"}, "AADSTS700213: No matching federated identity record found for presented assertion subject 'repo:contoso/other"},
				"other audience": {FederatedTokenOpts{Subject: subject, Audience: "api://other"}, "AADSTS700212: No matching federated identity record found for presented assertion audience 'api://other'"},
				"other issuer":   {FederatedTokenOpts{Subject: subject, Issuer: "https://token.actions.githubusercontent.com"}, "AADSTS700211: No matching federated identity record found for presented assertion issuer 'https://token.actions.githubusercontent.com'"},
				"expired":        {FederatedTokenOpts{Subject: subject, Lifetime: -time.Minute}, "AADSTS700024: Client assertion is not within its valid time range."},
			} {
				_, err := newCCA(t, s, fedApp, assertion(tc.o)).AcquireTokenByCredential(ctx, []string{s.Scope()})
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: err = %v, want %q", name, err, tc.want)
				}
			}
		})
	}
}

// TestManagedIdentity drives MSAL's managedidentity package, App Service
// source, against the simulator's endpoint. MSAL reads IDENTITY_ENDPOINT
// and IDENTITY_HEADER from the environment and keeps a process-wide
// cache, so this test is not parallel and each identity is asked once.
func TestManagedIdentity(t *testing.T) {
	s := startSim(t, Options{TokenVersion: 1})
	ctx := testCtx(t)
	s.AddManagedIdentity(ManagedIdentity{ClientID: miSys, Roles: []string{DefaultAppRole}})
	s.AddManagedIdentity(ManagedIdentity{ClientID: miUser, UserAssigned: true, Roles: []string{DefaultAppRole}})
	endpoint, header := s.ManagedIdentityEnv()
	t.Setenv("IDENTITY_ENDPOINT", endpoint)
	t.Setenv("IDENTITY_HEADER", header)
	if src, err := managedidentity.GetSource(); err != nil || src != managedidentity.AppService {
		t.Fatalf("MSAL's source = %v, %v; want App Service", src, err)
	}
	acquire := func(id managedidentity.ID) (managedidentity.AuthResult, error) {
		mi, err := managedidentity.New(id, managedidentity.WithHTTPClient(s.HTTPClient()))
		if err != nil {
			t.Fatalf("managedidentity.New: %v", err)
		}
		// Claims make MSAL skip its process-wide cache.
		return mi.AcquireToken(ctx, s.Scope(), managedidentity.WithClaims(`{}`))
	}
	res, err := acquire(managedidentity.SystemAssigned())
	if err != nil {
		t.Fatalf("system-assigned: %v", err)
	}
	checkAppToken(t, s, res.AccessToken, miSys)
	if !res.ExpiresOn.After(time.Now().Add(59 * time.Minute)) {
		t.Errorf("expires on %s: expires_on not read", res.ExpiresOn)
	}
	res, err = acquire(managedidentity.UserAssignedClientID(miUser))
	if err != nil {
		t.Fatalf("user-assigned: %v", err)
	}
	checkAppToken(t, s, res.AccessToken, miUser)
	if c := claimsOf(t, res.AccessToken); !strings.Contains(fmt.Sprint(c["xms_mirid"]), "userAssignedIdentities") {
		t.Errorf("xms_mirid = %v", c["xms_mirid"])
	}
	if _, err := acquire(managedidentity.UserAssignedClientID(certApp)); err == nil || !strings.Contains(err.Error(), "Unable to load the proper Managed Identity.") {
		t.Errorf("unknown identity: err = %v", err)
	}

	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, endpoint+"?api-version=2019-08-01&resource="+s.APIAudience(), nil)
	req.Header.Set("X-IDENTITY-HEADER", "wrong")
	resp, err := s.HTTPClient().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong X-IDENTITY-HEADER: status %d, want 401", resp.StatusCode)
	}
}
