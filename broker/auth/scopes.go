package auth

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Scope challenges (RFC 6750 §3.1, the MCP authorization spec's step-up):
// an API answers a valid token with 403 and error="insufficient_scope",
// scope="…". The broker then asks for the union of the profile's scopes
// and the ones asked for (of the same API only), and keeps the added ones
// (Options.ScopesFile), so that every later request of the profile, silent
// refresh or interactive sign-in, asks for them too.

// oidcScopes are the scopes MSAL adds by itself; a challenge that names
// them asks for nothing the broker must add.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "email": true, "offline_access": true}

// scopesDoc is the content of Options.ScopesFile.
type scopesDoc struct {
	// Scopes were asked for by servers beyond the profile's own.
	Scopes []string `json:"scopes"`
}

// Scopes returns what the client asks Entra for: the profile's scopes and
// those that servers' scope challenges added (ExtraScopes), as long as
// they still fit the profile (config.toml may have changed since: a scope
// of an API the profile no longer names, or whose .default it now asks
// for, would make every request fail).
func (c *Client) Scopes() []string {
	out := append([]string(nil), c.profile.Scopes...)
	for _, s := range c.storedScopes() {
		api, _ := apiOf(s)
		if containsFold(out, s) || containsFold(c.profile.Scopes, api+"/.default") || !c.profileAPI(api) {
			continue
		}
		out = append(out, s)
	}
	return out
}

// profileAPI reports whether api is the API of one of the profile's scopes.
func (c *Client) profileAPI(api string) bool {
	for _, s := range c.profile.Scopes {
		if a, ok := apiOf(s); ok && strings.EqualFold(a, api) {
			return true
		}
	}
	return false
}

// ExtraScopes returns the scopes that servers' scope challenges added to
// the profile's and that Scopes asks for (none when no server asked).
func (c *Client) ExtraScopes() []string {
	all := c.Scopes()
	if n := len(c.profile.Scopes); len(all) > n {
		return all[n:]
	}
	return nil
}

// storedScopes reads the scopes kept for the profile (Options.ScopesFile).
func (c *Client) storedScopes() []string {
	c.scopesMu.Lock()
	defer c.scopesMu.Unlock()
	if c.scopesFile == "" {
		return append([]string(nil), c.extra...)
	}
	b, err := os.ReadFile(c.scopesFile)
	if err != nil {
		return nil
	}
	var doc scopesDoc
	if json.Unmarshal(b, &doc) != nil {
		c.log.Warn("ignoring an unreadable scopes file", "path", c.scopesFile)
		return nil
	}
	return doc.Scopes
}

// setExtraScopes keeps the scopes servers added (nil forgets them).
func (c *Client) setExtraScopes(scopes []string) {
	c.scopesMu.Lock()
	defer c.scopesMu.Unlock()
	c.extra = scopes
	if c.scopesFile == "" {
		return
	}
	if len(scopes) == 0 {
		if err := os.Remove(c.scopesFile); err != nil && !errors.Is(err, fs.ErrNotExist) {
			c.log.Warn("cannot forget the scopes servers asked for", "err", err)
		}
		return
	}
	b, _ := json.MarshalIndent(scopesDoc{Scopes: scopes}, "", "  ")
	err := os.MkdirAll(filepath.Dir(c.scopesFile), 0o700)
	if err == nil {
		tmp := c.scopesFile + ".tmp"
		if err = os.WriteFile(tmp, append(b, '\n'), 0o600); err == nil {
			err = os.Rename(tmp, c.scopesFile)
		}
	}
	if err != nil {
		c.log.Warn("cannot keep the scopes servers asked for", "err", err)
	}
}

// ScopeChallenge answers an API's insufficient_scope challenge: server
// names the API for the user, scopes are the challenge's scope values. It
// asks for a new token for the union of the profile's scopes and these,
// silently; when that needs the user (the scope has no consent yet,
// AADSTS65001), the error is sign-in required naming the server and the
// scope, and the next Login asks for the union, with consent. The added
// scopes are kept either way: later refreshes ask for them too. A scope
// of another API than the profile's is a misconfiguration error, and
// changes nothing. When the profile asks for the API's .default, which
// Entra does not mix with its other scopes, nothing is added: a new token
// for .default carries the scope once it is granted to the app (an
// admin's consent), else the error is a misconfiguration naming the fix.
func (c *Client) ScopeChallenge(ctx context.Context, server string, scopes []string) (token.Token, error) {
	want, err := c.sameAPI(server, scopes)
	if err != nil {
		return token.Token{}, err
	}
	c.challengeMu.Lock()
	defer c.challengeMu.Unlock()
	prev := c.ExtraScopes()
	next := append([]string(nil), prev...)
	var viaDefault []string // scopes of an API the profile asks .default of
	for _, s := range want {
		api, _ := apiOf(s)
		switch {
		case containsFold(c.profile.Scopes, api+"/.default"):
			// Entra does not mix .default with other scopes of the same
			// API (AADSTS70011); .default carries every scope granted.
			viaDefault = append(viaDefault, s)
		case !containsFold(c.profile.Scopes, s) && !containsFold(next, s):
			next = append(next, s)
		}
	}
	if len(next) != len(prev) {
		c.setExtraScopes(next)
		c.log.Info("a server asked for more scopes; the profile asks for them from now on", "server", server, "scopes", strings.Join(next, " "))
	}
	// A redemption, not the cache: when the scopes were asked for
	// before, the consent may be new (an admin's) and only a new token
	// carries it.
	tok, err := c.cred.silent(ctx, request{force: true})
	if err != nil {
		if ClassOf(err) != ClassSignInRequired {
			c.setExtraScopes(prev) // a temporary failure: the next challenge asks again
			return token.Token{}, err
		}
		return token.Token{}, c.scopeError(server, want, err)
	}
	if missing := lacking(tok, viaDefault); len(missing) > 0 {
		return token.Token{}, &Error{Class: ClassMisconfigured,
			Message: fmt.Sprintf("%s needs scope %s, which a token for %s does not carry: .default carries only the scopes granted to the app", server, strings.Join(missing, " "), c.defaultScope(missing[0])),
			Hint: fmt.Sprintf("have an admin grant app %s consent to it (`az ad app permission admin-consent --id %s`), or name the scopes in profile %q instead of .default (such as %q) so that the sign-in can ask for it with consent",
				c.profile.ClientID, c.profile.ClientID, c.profile.Name, strings.TrimSuffix(c.defaultScope(missing[0]), ".default")+"access_as_user")}
	}
	c.log.Info("token with the scopes the server asked for", "server", server, "expires_on", tok.ExpiresOn)
	return tok, nil
}

// lacking returns the scopes of want that tok's scp does not hold (scp
// holds the names without the API).
func lacking(tok token.Token, want []string) []string {
	var out []string
	for _, s := range want {
		name := s[strings.LastIndex(s, "/")+1:]
		if !containsFold(tok.Scopes, name) && !containsFold(tok.Scopes, s) {
			out = append(out, s)
		}
	}
	return out
}

// defaultScope is the profile's .default scope of the API of scope.
func (c *Client) defaultScope(scope string) string {
	api, _ := apiOf(scope)
	for _, s := range c.profile.Scopes {
		if strings.EqualFold(s, api+"/.default") {
			return s
		}
	}
	return api + "/.default"
}

// scopeError is the sign-in required error of a scope challenge that
// needs the user.
func (c *Client) scopeError(server string, want []string, err error) error {
	if ClassOf(err) != ClassSignInRequired {
		return err
	}
	noun := "scope"
	if len(want) > 1 {
		noun = "scopes"
	}
	return &Error{Class: ClassSignInRequired,
		Message: fmt.Sprintf("%s needs %s %s", server, noun, strings.Join(want, " ")),
		Hint: fmt.Sprintf("run `%s`: the sign-in asks for it with consent; if your organisation blocks user consent, an admin must grant it to app %s",
			c.loginCommand(), c.profile.ClientID),
		Err: err}
}

// sameAPI returns the scopes of a challenge that the broker must ask for
// (without the OIDC ones), or an error when one is of another API than
// the profile's: one token is for one API.
func (c *Client) sameAPI(server string, scopes []string) ([]string, error) {
	var apis []string
	for _, s := range c.profile.Scopes {
		if api, ok := apiOf(s); ok && !containsFold(apis, api) {
			apis = append(apis, api)
		}
	}
	var want []string
	for _, s := range scopes {
		if oidcScopes[strings.ToLower(s)] {
			continue
		}
		api, ok := apiOf(s)
		if !ok || !containsFold(apis, api) {
			what := "of another API, " + api
			if !ok {
				what = "that names no API (Entra reads a bare scope as Microsoft Graph's)"
			}
			return nil, &Error{Class: ClassMisconfigured,
				Message: fmt.Sprintf("%s asks for scope %s, %s: profile %q is for %s, and one token is for one API", server, s, what, c.profile.Name, strings.Join(apis, " ")),
				Hint:    "the server must name a scope of its own API (App ID URI/scope); if it is another API, give it a profile of its own: `broker discover URL` proposes one"}
		}
		if !containsFold(want, s) {
			want = append(want, s)
		}
	}
	if len(want) == 0 {
		return nil, &Error{Class: ClassUnknown, Message: fmt.Sprintf("%s refused the token for want of a scope, and names none", server),
			Hint: "ask the server's owner which scope it needs, and add it to `scopes` in the profile"}
	}
	return want, nil
}

// apiOf is the API of a scope (its App ID URI: what comes before the last
// "/"), and whether the scope names one.
func apiOf(scope string) (string, bool) {
	i := strings.LastIndex(scope, "/")
	if i <= 0 {
		return "", false
	}
	return scope[:i], true
}

func containsFold(list []string, s string) bool {
	return slices.ContainsFunc(list, func(v string) bool { return strings.EqualFold(v, s) })
}
