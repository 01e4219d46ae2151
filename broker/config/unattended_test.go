package config

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const (
	appTenant = "5f3e2c71-9a4b-4d8e-b0c6-2e7d1a9f4b38"
	appClient = "6d1b5a3e-2f4c-4e8a-9b7d-0c1e2f3a4b5c"
)

func TestLoadUnattended(t *testing.T) {
	t.Setenv(EnvTenantID, "")
	t.Setenv(EnvClientID, "")
	t.Setenv(EnvAuthorityHost, "")
	p := write(t, "config.toml", `
[profiles.cert]
tenant = "`+appTenant+`"
client_id = "`+appClient+`"
scopes = ["api://data-api/.default", "offline_access"]
login = "certificate"
certificate = "/etc/agent/agent.pem"

[profiles.wi]
tenant = "contoso.onmicrosoft.com"
client_id = "`+appClient+`"
scopes = ["api://data-api/.default"]
login = "workload-identity"
federated_token_file = "/var/run/secrets/azure/tokens/azure-identity-token"

[profiles.mi]
scopes = ["api://data-api/.default"]
login = "managed-identity"
managed_identity_client_id = "7E2C6B4F-3A5D-4F9B-8C0E-1D2F3A4B5C6D"
`)
	c, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]*Profile{
		"cert": {Name: "cert", Tenant: appTenant, ClientID: appClient, Scopes: []string{"api://data-api/.default"}, Authority: DefaultAuthority,
			Login: LoginCertificate, Unattended: Unattended{Certificate: "/etc/agent/agent.pem"}},
		"wi": {Name: "wi", Tenant: "contoso.onmicrosoft.com", ClientID: appClient, Scopes: []string{"api://data-api/.default"}, Authority: DefaultAuthority,
			Login: LoginWorkloadIdentity, Unattended: Unattended{FederatedTokenFile: "/var/run/secrets/azure/tokens/azure-identity-token"}},
		"mi": {Name: "mi", Scopes: []string{"api://data-api/.default"}, Authority: DefaultAuthority,
			Login: LoginManagedIdentity, Unattended: Unattended{ManagedIdentityClientID: "7E2C6B4F-3A5D-4F9B-8C0E-1D2F3A4B5C6D"}},
	}
	if d := cmp.Diff(want, c.Profiles); d != "" {
		t.Errorf("profiles (-want +got):\n%s", d)
	}
	for name, p := range c.Profiles {
		if !p.IsUnattended() {
			t.Errorf("%s: not unattended", name)
		}
	}
}

// Workload identity takes tenant, client_id and authority from the
// variables Azure's workload identity sets, when the profile has none.
func TestWorkloadIdentityFromEnvironment(t *testing.T) {
	t.Setenv(EnvTenantID, appTenant)
	t.Setenv(EnvClientID, appClient)
	t.Setenv(EnvAuthorityHost, "https://login.microsoftonline.us/")
	p := write(t, "config.toml", `
[profiles.wi]
scopes = ["api://data-api/.default"]
login = "workload-identity"
`)
	c, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	got := c.Profiles["wi"]
	if got.Tenant != appTenant || got.ClientID != appClient || got.Authority != "https://login.microsoftonline.us" || got.FederatedTokenFile != "" {
		t.Errorf("profile = %+v", got)
	}
}

func TestUnattendedErrors(t *testing.T) {
	t.Setenv(EnvTenantID, "")
	t.Setenv(EnvClientID, "")
	t.Setenv(EnvAuthorityHost, "")
	head := func(login string) string {
		return "[profiles.ci]\ntenant = \"" + appTenant + "\"\nclient_id = \"" + appClient + "\"\nlogin = \"" + login + "\"\n"
	}
	cases := []struct {
		name, text, key, msg, hint string
	}{
		{"delegated scope", head("certificate") + "certificate = \"/a.pem\"\nscopes = [\"api://data-api/access_as_user\"]\n",
			"profiles.ci.scopes", `"api://data-api/access_as_user" is a delegated scope; login = "certificate" gets app tokens, which are asked for with api://data-api/.default`, `use "api://data-api/.default"`},
		{"no certificate", head("certificate") + "scopes = [\"api://x/.default\"]\n", "profiles.ci.certificate", "profiles.ci.certificate is required", "PEM file"},
		{"relative certificate", head("certificate") + "certificate = \"agent.pem\"\nscopes = [\"api://x/.default\"]\n", "profiles.ci.certificate", "is not absolute", "absolute path"},
		{"certificate on managed identity", "[profiles.ci]\nlogin = \"managed-identity\"\ncertificate = \"/a.pem\"\nscopes = [\"api://x/.default\"]\n", "profiles.ci.certificate", `only applies to login = "certificate"`, "remove it"},
		{"client_id on managed identity", "[profiles.ci]\nlogin = \"managed-identity\"\nclient_id = \"" + appClient + "\"\nscopes = [\"api://x/.default\"]\n", "profiles.ci.client_id", "does not apply", "managed_identity_client_id"},
		{"bad managed identity id", "[profiles.ci]\nlogin = \"managed-identity\"\nmanaged_identity_client_id = \"my-identity\"\nscopes = [\"api://x/.default\"]\n", "profiles.ci.managed_identity_client_id", "is not a client ID", "az identity show"},
		{"workload identity without client", "[profiles.ci]\ntenant = \"" + appTenant + "\"\nlogin = \"workload-identity\"\nscopes = [\"api://x/.default\"]\n", "profiles.ci.client_id", "is required", "$AZURE_CLIENT_ID"},
		{"login hint", head("workload-identity") + "login_hint = \"bob@contoso.com\"\nscopes = [\"api://x/.default\"]\n", "profiles.ci.login_hint", "does not apply", "no user signs in"},
		{"graph scope", head("certificate") + "certificate = \"/a.pem\"\nscopes = [\"https://graph.microsoft.com/.default\"]\n", "profiles.ci.scopes", "Microsoft Graph scope", "your API's scope"},
		{"unknown login", head("kerberos") + "scopes = [\"api://x/.default\"]\n", "profiles.ci.login", "unknown sign-in method", `"workload-identity"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Load("", write(t, "config.toml", tc.text))
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *config.Error", err, err)
			}
			if ce.Key != tc.key || !strings.Contains(ce.Message, tc.msg) || !strings.Contains(ce.Hint, tc.hint) || ce.Line == 0 {
				t.Errorf("got key %q line %d message %q hint %q; want key %q, %q, hint with %q", ce.Key, ce.Line, ce.Message, ce.Hint, tc.key, tc.msg, tc.hint)
			}
		})
	}
}
