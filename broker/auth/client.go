package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// credential is where one profile's tokens come from: the seam behind
// Client, chosen by the profile's `login` in newCredential. Every caller
// uses *Client; a credential is never seen outside this package.
//
// Implementations: publicClient (auth.go: "browser", "device-code", MSAL
// Go's public client), cliSource (cli.go: "azurecli", "azd",
// "azureauth": a token from another tool that has the OS's sign-in broker)
// and appClient (unattended.go: "certificate", "workload-identity",
// "managed-identity": app tokens from MSAL Go's confidential client).
// A new source is a type with these four methods, in a file of its own,
// and a case in newCredential.
//
// Contract, for every implementation:
//   - Safe for concurrent use. Each serialises its own silent calls as it
//     needs (one refresh at a time, also across processes through
//     Options.RefreshLock), and interactive may run beside them.
//   - Every token returned has been through checkToken (check.go): its
//     audience is the profile's API (never Microsoft Graph); ExpiresOn is
//     set.
//   - Errors are *Error with a class (ClassSignInRequired when the user
//     must act, also when never signed in), a lowercase message and a hint
//     that names the command to run. No token in any error or log line.
//   - Tokens are cached where every process of the profile finds them
//     (Options.Cache, the store: one opaque blob per profile, which the
//     source owns), so that `broker token` and the daemon do not each ask
//     the authority or run a tool.
//   - A source without a user (a service principal, a managed identity)
//     may answer interactive with a silent fetch, and report
//     HasRefreshToken in cached whenever it can get a token by itself
//     (status then shows the profile ok rather than signed out).
//
// What stays in Client for every source: the claims challenge kept for the
// next Login (Options.ClaimsFile), the scopes servers added (scopes.go:
// Options.ScopesFile; a source asks for Options.scopes(), which New sets
// to Client.Scopes), and the logging of sign-ins.
type credential interface {
	// silent returns a token without user interaction (see request).
	silent(ctx context.Context, r request) (token.Token, error)
	// interactive signs the user in; it may block for minutes, until the
	// user is done or ctx ends. deviceCode asks for a code typed on
	// another device instead of a browser; claims (JSON, may be "") are
	// the claims a server's challenge asked for. A source that cannot
	// sign in by itself returns the error that says what the user must do.
	interactive(ctx context.Context, deviceCode bool, claims string) (token.Token, error)
	// cached reports what the cache holds, without any network call,
	// without running any tool and without the token itself.
	cached(ctx context.Context) (Cached, error)
	// logout forgets the profile's account and tokens (what the broker
	// holds; a tool's own sign-in is the tool's).
	logout(ctx context.Context) error
}

// request is what a silent call asks for.
type request struct {
	// minValidity is how long the token must still be valid.
	minValidity time.Duration
	// force asks for a new token even when the cached one is good
	// (Refresh). A source whose tool answers from its own cache may
	// return the same token.
	force bool
	// claims, when set, are the claims of an API's challenge (JSON,
	// decoded) that the token must carry (Challenge).
	claims string
}

// newCredential builds the credential that the profile's login names.
func newCredential(p *config.Profile, o Options) (credential, error) {
	switch p.Login {
	case LoginAzureCLI, LoginAzd, LoginAzureAuth:
		return newCLISource(p, o)
	case config.LoginCertificate, config.LoginWorkloadIdentity, config.LoginManagedIdentity:
		return newApp(p, o) // unattended.go
	default: // "browser", "device-code" ("" in tests that build a profile by hand)
		return newPublic(p, o, isMicrosoftHost)
	}
}

// Client signs in one profile and hands out its tokens, from the source
// its `login` names (see credential). It is safe for concurrent use.
type Client struct {
	profile *config.Profile
	cred    credential
	log     *slog.Logger

	claimsMu   sync.Mutex
	claimsFile string
	pending    string // claims the next Login asks for (see Options.ClaimsFile)

	challengeMu sync.Mutex // one scope challenge at a time (scopes.go)
	scopesMu    sync.Mutex
	scopesFile  string
	extra       []string // scopes servers added (see Options.ScopesFile)
}

// New builds the client of profile p. It makes no network call and runs
// no tool.
func New(p *config.Profile, o Options) (*Client, error) {
	if p == nil {
		return nil, errors.New("auth: no profile")
	}
	if len(p.Scopes) == 0 {
		return nil, &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q has no scopes", p.Name),
			Hint: "set `scopes = [\"api://<api-app>/.default\"]` in the profile"}
	}
	c := &Client{profile: p, log: o.Logger, claimsFile: o.ClaimsFile, scopesFile: o.ScopesFile}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	o.scopes = c.Scopes // what every source asks for (scopes.go)
	cred, err := newCredential(p, o)
	if err != nil {
		return nil, err
	}
	c.cred = cred
	return c, nil
}

// Profile returns the client's profile.
func (c *Client) Profile() *config.Profile { return c.profile }

// Login signs the user in interactively (see the profile's `login`): in
// the browser or, with deviceCode, with a code typed on another device;
// a CLI source runs its tool's own sign-in. It blocks until the user is
// done or ctx ends. A pending claims challenge is asked for.
func (c *Client) Login(ctx context.Context, deviceCode bool) (token.Token, error) {
	claims := c.pendingClaims()
	tok, err := c.cred.interactive(ctx, deviceCode, claims)
	if err != nil {
		return token.Token{}, err
	}
	if claims != "" {
		c.setPendingClaims("")
		c.log.Info("signed in with the claims the server asked for")
	}
	c.log.Debug("signed in", "account", tok.Account, "expires_on", tok.ExpiresOn)
	return tok, nil
}

// Token returns a token with at least minValidity left, from the cache or
// silently from the source (redeeming the refresh token, running the
// tool). It never opens a browser: when the user must act (also when never
// signed in) the error matches ErrSignInRequired.
func (c *Client) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	return c.cred.silent(ctx, request{minValidity: minValidity})
}

// Refresh gets a new token now, even when the cached one is good, and
// caches it. A CLI source's tool may answer from its own cache. A pending
// claims challenge is asked for too: a token without those claims would
// only be refused again by the server that asked (while status showed
// the profile ok), so until a sign-in meets them a refresh is sign-in
// required as well.
func (c *Client) Refresh(ctx context.Context) (token.Token, error) {
	claims := c.pendingClaims()
	tok, err := c.cred.silent(ctx, request{force: true, claims: claims})
	if err == nil && claims != "" {
		c.setPendingClaims("")
		c.log.Info("token with the claims the server asked for", "expires_on", tok.ExpiresOn)
	}
	return tok, err
}

// Challenge answers an API's claims challenge (a 401 with
// error="insufficient_claims": Conditional Access authentication context,
// a CAE revocation): it asks silently for a token with those claims (JSON,
// decoded). When that needs the user, the error is sign-in required, and
// the next Login asks for the claims, in this process or another (see
// Options.ClaimsFile).
func (c *Client) Challenge(ctx context.Context, claims string) (token.Token, error) {
	tok, err := c.cred.silent(ctx, request{claims: claims})
	if err != nil {
		if ClassOf(err) == ClassSignInRequired {
			c.setPendingClaims(claims)
		}
		return token.Token{}, err
	}
	c.log.Info("token with the claims the server asked for", "expires_on", tok.ExpiresOn)
	return tok, nil
}

// Account returns the signed-in account's name and whether there is one,
// from the cache.
func (c *Client) Account(ctx context.Context) (string, bool) {
	cached, err := c.cred.cached(ctx)
	if err != nil || cached.Account == "" {
		return "", false
	}
	return cached.Account, true
}

// Cached reads the profile's cache (through the persistent store when
// there is one) and reports the account and the access token's expiry. It
// never calls the authority nor runs a tool: `status` uses it when no
// daemon runs.
func (c *Client) Cached(ctx context.Context) (Cached, error) { return c.cred.cached(ctx) }

// Logout forgets the profile's account and tokens, and the scopes servers
// added (a new sign-in starts from the profile's).
func (c *Client) Logout(ctx context.Context) error {
	if err := c.cred.logout(ctx); err != nil {
		return err
	}
	c.setExtraScopes(nil)
	return nil
}

func (c *Client) loginCommand() string {
	return "broker login --profile " + c.profile.Name
}

// pendingClaims is the claims challenge the next Login must carry.
func (c *Client) pendingClaims() string {
	c.claimsMu.Lock()
	defer c.claimsMu.Unlock()
	if c.claimsFile != "" {
		if b, err := os.ReadFile(c.claimsFile); err == nil && json.Valid(b) {
			return string(b)
		}
	}
	return c.pending
}

// setPendingClaims keeps claims for the next Login ("" forgets them).
func (c *Client) setPendingClaims(claims string) {
	c.claimsMu.Lock()
	defer c.claimsMu.Unlock()
	c.pending = claims
	if c.claimsFile == "" {
		return
	}
	if claims == "" {
		if err := os.Remove(c.claimsFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("cannot forget the claims challenge", "err", err)
		}
		return
	}
	if err := os.MkdirAll(filepath.Dir(c.claimsFile), 0o700); err == nil {
		err = os.WriteFile(c.claimsFile, []byte(claims), 0o600)
		if err != nil {
			c.log.Warn("cannot keep the claims challenge for the next sign-in", "err", err)
		}
	}
}
