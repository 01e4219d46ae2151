package auth

import (
	"fmt"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// GraphAppID is Microsoft Graph's application ID: the audience Entra falls
// back to when a request names no API scope.
const GraphAppID = "00000003-0000-0000-c000-000000000000"

// graphAudiences are the aud values of Microsoft Graph tokens in every cloud.
var graphAudiences = map[string]bool{
	GraphAppID:                                true,
	"https://graph.microsoft.com":             true,
	"https://graph.microsoft.us":              true,
	"https://dod-graph.microsoft.us":          true,
	"https://microsoftgraph.chinacloudapi.cn": true,
	"https://graph.microsoft.de":              true,
	"https://graph.windows.net":               true, // Azure AD Graph
	"00000002-0000-0000-c000-000000000000":    true,
}

// IsGraphAudience reports whether aud is Microsoft Graph (or Azure AD Graph).
func IsGraphAudience(aud string) bool {
	return graphAudiences[strings.TrimRight(strings.ToLower(aud), "/")]
}

// check decodes the access token of res, rejects tokens that are not for
// the profile's API, and fills a token.Token.
func (c *publicClient) check(res public.AuthResult) (token.Token, error) {
	return checkToken(c.profile, res.AccessToken, res.ExpiresOn, res.Account.PreferredUsername, res.Account.Realm, res.GrantedScopes)
}

// checkToken decodes an access token (raw), rejects it when it is not for
// the profile's API, and fills a token.Token. expiresOn, account, tenant
// and granted are what the source said beside the token; the token's own
// claims win (and the earlier expiry).
func checkToken(p *config.Profile, raw string, expiresOn time.Time, account, tenant string, granted []string) (token.Token, error) {
	if raw == "" {
		return token.Token{}, &Error{Class: ClassUnknown, Message: "the authority returned no access token"}
	}
	claims, err := token.ParseClaims(raw)
	if err != nil {
		return token.Token{}, &Error{Class: ClassMisconfigured,
			Message: "the access token cannot be read: " + err.Error() + "; an API cannot validate it",
			Hint:    fmt.Sprintf("check `scopes` in profile %q: they must name your API, e.g. api://<api-app>/.default", p.Name), Err: err}
	}
	for _, a := range claims.Aud {
		if IsGraphAudience(a) {
			return token.Token{}, &Error{Class: ClassMisconfigured,
				Message: fmt.Sprintf("the authority issued a Microsoft Graph token (aud %s), not one for your API: the scopes %s name no API", a, strings.Join(p.Scopes, " ")),
				Hint:    fmt.Sprintf("set `scopes` in profile %q to your API's scope, e.g. [\"api://<api-app>/.default\"] (the Application ID URI under the API's App registrations > Expose an API)", p.Name)}
		}
	}
	if len(claims.Aud) == 0 {
		return token.Token{}, &Error{Class: ClassMisconfigured, Message: "the access token has no audience (aud)",
			Hint: fmt.Sprintf("check `scopes` in profile %q", p.Name)}
	}
	tok := token.Token{
		Value:     token.Secret(raw),
		ExpiresOn: expiresOn,
		Account:   firstNonEmpty(claims.User, account),
		Tenant:    firstNonEmpty(claims.Tid, tenant),
		Audience:  claims.Aud[0],
	}
	if claims.Exp > 0 {
		exp := time.Unix(claims.Exp, 0)
		if tok.ExpiresOn.IsZero() || exp.Before(tok.ExpiresOn) {
			tok.ExpiresOn = exp
		}
	}
	if len(claims.Scp) > 0 {
		tok.Scopes = claims.Scp
	} else {
		tok.Scopes = granted
	}
	return tok, nil
}

func firstNonEmpty(s ...string) string {
	for _, v := range s {
		if v != "" {
			return v
		}
	}
	return ""
}
