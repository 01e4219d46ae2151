package auth

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/managedidentity"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// Bounds of the files an unattended source reads.
const (
	maxCertificateFile    = 1 << 20
	maxFederatedTokenFile = 64 << 10
)

// appClient is the credential of the unattended sources, login =
// "certificate", "workload-identity" and "managed-identity": app tokens
// (roles, no user, no refresh token) from MSAL Go's confidential client,
// with the client-credentials grant and a certificate or a federated
// token as the client assertion, or with the managed identity of the host
// (MSAL's managedidentity package) as its token provider. Either way the
// tokens live in MSAL's cache in the store, like a user's, so `broker
// token` and the daemon share them; "refreshing" is acquiring again.
//
// Files are read when a token is acquired, not when the client is built:
// the federated token file every time (it rotates), the certificate when
// it changed (a renewed one is picked up). Silent calls are serialised.
type appClient struct {
	profile   *config.Profile
	authority string
	discovery bool
	// cacheID is the client ID MSAL keeps the tokens under.
	cacheID string
	hc      *http.Client
	cache   cache.ExportReplace
	log     *slog.Logger
	now     func() time.Time
	lock    func(ctx context.Context) (func(), error)
	// cachedCCA answers from the cache only (nil without a cache).
	cachedCCA *confidential.Client

	mu        sync.Mutex // serialises silent calls; guards the fields below
	cca       *confidential.Client
	certStamp fileStamp
	mi        *managedidentity.Client
}

// fileStamp tells a changed file from the one read before.
type fileStamp struct {
	size int64
	mod  time.Time
}

// newApp builds the credential of an unattended profile. It reads no
// file and makes no network call.
func newApp(p *config.Profile, o Options) (*appClient, error) {
	c := &appClient{profile: p, hc: o.HTTPClient, cache: o.Cache, log: o.Logger, now: o.Now, lock: o.RefreshLock}
	if p.Login == config.LoginManagedIdentity {
		// The authority only names the cache entries: MSAL's managed
		// identity client talks to the host's endpoint.
		c.authority = strings.TrimRight(cmp.Or(p.Authority, DefaultAuthority), "/") + "/" + cmp.Or(p.Tenant, "managed_identity")
		c.cacheID = cmp.Or(strings.ToLower(p.ManagedIdentityClientID), "system-assigned-managed-identity")
	} else {
		authority, host, err := authorityURL(p)
		if err != nil {
			return nil, err
		}
		c.authority, c.discovery, c.cacheID = authority, isMicrosoftHost(host), p.ClientID
	}
	if c.hc == nil {
		c.hc = &http.Client{Timeout: 60 * time.Second}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.cache != nil {
		never := confidential.NewCredFromAssertionCallback(func(context.Context, confidential.AssertionRequestOptions) (string, error) {
			return "", errOffline
		})
		cc, err := confidential.New(c.authority, c.cacheID, never, confidential.WithCache(c.cache),
			confidential.WithInstanceDiscovery(false), confidential.WithHTTPClient(&http.Client{Transport: offline{}}))
		if err != nil {
			return nil, c.misconfigured(err)
		}
		c.cachedCCA = &cc
	}
	return c, nil
}

// unattendedLogin says in words where the tokens of an unattended login
// come from (SourceDescription); "" for a login that is not one.
func unattendedLogin(login string) string {
	switch login {
	case config.LoginCertificate:
		return "app tokens of a service principal with a certificate, no user"
	case config.LoginWorkloadIdentity:
		return "app tokens by workload identity federation, from a federated token file, no user"
	case config.LoginManagedIdentity:
		return "app tokens of this host's managed identity, no user"
	}
	return ""
}

// unattendedSource describes where an unattended profile's tokens come
// from, with the profile's app, file or identity (DescribeSource).
func unattendedSource(p *config.Profile) string {
	switch p.Login {
	case config.LoginCertificate:
		return fmt.Sprintf("service principal %s with the certificate %s", p.ClientID, p.Certificate)
	case config.LoginWorkloadIdentity:
		file := p.FederatedTokenFile
		if file == "" {
			file = "$" + config.EnvFederatedTokenFile
			if v := os.Getenv(config.EnvFederatedTokenFile); v != "" {
				file += " (" + v + ")"
			}
		}
		return fmt.Sprintf("workload identity: service principal %s with the federated token in %s", p.ClientID, file)
	case config.LoginManagedIdentity:
		id := "system-assigned"
		if p.ManagedIdentityClientID != "" {
			id = "user-assigned " + p.ManagedIdentityClientID
		}
		return fmt.Sprintf("managed identity (%s) of this host, from %s", id, miSource())
	}
	return ""
}

// miSource names the managed-identity endpoint MSAL finds in the
// environment.
func miSource() string {
	src, err := managedidentity.GetSource()
	if err != nil {
		return lowerFirst(err.Error())
	}
	names := map[managedidentity.Source]string{
		managedidentity.AppService:    "the App Service endpoint",
		managedidentity.AzureArc:      "the Azure Arc agent",
		managedidentity.CloudShell:    "Cloud Shell",
		managedidentity.AzureML:       "the Azure ML endpoint",
		managedidentity.ServiceFabric: "the Service Fabric endpoint",
		managedidentity.DefaultToIMDS: "IMDS (169.254.169.254: no other source is set in the environment)",
	}
	name := cmp.Or(names[src], string(src))
	if ep := os.Getenv("IDENTITY_ENDPOINT"); ep != "" && src != managedidentity.DefaultToIMDS {
		name += " " + ep
	}
	return name
}

// label is the token's Account: who the token is for.
func (c *appClient) label() string {
	if c.profile.Login == config.LoginManagedIdentity {
		if c.profile.ManagedIdentityClientID != "" {
			return "managed identity " + c.profile.ManagedIdentityClientID
		}
		return "managed identity (system-assigned)"
	}
	return "app " + c.profile.ClientID
}

// silent answers Token, Refresh and Challenge: from the cache when the
// token there is good enough, else by acquiring a new one.
func (c *appClient) silent(ctx context.Context, r request) (token.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	fresh := func() (token.Token, bool) {
		if r.force || r.claims != "" {
			return token.Token{}, false
		}
		tok, ok := c.fromCache(ctx)
		return tok, ok && tok.ValidFor(c.now(), r.minValidity)
	}
	if tok, ok := fresh(); ok {
		return tok, nil
	}
	if c.lock != nil {
		unlock, err := c.lock(ctx)
		if err != nil {
			return token.Token{}, &Error{Class: ClassTemporary, Message: lowerFirst(err.Error()),
				Hint: "try again in a moment; if it lasts, look for a hung broker process (`broker status`)", Err: err}
		}
		defer unlock()
		// Another process may have acquired one while this one waited.
		if tok, ok := fresh(); ok {
			return tok, nil
		}
	}
	cca, err := c.client()
	if err != nil {
		return token.Token{}, err
	}
	// Claims make MSAL skip its cache: an nbf claim of "now" is met by
	// any new token (see publicClient.refresh).
	claims := cmp.Or(r.claims, fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, c.now().Unix()))
	res, err := cca.AcquireTokenByCredential(ctx, c.profile.Scopes, confidential.WithClaims(claims))
	if err != nil {
		return token.Token{}, c.classify(err)
	}
	tok, err := c.check(res)
	if err != nil {
		return token.Token{}, err
	}
	if !tok.ValidFor(c.now(), r.minValidity) {
		return token.Token{}, &Error{Class: ClassUnknown,
			Message: fmt.Sprintf("a new token is valid until %s, less than the %s asked for", tok.ExpiresOn.Format(time.RFC3339), r.minValidity),
			Hint:    "ask for less validity (--min-validity)"}
	}
	c.log.Debug("app token acquired", "source", c.profile.Login, "expires_on", tok.ExpiresOn)
	return tok, nil
}

// interactive is `broker login`: no user signs in, the source just
// acquires a token.
func (c *appClient) interactive(ctx context.Context, _ bool, claims string) (token.Token, error) {
	return c.silent(ctx, request{force: true, claims: claims})
}

// cached reports the newest cached token's expiry. The account is the
// app or identity, and a token can always be had without a user
// (HasRefreshToken), also before the first one: status shows the profile
// ok, not signed out.
func (c *appClient) cached(ctx context.Context) (Cached, error) {
	s := Cached{Account: c.label(), HasRefreshToken: true}
	if c.cache == nil {
		return s, nil
	}
	var raw rawCache
	if err := c.cache.Replace(ctx, &raw, cache.ReplaceHints{}); err != nil {
		return Cached{}, fmt.Errorf("reading the token cache: %w", err)
	}
	s.ExpiresOn = raw.summary(c.cacheID, c.profile.Scopes, "").ExpiresOn
	return s, nil
}

// logout has nothing of its own to forget: the engine forgets the
// profile's cache. The next request acquires a new token.
func (c *appClient) logout(context.Context) error { return nil }

// fromCache is the cached token (checked), without any network call.
func (c *appClient) fromCache(ctx context.Context) (token.Token, bool) {
	if c.cachedCCA == nil {
		return token.Token{}, false
	}
	res, err := c.cachedCCA.AcquireTokenByCredential(ctx, c.profile.Scopes)
	if err != nil {
		return token.Token{}, false
	}
	tok, err := c.check(res)
	return tok, err == nil
}

// check checks an app token as a user's is checked (the audience is the
// API), and names the app or identity as its account.
func (c *appClient) check(res confidential.AuthResult) (token.Token, error) {
	tok, err := checkToken(c.profile, res.AccessToken, res.ExpiresOn, "", "", res.GrantedScopes)
	if err != nil {
		return token.Token{}, err
	}
	tok.Account = c.label()
	return tok, nil
}

// client returns the confidential client, built at first use and again
// when the certificate file changed. The caller holds c.mu.
func (c *appClient) client() (*confidential.Client, error) {
	var (
		cred  confidential.Credential
		stamp fileStamp
		err   error
	)
	switch c.profile.Login {
	case config.LoginCertificate:
		stamp, err = statFile(c.profile.Certificate)
		if err != nil {
			return nil, c.certError(err)
		}
		if c.cca != nil && stamp == c.certStamp {
			return c.cca, nil
		}
		if cred, err = c.certificate(); err != nil {
			return nil, err
		}
	case config.LoginWorkloadIdentity:
		if c.cca != nil {
			return c.cca, nil
		}
		cred = confidential.NewCredFromAssertionCallback(c.federatedToken)
	case config.LoginManagedIdentity:
		if c.cca != nil {
			return c.cca, nil
		}
		cred = confidential.NewCredFromTokenProvider(c.managedIdentityToken)
	default:
		return nil, &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q: login %q is not an unattended source", c.profile.Name, c.profile.Login)}
	}
	opts := []confidential.Option{confidential.WithHTTPClient(c.hc), confidential.WithInstanceDiscovery(c.discovery),
		confidential.WithClientCapabilities(Capabilities)}
	if c.cache != nil {
		opts = append(opts, confidential.WithCache(c.cache))
	}
	cca, err := confidential.New(c.authority, c.cacheID, cred, opts...)
	if err != nil {
		return nil, c.misconfigured(err)
	}
	c.cca, c.certStamp = &cca, stamp
	return c.cca, nil
}

// fileErr is err without the path that the message names already.
func fileErr(path string, err error) string {
	return strings.TrimPrefix(unwrapPath(err).Error(), path+": ")
}

func statFile(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{size: fi.Size(), mod: fi.ModTime()}, nil
}

// certificate reads the profile's PEM file: the certificate (or its
// chain) and its unencrypted RSA private key, what MSAL's CertFromPEM
// takes. A key that other users can read is a warning.
func (c *appClient) certificate() (confidential.Credential, error) {
	path := c.profile.Certificate
	b, err := files.ReadRegular(path, maxCertificateFile)
	if err != nil {
		return confidential.Credential{}, c.certError(err)
	}
	if fi, err := os.Stat(path); err == nil && runtime.GOOS != "windows" && fi.Mode().Perm()&0o077 != 0 {
		c.log.Warn(fmt.Sprintf("the private key in %s can be read by other users (mode %04o)", path, fi.Mode().Perm()),
			"hint", "chmod 600 "+path)
	}
	certs, key, err := confidential.CertFromPEM(b, "")
	if err != nil {
		e := &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("certificate %s: %s", path, lowerFirst(err.Error())), Err: err,
			Hint: "the file must hold the certificate and its unencrypted private key in PEM; from a .pfx: `openssl pkcs12 -in agent.pfx -out agent.pem -nodes`"}
		if strings.Contains(err.Error(), "legacy") {
			e.Message, e.Hint = fmt.Sprintf("certificate %s: the private key is encrypted", path), "store the key unencrypted and protect the file (chmod 600): `openssl pkcs8 -topk8 -nocrypt -in legacy.key -out key.pem`"
		}
		return confidential.Credential{}, e
	}
	cred, err := confidential.NewCredFromCert(certs, key)
	if err != nil {
		return confidential.Credential{}, &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("certificate %s: %s", path, lowerFirst(err.Error())), Err: err,
			Hint: "Entra takes certificates with an RSA key; the private key must be the certificate's"}
	}
	return cred, nil
}

func (c *appClient) certError(err error) *Error {
	return &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("reading the certificate %s: %s", c.profile.Certificate, fileErr(c.profile.Certificate, err)), Err: err,
		Hint: fmt.Sprintf("set `certificate` in profile %q to the PEM file with the certificate and its private key", c.profile.Name)}
}

// federatedToken is the client assertion of workload identity: the
// token in the federated token file, read again each time (the kubelet
// or the CI job rotates it).
func (c *appClient) federatedToken(context.Context, confidential.AssertionRequestOptions) (string, error) {
	path := cmp.Or(c.profile.FederatedTokenFile, os.Getenv(config.EnvFederatedTokenFile))
	if path == "" {
		return "", &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q has no federated token file", c.profile.Name),
			Hint: "set `federated_token_file` in the profile, or $" + config.EnvFederatedTokenFile + " (Azure workload identity sets it in the pod)"}
	}
	b, err := files.ReadRegular(path, maxFederatedTokenFile)
	if err != nil {
		return "", &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("reading the federated token file %s: %s", path, fileErr(path, err)), Err: err,
			Hint: "the file is written by the platform (the workload identity webhook in Kubernetes) or by a CI step that asks its OIDC provider for a token with audience api://AzureADTokenExchange; the broker reads it again at the next try"}
	}
	tok := strings.TrimSpace(string(b))
	claims, err := token.ParseClaims(tok)
	if err != nil {
		return "", &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("the federated token file %s holds no JWT", path), Err: err,
			Hint: "the file must hold the identity token alone (not JSON around it)"}
	}
	if claims.Exp > 0 && !time.Unix(claims.Exp, 0).After(c.now()) {
		return "", &Error{Class: ClassTemporary,
			Message: fmt.Sprintf("the federated token in %s expired at %s", path, time.Unix(claims.Exp, 0).Format(time.RFC3339)),
			Hint:    "the platform or the CI job must write a new token into the file; the broker reads it again at the next try"}
	}
	return tok, nil
}

// managedIdentityToken is the token provider of login =
// "managed-identity": MSAL's managedidentity client, which finds the
// host's endpoint in the environment (App Service's IDENTITY_ENDPOINT,
// Azure Arc, Cloud Shell, else IMDS). Claims always make it skip its own
// process-wide cache: the confidential client's cache is the one kept.
//
// MSAL calls it from AcquireTokenByCredential in silent, which holds c.mu.
func (c *appClient) managedIdentityToken(ctx context.Context, p confidential.TokenProviderParameters) (confidential.TokenProviderResult, error) {
	if c.mi == nil {
		var id managedidentity.ID = managedidentity.SystemAssigned()
		if v := c.profile.ManagedIdentityClientID; v != "" {
			id = managedidentity.UserAssignedClientID(v)
		}
		mi, err := managedidentity.New(id, managedidentity.WithHTTPClient(c.hc))
		if err != nil {
			return confidential.TokenProviderResult{}, &Error{Class: ClassMisconfigured, Message: "managed identity: " + lowerFirst(err.Error()), Err: err,
				Hint: "this host's managed identity source does not take that identity; check managed_identity_client_id"}
		}
		c.mi = &mi
	}
	res, err := c.mi.AcquireToken(ctx, c.profile.Scopes[0], managedidentity.WithClaims(cmp.Or(p.Claims, "{}")))
	if err != nil {
		return confidential.TokenProviderResult{}, c.classifyMI(err)
	}
	return confidential.TokenProviderResult{AccessToken: res.AccessToken, ExpiresInSeconds: int(res.ExpiresOn.Sub(c.now()) / time.Second)}, nil
}

// classifyMI classifies an error of the managed-identity endpoint, whose
// bodies are not Entra's.
func (c *appClient) classifyMI(err error) *Error {
	msg := err.Error()
	switch {
	case strings.Contains(msg, "Unable to load the proper Managed Identity"):
		return &Error{Class: ClassMisconfigured, Message: "the host has no such managed identity", Err: err,
			Hint: "check managed_identity_client_id (`az identity show --query clientId`) and that the identity is assigned to this resource; leave it out for the system-assigned identity"}
	case aadstsRE().MatchString(msg):
		return c.classify(errors.New(msg[strings.Index(msg, "AADSTS"):]))
	}
	e := c.classify(err)
	if e.Class == ClassTemporary {
		e.Message = strings.Replace(e.Message, "the authority", "the managed identity endpoint", 1)
		e.Hint = "this source works on an Azure host with a managed identity (App Service, Functions, a VM, Arc); check that the identity is enabled"
	}
	return e
}

// classify classifies err for an app: sign-in never helps (no user), and
// the codes of client assertions get their own message and hint.
func (c *appClient) classify(err error) *Error {
	e := Classify(err)
	if e == nil {
		return nil
	}
	cp := *e
	if info, ok := appCodes[e.Code]; ok {
		cp.Class, cp.Message, cp.Hint = info.class, info.message+" (AADSTS"+e.Code+")", info.hint
	} else if cp.Class == ClassSignInRequired {
		cp.Class = ClassMisconfigured
		cp.Hint = "no user signs in to this profile (login = " + c.profile.Login + "): check the app registration's credentials and the API's app roles"
	}
	cp.Hint = strings.NewReplacer("<client_id>", cmp.Or(c.profile.ClientID, "<client_id>")).Replace(cp.Hint)
	return &cp
}

func (c *appClient) misconfigured(err error) *Error {
	return &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q: %s", c.profile.Name, lowerFirst(err.Error())),
		Hint: "check `authority`, `tenant` and `client_id` in the profile", Err: err}
}

// appCodes are the AADSTS codes of the client-credentials grant.
var appCodes = map[string]codeInfo{
	"700027":  {ClassMisconfigured, "the certificate that signed the client assertion is not registered on the app, or the signature is wrong", "upload the certificate (its public part) to the app registration: `az ad app credential reset --id <client_id> --cert @agent.crt --append`; or point `certificate` at the PEM file of the registered one"},
	"700021":  {ClassMisconfigured, "the client assertion names another app than client_id", "check `client_id` in the profile"},
	"700023":  {ClassMisconfigured, "the client assertion's audience is not this tenant's token endpoint", "check `tenant` and `authority` in the profile"},
	"700024":  {ClassTemporary, "the client assertion is not within its valid time range (an expired federated token, or a clock that is off)", "a federated token file is rotated by the platform or the CI job, and the broker reads it again at the next try; check the machine's clock"},
	"70021":   {ClassMisconfigured, "no federated credential of the app matches the token's issuer, subject and audience", "add a federated credential to the app registration with the token's issuer and subject and audience api://AzureADTokenExchange (`az ad app federated-credential create --id <client_id> --parameters credential.json`)"},
	"700211":  {ClassMisconfigured, "no federated credential of the app has the token's issuer", "add a federated credential with the issuer of the federated token (for GitHub Actions https://token.actions.githubusercontent.com; for AKS the cluster's OIDC issuer URL) to app <client_id>"},
	"700212":  {ClassMisconfigured, "no federated credential of the app has the token's audience", "ask the token issuer for audience api://AzureADTokenExchange, or add the token's audience to the federated credential of app <client_id>"},
	"700213":  {ClassMisconfigured, "no federated credential of the app has the token's subject", "add a federated credential whose subject is the token's sub (for GitHub Actions e.g. repo:ORG/REPO:ref:refs/heads/main or repo:ORG/REPO:environment:NAME; for Kubernetes system:serviceaccount:NAMESPACE:NAME) to app <client_id>"},
	"50027":   {ClassMisconfigured, "the client assertion is not a valid JWT", "check the federated token file: it must hold the identity token alone"},
	"1002012": {ClassMisconfigured, "an app token is asked for with the API's .default scope only", "set `scopes = [\"api://<api-app>/.default\"]` in the profile"},
	"700025":  {ClassMisconfigured, "client_id is a public client; a certificate or a federated credential belongs to a confidential app registration", "set `client_id` to the app registration (service principal) that holds the certificate or the federated credential, not the broker's public client"},
	"7000218": {ClassMisconfigured, "the app registration has no credential in the request", "check `certificate` or `federated_token_file` in the profile"},
}
