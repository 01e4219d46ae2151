package config

import (
	"net/url"
	"os"
	"strings"
)

// The unattended sources: no user signs in, the profile gets app tokens
// (roles, not scp) with the client-credentials grant or from a managed
// identity. For CI runners and agents.
const (
	// LoginCertificate: a service principal with a certificate (a PEM
	// file with the certificate and its unencrypted private key).
	LoginCertificate = "certificate"
	// LoginWorkloadIdentity: workload identity federation, a federated
	// token file (Kubernetes, GitHub Actions) traded for a token.
	LoginWorkloadIdentity = "workload-identity"
	// LoginManagedIdentity: the managed identity of the Azure host.
	LoginManagedIdentity = "managed-identity"
)

// The environment variables of Azure workload identity (the Kubernetes
// webhook sets them; azure/login and the Azure SDKs read them).
const (
	EnvFederatedTokenFile = "AZURE_FEDERATED_TOKEN_FILE"
	EnvClientID           = "AZURE_CLIENT_ID"
	EnvTenantID           = "AZURE_TENANT_ID"
	EnvAuthorityHost      = "AZURE_AUTHORITY_HOST"
)

// Unattended are the profile keys of the unattended sources.
type Unattended struct {
	// Certificate is the PEM file with the certificate and its private
	// key (login = "certificate"); absolute after Load.
	Certificate string `toml:"certificate"`
	// FederatedTokenFile is the file that holds the federated token
	// (login = "workload-identity"), read again for every token because
	// it rotates; "" is $AZURE_FEDERATED_TOKEN_FILE when the token is
	// asked for.
	FederatedTokenFile string `toml:"federated_token_file"`
	// ManagedIdentityClientID selects a user-assigned managed identity
	// by its client ID (login = "managed-identity"); "" is the
	// system-assigned one.
	ManagedIdentityClientID string `toml:"managed_identity_client_id"`
}

type fileUnattended struct {
	Certificate             *string `toml:"certificate"`
	FederatedTokenFile      *string `toml:"federated_token_file"`
	ManagedIdentityClientID *string `toml:"managed_identity_client_id"`
}

func (f fileUnattended) merge(u *Unattended) {
	for _, kv := range []struct {
		dst *string
		src *string
	}{{&u.Certificate, f.Certificate}, {&u.FederatedTokenFile, f.FederatedTokenFile}, {&u.ManagedIdentityClientID, f.ManagedIdentityClientID}} {
		if kv.src != nil {
			*kv.dst = *kv.src
		}
	}
}

// IsUnattended reports whether login is an unattended source.
func IsUnattended(login string) bool {
	switch login {
	case LoginCertificate, LoginWorkloadIdentity, LoginManagedIdentity:
		return true
	}
	return false
}

// IsUnattended reports whether the profile gets app tokens with no user.
func (p *Profile) IsUnattended() bool { return IsUnattended(p.Login) }

// validateUnattended checks a profile of an unattended source. The
// scopes become the one RESOURCE/.default that app tokens are asked with;
// a delegated scope is refused. For workload identity, tenant, client_id
// and authority default to $AZURE_TENANT_ID, $AZURE_CLIENT_ID and
// $AZURE_AUTHORITY_HOST, as Azure's workload identity sets them.
func validateUnattended(p *Profile, base string, loc locFunc, fail failFunc) error {
	at := func(key string) where { return loc(base+"."+key, base) }
	bad := func(key, hint, format string, args ...any) error {
		return fail(at(key), base+"."+key, hint, format, args...)
	}
	wi, mi := p.Login == LoginWorkloadIdentity, p.Login == LoginManagedIdentity
	if wi {
		for _, d := range []struct {
			dst *string
			env string
		}{{&p.Tenant, EnvTenantID}, {&p.ClientID, EnvClientID}, {&p.Authority, EnvAuthorityHost}} {
			if strings.TrimSpace(*d.dst) == "" {
				*d.dst = strings.TrimSpace(os.Getenv(d.env))
			}
		}
	}
	p.Tenant, p.ClientID = strings.TrimSpace(p.Tenant), strings.TrimSpace(p.ClientID)
	switch {
	case p.Tenant == "" && !mi:
		return bad("tenant", `set tenant to the tenant ID (a GUID) or domain of the app registration`+envHint(wi, EnvTenantID),
			"%s.tenant is required for login = %q", base, p.Login)
	case p.Tenant != "" && !guidRE().MatchString(p.Tenant) && !domainRE().MatchString(p.Tenant):
		return bad("tenant", "use the tenant ID (a GUID) or a verified domain; `az account show --query tenantId` prints the ID",
			"%s.tenant: %q is neither a tenant ID nor a domain", base, p.Tenant)
	case mi && p.ClientID != "":
		return bad("client_id", "a managed identity has no app registration: remove client_id, and for a user-assigned identity set managed_identity_client_id to its client ID",
			"%s.client_id does not apply to login = %q", base, p.Login)
	case p.ClientID == "" && !mi:
		return bad("client_id", "set client_id to the Application (client) ID of the app registration that holds the "+credentialName(p.Login)+envHint(wi, EnvClientID),
			"%s.client_id is required for login = %q", base, p.Login)
	case p.ClientID != "" && !guidRE().MatchString(p.ClientID):
		return bad("client_id", "copy the Application (client) ID from the app registration's overview page",
			"%s.client_id: %q is not an application ID (a GUID)", base, p.ClientID)
	case p.LoginHint != "":
		return bad("login_hint", "remove login_hint: no user signs in with login = "+p.Login,
			"%s.login_hint does not apply to login = %q", base, p.Login)
	}
	if err := validateAppScopes(p, base, bad); err != nil {
		return err
	}

	u := &p.Unattended
	for _, k := range []struct {
		key   string
		val   string
		login string
	}{{"certificate", u.Certificate, LoginCertificate}, {"federated_token_file", u.FederatedTokenFile, LoginWorkloadIdentity}, {"managed_identity_client_id", u.ManagedIdentityClientID, LoginManagedIdentity}} {
		if k.val != "" && k.login != p.Login {
			return bad(k.key, "remove it, or set login = \""+k.login+"\"", "%s.%s only applies to login = %q", base, k.key, k.login)
		}
	}
	switch p.Login {
	case LoginCertificate:
		if u.Certificate == "" {
			return bad("certificate", `set certificate to the PEM file that holds the certificate and its unencrypted private key, e.g. "~/.config/mcp-token-broker/agent.pem"`,
				"%s.certificate is required for login = %q", base, p.Login)
		}
		c, err := caPath(u.Certificate)
		if err != nil {
			return bad("certificate", "write the absolute path of the PEM file (~/ is allowed)", "%s.certificate: %s", base, err)
		}
		u.Certificate = c
	case LoginWorkloadIdentity:
		if u.FederatedTokenFile != "" {
			f, err := caPath(u.FederatedTokenFile)
			if err != nil {
				return bad("federated_token_file", "write the absolute path of the token file (~/ is allowed), or leave it out for $"+EnvFederatedTokenFile,
					"%s.federated_token_file: %s", base, err)
			}
			u.FederatedTokenFile = f
		}
	case LoginManagedIdentity:
		u.ManagedIdentityClientID = strings.TrimSpace(u.ManagedIdentityClientID)
		if id := u.ManagedIdentityClientID; id != "" && !guidRE().MatchString(id) {
			return bad("managed_identity_client_id", "copy the user-assigned identity's Client ID (`az identity show --query clientId`)",
				"%s.managed_identity_client_id: %q is not a client ID (a GUID)", base, id)
		}
	}

	if p.CAFile != "" {
		ca, err := caPath(p.CAFile)
		if err != nil {
			return bad("ca_file", "write the absolute path of a PEM file (~/ is allowed)", "%s.ca_file: %s", base, err)
		}
		p.CAFile = ca
	}
	if p.Authority == "" {
		p.Authority = DefaultAuthority
	}
	p.Authority = strings.TrimRight(p.Authority, "/")
	if !isHTTPSURL(p.Authority) {
		return bad("authority", `use the https URL of the cloud, e.g. "https://login.microsoftonline.com"`,
			"%s.authority: %q is not an https URL", base, p.Authority)
	}
	return nil
}

// validateAppScopes turns the scopes into the one RESOURCE/.default an
// app token is asked with: sign-in scopes are dropped, a delegated scope
// is an error that says so.
func validateAppScopes(p *Profile, base string, bad func(key, hint, format string, args ...any) error) error {
	var resource string
	for _, sc := range p.Scopes {
		sc = strings.TrimSpace(sc)
		switch {
		case oidcScopes[sc]:
			continue
		case isGraphScope(sc):
			return bad("scopes", `use your API's scope, e.g. "api://<api-app-id>/.default"`,
				"%s.scopes: %q is a Microsoft Graph scope, not your API's", base, sc)
		case !namesAPI(sc):
			return bad("scopes", `write the scope with its API, e.g. "api://<api-app-id>/.default"`, "%s.scopes: %q names no API", base, sc)
		}
		res := sc[:strings.LastIndex(sc, "/")]
		if !strings.HasSuffix(sc, "/.default") {
			return bad("scopes", `use "`+res+`/.default": an app token carries the app roles granted to the app (roles), not delegated scopes (scp)`,
				"%s.scopes: %q is a delegated scope; login = %q gets app tokens, which are asked for with %s/.default", base, sc, p.Login, res)
		}
		if resource != "" && !sameAPI(resource+"/x", sc) {
			return bad("scopes", "a token is for one API: add another profile for the other",
				"%s.scopes: %q and %q are scopes of two different APIs", base, resource+"/.default", sc)
		}
		resource = res
	}
	if resource == "" {
		return bad("scopes", `set scopes = ["api://<api-app-id>/.default"]: an app token is asked for with the API's .default scope`,
			"%s.scopes is required and must name your API", base)
	}
	p.Scopes = []string{resource + "/.default"}
	return nil
}

func isHTTPSURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "https" && u.Host != ""
}

func credentialName(login string) string {
	if login == LoginWorkloadIdentity {
		return "federated credential"
	}
	return "certificate"
}

func envHint(on bool, env string) string {
	if !on {
		return ""
	}
	return " (or set $" + env + ")"
}
