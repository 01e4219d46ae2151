package memo

import (
	"testing"
)

const tok = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln"

// cacheWith is a container file whose profile p holds MSAL's accounts and
// access tokens as given (JSON object bodies).
func cacheWith(accounts, tokens string) []byte {
	return []byte(`{"format":"mcp-token-broker/msal-cache","version":1,"profiles":{"p":{"updated":"2026-12-04T20:00:00Z","msal":` +
		`{"Account":{` + accounts + `},"AccessToken":{` + tokens + `},"RefreshToken":{"r":{"secret":"rt"}}}}}}`)
}

const acct = `"a":{"home_account_id":"h"}`

func at(secret, times string) string {
	return `"k-` + secret + `":{"home_account_id":"h","client_id":"c","secret":"` + secret + `","target":"api://x/.default"` + times + `}`
}

const times = `,"cached_at":"100","expires_on":"200"`

func TestOnlyToken(t *testing.T) {
	t.Parallel()
	e, ok := onlyToken(cacheWith(acct, at(tok, times+`,"refresh_on":"150"`)), "p", tok)
	if !ok || e.cachedAt != 100 || e.expiresOn != 200 || e.refreshOn != 150 || e.ClientID != "c" || e.Target != "api://x/.default" {
		t.Fatalf("onlyToken = %+v, %v", e, ok)
	}
	if e, ok := onlyToken(cacheWith(acct, at(tok, times)), "p", tok); !ok || e.refreshOn != 0 {
		t.Fatalf("without refresh_on: %+v, %v", e, ok)
	}
	for _, tc := range []struct {
		what  string
		cache []byte
		prof  string
	}{
		{"another token", cacheWith(acct, at("other.x.y", times)), "p"},
		{"two tokens", cacheWith(acct, at(tok, times)+","+at("other.x.y", times)), "p"},
		{"two accounts", cacheWith(acct+`,"b":{"home_account_id":"h2"}`, at(tok, times)), "p"},
		{"no account", cacheWith("", at(tok, times)), "p"},
		{"another account's token", cacheWith(`"a":{"home_account_id":"h2"}`, at(tok, times)), "p"},
		{"another profile", cacheWith(acct, at(tok, times)), "q"},
		{"no cached_at", cacheWith(acct, at(tok, `,"expires_on":"200"`)), "p"},
		{"refresh_on 0 (MSAL refreshes)", cacheWith(acct, at(tok, times+`,"refresh_on":"0"`)), "p"},
		{"refresh_on empty", cacheWith(acct, at(tok, times+`,"refresh_on":""`)), "p"},
		{"times as numbers", cacheWith(acct, at(tok, `,"cached_at":100,"expires_on":200`)), "p"},
		{"not JSON", []byte("MTBCACHE"), "p"},
	} {
		if e, ok := onlyToken(tc.cache, tc.prof, tok); ok {
			t.Errorf("%s: onlyToken = %+v", tc.what, e)
		}
	}
}
