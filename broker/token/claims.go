package token

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
)

// Claims are the claims of an Entra access token that the broker reads.
// They are decoded without verifying the signature: the API verifies; the
// broker only explains what it holds (doctor) and checks that the token is
// meant for the API.
type Claims struct {
	// Ver is "1.0" or "2.0": the API's registration chooses
	// (requestedAccessTokenVersion), not the client.
	Ver string
	// Iss is https://sts.windows.net/{tid}/ (v1) or
	// https://login.microsoftonline.com/{tid}/v2.0 (v2).
	Iss string
	// Aud is the Application ID URI (v1) or the API's application ID
	// GUID (v2).
	Aud []string
	// Scp are the delegated scopes; Roles the application roles.
	Scp   []string
	Roles []string
	Tid   string
	// AppID is the client the token was issued to (appid in v1, azp in v2).
	AppID string
	// User is preferred_username, upn or unique_name, the first present.
	User string
	// Acrs are the authentication contexts satisfied (Conditional Access).
	Acrs []string
	// Caps are the client capabilities the token was issued to (xms_cc:
	// cp1 for a client that handles claims challenges).
	Caps []string
	Exp  int64
}

// V2 reports whether the token is an Entra v2.0 token.
func (c Claims) V2() bool { return c.Ver == "2.0" }

// ParseClaims decodes a JWT's payload without verifying it.
func ParseClaims(jwt string) (Claims, error) {
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		return Claims{}, fmt.Errorf("not a JWT (%d parts)", len(parts))
	}
	raw, err := base64.RawURLEncoding.DecodeString(strings.TrimRight(parts[1], "="))
	if err != nil {
		return Claims{}, fmt.Errorf("decoding the JWT payload: %w", err)
	}
	var w struct {
		Ver               string      `json:"ver"`
		Iss               string      `json:"iss"`
		Aud               stringOrSet `json:"aud"`
		Scp               string      `json:"scp"`
		Roles             []string    `json:"roles"`
		Tid               string      `json:"tid"`
		AppID             string      `json:"appid"`
		Azp               string      `json:"azp"`
		PreferredUsername string      `json:"preferred_username"`
		Upn               string      `json:"upn"`
		UniqueName        string      `json:"unique_name"`
		Acrs              stringOrSet `json:"acrs"`
		XMSCC             stringOrSet `json:"xms_cc"`
		Exp               int64       `json:"exp"`
	}
	if err := json.Unmarshal(raw, &w); err != nil {
		return Claims{}, fmt.Errorf("decoding the JWT claims: %w", err)
	}
	c := Claims{Ver: w.Ver, Iss: w.Iss, Aud: w.Aud, Roles: w.Roles, Tid: w.Tid, AppID: w.AppID, Acrs: w.Acrs, Caps: w.XMSCC, Exp: w.Exp}
	if w.Scp != "" {
		c.Scp = strings.Fields(w.Scp)
	}
	if c.AppID == "" {
		c.AppID = w.Azp
	}
	for _, u := range []string{w.PreferredUsername, w.Upn, w.UniqueName} {
		if u != "" {
			c.User = u
			break
		}
	}
	return c, nil
}

// stringOrSet is a claim that is a string or an array of strings.
type stringOrSet []string

func (s *stringOrSet) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*s = stringOrSet{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return err
	}
	*s = many
	return nil
}
