// Package auth signs the user in to Microsoft Entra ID, one Client per
// profile. Where the tokens come from is the profile's `login` (the
// credential seam, client.go): MSAL Go's public client (this file:
// interactive with PKCE and a loopback redirect, device code, and silent).
// Every token it hands out has been checked: its audience is the profile's
// API, never Microsoft Graph. Every failure comes back as an *Error with a
// class (temporary, sign-in required, misconfigured), a message and a hint.
package auth

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// DefaultAuthority is Entra ID's global cloud.
const DefaultAuthority = "https://login.microsoftonline.com"

// MSALRefreshWindow is how much validity MSAL requires of a cached access
// token: below it, MSAL redeems the refresh token by itself.
const MSALRefreshWindow = 5 * time.Minute

// Options are the seams of a Client. Zero values are fine.
type Options struct {
	// HTTPClient talks to the authority; nil is a default client, which
	// trusts the system roots (and SSL_CERT_FILE).
	HTTPClient *http.Client
	// Cache persists MSAL's cache; nil keeps it in memory only.
	Cache cache.ExportReplace
	// OpenURL opens the authorize URL in a browser; nil is
	// BrowserOpener($BROWSER) as the caller's environment says, which the
	// caller should pass explicitly.
	OpenURL func(url string) error
	// DeviceCodeOut receives the device code message and the sign-in URL
	// (usually stderr); nil discards them.
	DeviceCodeOut io.Writer
	// Logger gets debug and warning events (never tokens); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
	// RefreshLock, when set, is taken around every silent call that may
	// redeem the refresh token (store.Store.RefreshLock), so that several
	// processes that find the token due at once make one refresh. It
	// waits at most until ctx is done.
	RefreshLock func(ctx context.Context) (unlock func(), err error)
	// Environ is the environment of the credential tools (az, azd,
	// azureauth), whose PATH finds them; nil is os.Environ().
	Environ []string
	// ClaimsFile keeps a claims challenge that needs the user (a
	// Conditional Access step-up) until the next interactive sign-in,
	// which then asks for those claims, whichever process runs it. ""
	// keeps it in memory only.
	ClaimsFile string
	// ScopesFile keeps the scopes that servers' scope challenges added to
	// the profile's (scopes.go), for every later request, whichever
	// process makes it. "" keeps them in memory only.
	ScopesFile string

	// scopes is set by New for the credential: Client.Scopes.
	scopes func() []string
}

// Capabilities are the client capabilities the broker declares: cp1 tells
// Entra and CAE-enabled APIs that the broker handles claims challenges
// (Challenge), so that they may send them.
var Capabilities = []string{"cp1"}

// publicClient is the credential of login = "browser" and "device-code":
// MSAL Go's public client, interactive (PKCE, loopback redirect) or by
// device code, and silent from MSAL's cache (the store) and refresh token.
// Silent calls are serialised so that one refresh runs at a time, and an
// interactive sign-in runs beside them.
type publicClient struct {
	profile *config.Profile
	pca     public.Client
	// cachedPCA answers from the cache only (nil when pca needs no
	// network to read its cache).
	cachedPCA *public.Client
	cache     cache.ExportReplace
	out       io.Writer
	open      func(string) error
	log       *slog.Logger
	now       func() time.Time
	lock      func(ctx context.Context) (func(), error)

	mu sync.Mutex // serialises silent calls: one refresh at a time
	// scopes is what to ask for: the profile's scopes and those servers
	// added (Client.Scopes).
	scopes func() []string
}

// newPublic builds the MSAL public client of p, with the choice of instance
// discovery passed in (isMicrosoftHost). It makes no network call.
func newPublic(p *config.Profile, o Options, discoveryFor func(host string) bool) (*publicClient, error) {
	authority, host, err := authorityURL(p)
	if err != nil {
		return nil, err
	}
	discovery := discoveryFor(host)
	hc := o.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 60 * time.Second}
	}
	opts := []public.Option{
		public.WithAuthority(authority),
		public.WithHTTPClient(hc),
		public.WithInstanceDiscovery(discovery),
		public.WithClientCapabilities(Capabilities),
	}
	if o.Cache != nil {
		opts = append(opts, public.WithCache(o.Cache))
	}
	pca, err := public.New(p.ClientID, opts...)
	if err != nil {
		return nil, &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q: %s", p.Name, lowerFirst(err.Error())),
			Hint: "check `authority`, `tenant` and `client_id` in the profile", Err: err}
	}
	var cached *public.Client
	if o.Cache != nil {
		// With instance discovery on, every new process asks the
		// authority for instance metadata before MSAL even reads its
		// cache. A second client, offline and without discovery, reads
		// the same cache: a valid cached token costs no request (and
		// works offline), and needs no refresh lock. Entries are keyed
		// by the authority's host either way.
		cp, err := public.New(p.ClientID, public.WithAuthority(authority), public.WithCache(o.Cache),
			public.WithInstanceDiscovery(false), public.WithHTTPClient(&http.Client{Transport: offline{}}))
		if err == nil {
			cached = &cp
		}
	}
	c := &publicClient{profile: p, pca: pca, cachedPCA: cached, cache: o.Cache, out: o.DeviceCodeOut, open: o.OpenURL, log: o.Logger, now: o.Now, lock: o.RefreshLock,
		scopes: o.scopes}
	if c.scopes == nil {
		c.scopes = func() []string { return p.Scopes }
	}
	if c.out == nil {
		c.out = io.Discard
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	if c.now == nil {
		c.now = time.Now
	}
	if c.open == nil {
		c.open = BrowserOpener("")
	}
	return c, nil
}

// offline is the transport of the cache-only client: it never connects.
type offline struct{}

func (offline) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errOffline
}

var errOffline = errors.New("cache-only client: no network")

// microsoftHosts are the authority hosts of Microsoft's clouds, for which
// MSAL's instance discovery stays on.
var microsoftHosts = map[string]bool{
	"login.microsoftonline.com":        true,
	"login.microsoft.com":              true,
	"login.windows.net":                true,
	"sts.windows.net":                  true,
	"login.microsoftonline.us":         true,
	"login.usgovcloudapi.net":          true,
	"login.chinacloudapi.cn":           true,
	"login.partner.microsoftonline.cn": true,
	"login.microsoftonline.de":         true,
}

// isMicrosoftHost reports whether host is one of Microsoft's authority
// hosts, for which instance discovery stays on.
func isMicrosoftHost(host string) bool { return microsoftHosts[strings.ToLower(host)] }

// authorityURL returns <authority>/<tenant> and the authority's host.
func authorityURL(p *config.Profile) (string, string, error) {
	base := strings.TrimRight(p.Authority, "/")
	if base == "" {
		base = DefaultAuthority
	}
	u, err := url.Parse(base)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return "", "", &Error{Class: ClassMisconfigured,
			Message: fmt.Sprintf("profile %q: authority %q is not an https URL", p.Name, p.Authority),
			Hint:    "set `authority` to https://login.microsoftonline.com (or your cloud's authority) or leave it out"}
	}
	if p.Tenant == "" {
		return "", "", &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q has no tenant", p.Name),
			Hint: "set `tenant` in the profile to your tenant ID or domain"}
	}
	return base + "/" + p.Tenant, u.Hostname(), nil
}

// interactive signs the user in: in the browser (PKCE, loopback redirect
// on http://localhost) or, with deviceCode, with a code typed on another
// device. The profile's previous accounts are forgotten once the new one
// is in.
//
// The sign-in does not hold the lock of the silent calls (it may wait
// for the user for minutes): the current token can still be refreshed
// meanwhile. MSAL's client is safe for concurrent use.
func (c *publicClient) interactive(ctx context.Context, deviceCode bool, claims string) (token.Token, error) {
	var (
		res public.AuthResult
		err error
	)
	if deviceCode {
		res, err = c.loginDeviceCode(ctx, claims)
	} else {
		res, err = c.loginBrowser(ctx, claims)
	}
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return token.Token{}, &Error{Class: ClassSignInRequired, Message: "sign-in did not finish in time",
				Hint: "run `" + c.loginCommand() + "` again and finish signing in the browser", Err: err}
		}
		return token.Token{}, c.classify(err)
	}
	tok, err := c.check(res)
	if err != nil {
		return token.Token{}, err
	}
	c.mu.Lock()
	c.forgetOthers(ctx, res.Account.HomeAccountID)
	c.mu.Unlock()
	return tok, nil
}

func (c *publicClient) loginBrowser(ctx context.Context, claims string) (public.AuthResult, error) {
	opts := []public.AcquireInteractiveOption{
		public.WithOpenURL(func(u string) error {
			fmt.Fprintf(c.out, "opening the browser to sign in to profile %q; if it does not open, visit:\n%s\n"+
				"waiting for the sign-in to finish (if the page shows an error, press Ctrl-C and fix the profile)\n", c.profile.Name, u)
			if err := c.open(u); err != nil {
				if aadstsRE().MatchString(err.Error()) { // the browser saw the authority's error page
					return err
				}
				return &Error{Class: ClassUnknown, Message: "cannot open a browser: " + err.Error(),
					Hint: "set $BROWSER to a command that opens a URL, or sign in with a code: `" + c.loginCommand() + " --device-code`",
					Err:  err}
			}
			return nil
		}),
	}
	if c.profile.LoginHint != "" {
		opts = append(opts, public.WithLoginHint(c.profile.LoginHint))
	}
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	return c.pca.AcquireTokenInteractive(ctx, c.scopes(), opts...)
}

func (c *publicClient) loginDeviceCode(ctx context.Context, claims string) (public.AuthResult, error) {
	var opts []public.AcquireByDeviceCodeOption
	if claims != "" {
		opts = append(opts, public.WithClaims(claims))
	}
	dc, err := c.pca.AcquireTokenByDeviceCode(ctx, c.scopes(), opts...)
	if err != nil {
		return public.AuthResult{}, err
	}
	msg := strings.TrimSpace(dc.Result.Message)
	if msg == "" {
		msg = fmt.Sprintf("To sign in, open %s and enter the code %s", dc.Result.VerificationURL, dc.Result.UserCode)
	}
	fmt.Fprintf(c.out, "%s\n", msg)
	return dc.AuthenticationResult(ctx)
}

// forgetOthers removes the profile's accounts other than keep: a profile
// has one account.
func (c *publicClient) forgetOthers(ctx context.Context, keep string) {
	accts, err := c.pca.Accounts(ctx)
	if err != nil {
		return
	}
	for _, a := range accts {
		if a.HomeAccountID != keep {
			if err := c.pca.RemoveAccount(ctx, a); err != nil {
				c.log.Warn("removing the previous account", "err", err)
			}
		}
	}
}

// account returns the profile's cached account, preferring login_hint.
func (c *publicClient) account(ctx context.Context) (public.Account, error) {
	accts, err := c.pca.Accounts(ctx)
	if err != nil {
		return public.Account{}, fmt.Errorf("reading the token cache: %w", err)
	}
	if len(accts) == 0 {
		return public.Account{}, &Error{Class: ClassSignInRequired,
			Message: fmt.Sprintf("not signed in to profile %q", c.profile.Name),
			Hint:    "run `" + c.loginCommand() + "`", Err: ErrSignInRequired}
	}
	if h := c.profile.LoginHint; h != "" {
		for _, a := range accts {
			if strings.EqualFold(a.PreferredUsername, h) {
				return a, nil
			}
		}
	}
	return accts[0], nil
}

// accountName returns the signed-in account's name and whether there is one.
func (c *publicClient) accountName(ctx context.Context) (string, bool) {
	a, err := c.account(ctx)
	if err != nil {
		return "", false
	}
	return a.PreferredUsername, true
}

// silent answers Client.Token, Refresh and Challenge (see request).
func (c *publicClient) silent(ctx context.Context, r request) (token.Token, error) {
	switch {
	case r.claims != "":
		return c.challenge(ctx, r.claims)
	case r.force:
		return c.refreshNow(ctx)
	}
	return c.token(ctx, r.minValidity)
}

// token returns a token with at least minValidity left, from MSAL's cache
// or by redeeming the refresh token.
func (c *publicClient) token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	acct, err := c.account(ctx)
	if err != nil {
		return token.Token{}, err
	}
	if tok, ok := c.fromCache(ctx, acct); ok && tok.ValidFor(c.now(), minValidity) {
		return tok, nil
	}
	unlock, err := c.refreshLock(ctx)
	if err != nil {
		return token.Token{}, err
	}
	defer unlock()
	res, err := c.pca.AcquireTokenSilent(ctx, c.scopes(), public.WithSilentAccount(acct))
	if err != nil {
		// MSAL's trap: a failed proactive refresh returns the cached token
		// AND the error. Use the token only while it is good enough.
		if res.AccessToken != "" {
			if tok, cerr := c.check(res); cerr == nil && tok.ValidFor(c.now(), max(minValidity, MSALRefreshWindow)) {
				c.log.Warn("proactive refresh failed; using the cached token",
					"expires_on", tok.ExpiresOn, "err", c.classify(err).Message)
				return tok, nil
			}
		}
		return token.Token{}, c.classify(err)
	}
	tok, err := c.check(res)
	if err != nil {
		return token.Token{}, err
	}
	if tok.ValidFor(c.now(), minValidity) {
		return tok, nil
	}
	// MSAL answered from its cache, but the caller wants more validity
	// than MSAL's 5 minutes: redeem the refresh token.
	tok, err = c.refresh(ctx, acct)
	if err != nil {
		return token.Token{}, err
	}
	if !tok.ValidFor(c.now(), minValidity) {
		return token.Token{}, &Error{Class: ClassUnknown,
			Message: fmt.Sprintf("a fresh token is valid until %s, less than the %s asked for", tok.ExpiresOn.Format(time.RFC3339), minValidity),
			Hint:    "ask for less validity (--min-validity)"}
	}
	return tok, nil
}

// refreshNow redeems the refresh token now, even when MSAL would answer
// from its cache, and returns the new token (which MSAL caches and, with a
// persistent cache, exports).
func (c *publicClient) refreshNow(ctx context.Context) (token.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	acct, err := c.account(ctx)
	if err != nil {
		return token.Token{}, err
	}
	before, _ := c.fromCache(ctx, acct)
	unlock, err := c.refreshLock(ctx)
	if err != nil {
		return token.Token{}, err
	}
	defer unlock()
	// Another process may have refreshed while this one waited for the
	// lock: its new token is as fresh as ours would be.
	if after, ok := c.fromCache(ctx, acct); ok && after.Value != before.Value && after.ValidFor(c.now(), MSALRefreshWindow) {
		c.log.Debug("refreshed by another process meanwhile", "expires_on", after.ExpiresOn)
		return after, nil
	}
	return c.refresh(ctx, acct)
}

// fromCache returns the cached access token of acct (checked), without
// any network call, when there is one.
func (c *publicClient) fromCache(ctx context.Context, acct public.Account) (token.Token, bool) {
	if c.cachedPCA == nil {
		return token.Token{}, false
	}
	res, err := c.cachedPCA.AcquireTokenSilent(ctx, c.scopes(), public.WithSilentAccount(acct))
	if err != nil {
		return token.Token{}, false
	}
	tok, err := c.check(res)
	return tok, err == nil
}

// refreshLock takes Options.RefreshLock, when there is one.
func (c *publicClient) refreshLock(ctx context.Context) (func(), error) {
	if c.lock == nil {
		return func() {}, nil
	}
	unlock, err := c.lock(ctx)
	if err != nil {
		return nil, &Error{Class: ClassTemporary, Message: lowerFirst(err.Error()),
			Hint: "try again in a moment; if it lasts, look for a hung broker process (`broker status`)", Err: err}
	}
	return unlock, nil
}

// refresh forces a refresh-token redemption: MSAL skips its cached access
// token when claims are given, and an nbf claim of "now" is one that Entra
// accepts for any token (a claims challenge the new token meets anyway).
func (c *publicClient) refresh(ctx context.Context, acct public.Account) (token.Token, error) {
	claims := fmt.Sprintf(`{"access_token":{"nbf":{"essential":true,"value":"%d"}}}`, c.now().Unix())
	res, err := c.pca.AcquireTokenSilent(ctx, c.scopes(), public.WithSilentAccount(acct), public.WithClaims(claims))
	if err != nil {
		return token.Token{}, c.classify(err)
	}
	tok, err := c.check(res)
	if err != nil {
		return token.Token{}, err
	}
	c.log.Debug("refreshed", "expires_on", tok.ExpiresOn)
	return tok, nil
}

// challenge asks silently for a token with the claims of an API's
// challenge (JSON, decoded).
func (c *publicClient) challenge(ctx context.Context, claims string) (token.Token, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	acct, err := c.account(ctx)
	if err != nil {
		return token.Token{}, err
	}
	unlock, err := c.refreshLock(ctx)
	if err != nil {
		return token.Token{}, err
	}
	defer unlock()
	res, err := c.pca.AcquireTokenSilent(ctx, c.scopes(), public.WithSilentAccount(acct), public.WithClaims(claims))
	if err != nil {
		return token.Token{}, c.classify(err)
	}
	return c.check(res)
}

// logout forgets every account of the profile (and so its tokens).
func (c *publicClient) logout(ctx context.Context) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	accts, err := c.pca.Accounts(ctx)
	if err != nil {
		return fmt.Errorf("reading the token cache: %w", err)
	}
	for _, a := range accts {
		if err := c.pca.RemoveAccount(ctx, a); err != nil {
			return fmt.Errorf("removing account %s: %w", a.PreferredUsername, err)
		}
	}
	return nil
}

// classify classifies err and points its hint at this profile.
func (c *publicClient) classify(err error) *Error {
	e := Classify(err)
	if e == nil {
		return nil
	}
	if strings.Contains(e.Hint, "`broker login`") || strings.Contains(e.Hint, "<client_id>") {
		cp := *e
		cp.Hint = strings.NewReplacer("`broker login`", "`"+c.loginCommand()+"`",
			"<client_id>", c.profile.ClientID).Replace(e.Hint)
		e = &cp
	}
	return e
}

func (c *publicClient) loginCommand() string {
	return "broker login --profile " + c.profile.Name
}
