package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
)

// Cached is what the profile's cache holds, read without any network call
// and without the token itself.
type Cached struct {
	// Account is the signed-in account ("" when signed out).
	Account string
	// ExpiresOn is the expiry of the newest access token for the
	// profile's scopes (zero when there is none).
	ExpiresOn time.Time
	// HasRefreshToken reports whether a refresh token is cached: whether
	// a token can be had without the user. A CLI source reports true once
	// its tool has given a token (the tool keeps its own refresh token).
	HasRefreshToken bool
}

// cached reads the profile's MSAL cache (through the persistent store when
// there is one) and reports the account and the access token's expiry.
func (c *publicClient) cached(ctx context.Context) (Cached, error) {
	if c.cache == nil {
		name, ok := c.accountName(ctx)
		return Cached{Account: name, HasRefreshToken: ok}, nil
	}
	var raw rawCache
	if err := c.cache.Replace(ctx, &raw, cache.ReplaceHints{}); err != nil {
		return Cached{}, fmt.Errorf("reading the token cache: %w", err)
	}
	return raw.summary(c.profile.ClientID, c.scopes(), c.profile.LoginHint), nil
}

// rawCache captures the serialized MSAL cache: the shared MSAL cache schema
// (AccessToken, RefreshToken, Account maps).
type rawCache struct {
	data []byte
}

func (r *rawCache) Unmarshal(b []byte) error {
	r.data = append([]byte(nil), b...)
	return nil
}

type rawEntry struct {
	HomeAccountID string `json:"home_account_id"`
	ClientID      string `json:"client_id"`
	Target        string `json:"target"`
	ExpiresOn     string `json:"expires_on"`
	Username      string `json:"username"`
}

func (r *rawCache) summary(clientID string, scopes []string, hint string) Cached {
	var doc struct {
		AccessToken  map[string]rawEntry `json:"AccessToken"`
		RefreshToken map[string]rawEntry `json:"RefreshToken"`
		Account      map[string]rawEntry `json:"Account"`
	}
	var out Cached
	if len(r.data) == 0 || json.Unmarshal(r.data, &doc) != nil {
		return out
	}
	home := ""
	for _, a := range doc.Account {
		if out.Account == "" || (hint != "" && strings.EqualFold(a.Username, hint)) {
			out.Account, home = a.Username, a.HomeAccountID
		}
	}
	for _, rt := range doc.RefreshToken {
		if strings.EqualFold(rt.ClientID, clientID) && (home == "" || rt.HomeAccountID == home) {
			out.HasRefreshToken = true
		}
	}
	for _, at := range doc.AccessToken {
		if !strings.EqualFold(at.ClientID, clientID) || (home != "" && at.HomeAccountID != home) || !HasScopes(at.Target, scopes) {
			continue
		}
		if n, err := strconv.ParseInt(at.ExpiresOn, 10, 64); err == nil {
			if t := time.Unix(n, 0); t.After(out.ExpiresOn) {
				out.ExpiresOn = t
			}
		}
	}
	return out
}

// HasScopes reports whether the space-separated target of a cached token
// holds every scope (case-insensitive; OIDC scopes are not cached in the
// target), as MSAL matches a cached token.
func HasScopes(target string, scopes []string) bool {
	have := map[string]bool{}
	for _, s := range strings.Fields(target) {
		have[strings.ToLower(s)] = true
	}
	for _, s := range scopes {
		switch strings.ToLower(s) {
		case "openid", "profile", "offline_access":
			continue
		}
		if !have[strings.ToLower(s)] {
			return false
		}
	}
	return true
}
