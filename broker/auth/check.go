package auth

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"

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

// accessClaims are the claims the broker reads from an access token. It
// decodes them without verifying the signature: the API verifies; the
// broker only checks that the token is meant for it.
type accessClaims struct {
	Aud               audience `json:"aud"`
	Tid               string   `json:"tid"`
	PreferredUsername string   `json:"preferred_username"`
	Upn               string   `json:"upn"`
	UniqueName        string   `json:"unique_name"`
	Scp               string   `json:"scp"`
	Exp               int64    `json:"exp"`
}

// audience is aud: a string or an array of strings.
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err == nil {
		*a = audience{s}
		return nil
	}
	var l []string
	if err := json.Unmarshal(b, &l); err != nil {
		return err
	}
	*a = l
	return nil
}

// decodeClaims decodes a JWT's payload without verifying it.
func decodeClaims(jwt string) (accessClaims, error) {
	var c accessClaims
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return c, fmt.Errorf("not a JWT (%d parts)", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return c, fmt.Errorf("decoding the JWT payload: %w", err)
	}
	if err := json.Unmarshal(raw, &c); err != nil {
		return c, fmt.Errorf("decoding the JWT claims: %w", err)
	}
	return c, nil
}

// IsGraphAudience reports whether aud is Microsoft Graph (or Azure AD Graph).
func IsGraphAudience(aud string) bool {
	return graphAudiences[strings.TrimRight(strings.ToLower(aud), "/")]
}

// check decodes the access token of res, rejects tokens that are not for
// the profile's API, and fills a token.Token.
func (c *Client) check(res public.AuthResult) (token.Token, error) {
	if res.AccessToken == "" {
		return token.Token{}, &Error{Class: ClassUnknown, Message: "the authority returned no access token"}
	}
	claims, err := decodeClaims(res.AccessToken)
	if err != nil {
		return token.Token{}, &Error{Class: ClassMisconfigured,
			Message: "the access token cannot be read: " + err.Error() + "; an API cannot validate it",
			Hint:    fmt.Sprintf("check `scopes` in profile %q: they must name your API, e.g. api://<api-app>/.default", c.profile.Name), Err: err}
	}
	for _, a := range claims.Aud {
		if IsGraphAudience(a) {
			return token.Token{}, &Error{Class: ClassMisconfigured,
				Message: fmt.Sprintf("the authority issued a Microsoft Graph token (aud %s), not one for your API: the scopes %s name no API", a, strings.Join(c.profile.Scopes, " ")),
				Hint:    fmt.Sprintf("set `scopes` in profile %q to your API's scope, e.g. [\"api://<api-app>/.default\"] (the Application ID URI under the API's App registrations > Expose an API)", c.profile.Name)}
		}
	}
	if len(claims.Aud) == 0 {
		return token.Token{}, &Error{Class: ClassMisconfigured, Message: "the access token has no audience (aud)",
			Hint: fmt.Sprintf("check `scopes` in profile %q", c.profile.Name)}
	}
	tok := token.Token{
		Value:     token.Secret(res.AccessToken),
		ExpiresOn: res.ExpiresOn,
		Account:   firstNonEmpty(claims.PreferredUsername, claims.Upn, claims.UniqueName, res.Account.PreferredUsername),
		Tenant:    firstNonEmpty(claims.Tid, res.Account.Realm),
		Audience:  claims.Aud[0],
	}
	if claims.Exp > 0 {
		exp := time.Unix(claims.Exp, 0)
		if tok.ExpiresOn.IsZero() || exp.Before(tok.ExpiresOn) {
			tok.ExpiresOn = exp
		}
	}
	if claims.Scp != "" {
		tok.Scopes = strings.Fields(claims.Scp)
	} else {
		tok.Scopes = res.GrantedScopes
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
