package auth

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// cliCacheKey is the member of a profile's cache blob (the store keeps one
// blob per profile, written by MSAL for the other sources) that holds a
// CLI source's token.
const cliCacheKey = "BrokerCLISource"

// cliEntry is the stored answer of a credential tool.
type cliEntry struct {
	Source    string   `json:"source"`
	Tenant    string   `json:"tenant"`
	Scopes    []string `json:"scopes"`
	Account   string   `json:"account,omitempty"`
	Token     string   `json:"access_token"`
	ExpiresOn int64    `json:"expires_on"`
}

// cliBlob is the profile's blob as cache.Marshaler and cache.Unmarshaler.
type cliBlob struct {
	entry *cliEntry
}

func (b *cliBlob) Unmarshal(data []byte) error {
	var doc map[string]json.RawMessage
	b.entry = nil
	if len(data) == 0 || json.Unmarshal(data, &doc) != nil {
		return nil // an MSAL cache of another source, or nothing
	}
	raw, ok := doc[cliCacheKey]
	if !ok {
		return nil
	}
	var e cliEntry
	if json.Unmarshal(raw, &e) == nil {
		b.entry = &e
	}
	return nil
}

func (b *cliBlob) Marshal() ([]byte, error) {
	if b.entry == nil {
		return []byte("{}"), nil // the store forgets an empty profile
	}
	return json.Marshal(map[string]*cliEntry{cliCacheKey: b.entry})
}

// entry reads the stored entry of this profile's source, tenant and scopes
// (nil when there is none).
func (s *cliSource) entry(ctx context.Context) (*cliEntry, error) {
	e := s.mem
	if s.cache != nil {
		var b cliBlob
		if err := s.cache.Replace(ctx, &b, cache.ReplaceHints{}); err != nil {
			return nil, err
		}
		e = b.entry
	}
	if e == nil || e.Source != s.tool.login || !strings.EqualFold(e.Tenant, s.profile.Tenant) || !slices.Equal(e.Scopes, s.current().Scopes) {
		return nil, nil
	}
	return e, nil
}

// stored returns the stored token, checked again, when there is one.
func (s *cliSource) stored(ctx context.Context) (token.Token, bool) {
	e, err := s.entry(ctx)
	if err != nil || e == nil {
		return token.Token{}, false
	}
	tok, err := checkToken(s.profile, e.Token, time.Unix(e.ExpiresOn, 0), e.Account, e.Tenant, nil)
	return tok, err == nil
}

// put stores e (nil forgets).
func (s *cliSource) put(ctx context.Context, e *cliEntry) error {
	s.mem = e
	if s.cache == nil {
		return nil
	}
	return s.cache.Export(ctx, &cliBlob{entry: e}, cache.ExportHints{})
}
