package entrasim

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1" //nolint:gosec // x5t is a SHA-1 thumbprint by definition (RFC 7517)
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// GraphAudience is the aud of Microsoft Graph tokens, which Entra issues
// when no API scope was asked for.
const GraphAudience = "00000003-0000-0000-c000-000000000000"

// TokenOpts describes an access token minted directly with
// IssueAccessToken. Zero fields take the simulator's defaults.
type TokenOpts struct {
	Audience string   // default TokenAudience()
	Scopes   []string // scp, default ["access_as_user"]
	Issuer   string   // default the issuer of the token's version
	Username string   // default Options.Username
	TenantID string   // default Options.TenantID
	// Lifetime from now; negative gives an expired token. Default: the
	// simulator's lifetime. ExpiresAt wins when set.
	Lifetime  time.Duration
	ExpiresAt time.Time
	NotBefore time.Time
	// BadSignature signs with a key the JWKS does not hold (same kid).
	BadSignature bool
	// Extra claims, set last (they override the others).
	Extra map[string]any
}

// thumbprint is the base64url SHA-1 of a DER certificate, Entra's kid/x5t.
func thumbprint(der []byte) string {
	sum := sha1.Sum(der) //nolint:gosec
	return base64.RawURLEncoding.EncodeToString(sum[:])
}

// newUUID returns a random RFC 4122 version 4 UUID.
func newUUID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// nameUUID derives a stable UUID-shaped id from a name, so the same user
// gets the same oid in every run.
func nameUUID(name string) string {
	b := sha256.Sum256([]byte("entrasim:" + strings.ToLower(name)))
	b[6] = b[6]&0x0f | 0x50
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

// randomToken returns n random bytes, base64url.
func randomToken(n int) string {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// sign makes an RS256 JWT with Entra's header (typ, alg, kid).
func (s *Server) sign(claims jwt.MapClaims, key *rsa.PrivateKey) string {
	t := jwt.NewWithClaims(jwt.SigningMethodRS256, claims)
	t.Header["kid"] = s.pki.kid
	out, err := t.SignedString(key)
	if err != nil {
		panic(fmt.Sprintf("entrasim: signing: %v", err)) // only fails on a broken key
	}
	return out
}

// issuer is the v2.0 issuer for the tenant.
func (s *Server) issuer() string { return s.url + "/" + s.opts.TenantID + "/v2.0" }

// v1Issuer is the issuer of v1.0 access tokens, the same in every cloud's
// public instance: Entra's security token service, not the authority.
func (s *Server) v1Issuer() string { return "https://sts.windows.net/" + s.opts.TenantID + "/" }

// displayName turns alice@contoso.com into "Alice".
func displayName(upn string) string {
	local, _, _ := strings.Cut(upn, "@")
	if local == "" {
		return upn
	}
	return strings.ToUpper(local[:1]) + local[1:]
}

// accessClaims are the claims of an Entra access token for the
// simulator's user: v1.0 for Microsoft Graph and for an API registered
// with requestedAccessTokenVersion 1, v2.0 otherwise. The two differ as in
// Entra: iss, ver, appid/azp, and the user's name claims.
func (s *Server) accessClaims(aud string, scp []string, now, exp time.Time) jwt.MapClaims {
	c := jwt.MapClaims{
		"aud":  aud,
		"iat":  now.Unix(),
		"nbf":  now.Unix(),
		"exp":  exp.Unix(),
		"aio":  randomToken(24),
		"name": displayName(s.opts.Username),
		"oid":  s.oid,
		"rh":   "1.A" + randomToken(18) + ".",
		"scp":  strings.Join(scp, " "),
		"sub":  nameUUID("sub:" + s.opts.Username + ":" + aud),
		"tid":  s.opts.TenantID,
		"uti":  randomToken(16),
	}
	s.issuedToken(c["uti"].(string))
	if aud == GraphAudience || s.opts.TokenVersion == 1 {
		c["iss"] = s.v1Issuer()
		c["ver"] = "1.0"
		c["appid"] = s.opts.ClientID
		c["appidacr"] = "0"
		c["amr"] = []string{"pwd"}
		c["upn"] = s.opts.Username
		c["unique_name"] = s.opts.Username
		return c
	}
	c["iss"] = s.issuer()
	c["ver"] = "2.0"
	c["azp"] = s.opts.ClientID
	c["azpacr"] = "0"
	c["preferred_username"] = s.opts.Username
	c["upn"] = s.opts.Username
	return c
}

// idToken mints the id_token MSAL reads the account from.
func (s *Server) idToken(now time.Time, nonce string) string {
	c := jwt.MapClaims{
		"aud":                s.opts.ClientID,
		"iss":                s.issuer(),
		"iat":                now.Unix(),
		"nbf":                now.Unix(),
		"exp":                now.Add(time.Hour).Unix(),
		"name":               displayName(s.opts.Username),
		"oid":                s.oid,
		"preferred_username": s.opts.Username,
		"rh":                 "1.A" + randomToken(18) + ".",
		"sub":                nameUUID("sub:" + s.opts.Username + ":" + s.opts.ClientID),
		"tid":                s.opts.TenantID,
		"uti":                randomToken(16),
		"ver":                "2.0",
	}
	if nonce != "" {
		c["nonce"] = nonce
	}
	return s.sign(c, s.pki.signKey)
}

// clientInfo is Entra's client_info: unpadded base64url of {"uid","utid"}.
func (s *Server) clientInfo() string {
	b, _ := json.Marshal(map[string]string{"uid": s.oid, "utid": s.opts.TenantID})
	return base64.RawURLEncoding.EncodeToString(b)
}

// IssueAccessToken mints an access token directly, without a request to
// the token endpoint: wrong audience, expired, bad signature, Graph... for
// tests of the consumers of tokens. It is safe for concurrent use.
func (s *Server) IssueAccessToken(o TokenOpts) string {
	now := time.Now()
	aud := o.Audience
	if aud == "" {
		aud = s.TokenAudience()
	}
	scp := o.Scopes
	if len(scp) == 0 {
		scp = []string{"access_as_user"}
	}
	exp := o.ExpiresAt
	if exp.IsZero() {
		d := o.Lifetime
		if d == 0 {
			d = s.nextLifetime()
		}
		exp = now.Add(d)
	}
	c := s.accessClaims(aud, scp, now, exp)
	if o.Issuer != "" {
		c["iss"] = o.Issuer
	}
	if o.Username != "" {
		c["upn"], c["name"] = o.Username, displayName(o.Username)
		if c["ver"] == "2.0" {
			c["preferred_username"] = o.Username
		} else {
			c["unique_name"] = o.Username
		}
		c["oid"] = nameUUID(o.Username)
	}
	if o.TenantID != "" {
		c["tid"] = o.TenantID
	}
	if !o.NotBefore.IsZero() {
		c["nbf"] = o.NotBefore.Unix()
	}
	if exp.Before(now) {
		c["iat"], c["nbf"] = exp.Add(-time.Hour).Unix(), exp.Add(-time.Hour).Unix()
	}
	for k, v := range o.Extra {
		c[k] = v
	}
	key := s.pki.signKey
	if o.BadSignature {
		key = s.otherKey()
	}
	return s.sign(c, key)
}

// otherKey is an RSA key the JWKS does not publish, made on first use.
func (s *Server) otherKey() *rsa.PrivateKey {
	s.otherKeyOnce.Do(func() {
		k, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			panic(err)
		}
		s.otherKeyVal = k
	})
	return s.otherKeyVal
}

// jwks is the JSON Web Key Set that publishes the signing key.
func (s *Server) jwks() map[string]any {
	pub := s.pki.signKey.PublicKey
	return map[string]any{"keys": []map[string]any{{
		"kty":    "RSA",
		"use":    "sig",
		"kid":    s.pki.kid,
		"x5t":    s.pki.kid,
		"n":      base64.RawURLEncoding.EncodeToString(pub.N.Bytes()),
		"e":      base64.RawURLEncoding.EncodeToString(big.NewInt(int64(pub.E)).Bytes()),
		"x5c":    []string{base64.StdEncoding.EncodeToString(s.pki.signCert)},
		"issuer": s.url + "/{tenantid}/v2.0",
	}}}
}

// tokenCheck is what the protected endpoint learned from a bearer token.
type tokenCheck struct {
	Audience string
	Username string
	Scopes   string
	Expires  time.Time
	Reason   string // empty when the token is valid
}

// checkToken validates a bearer token like APIM's validate-jwt policy:
// RS256 signature by the published key, issuer, audience, exp and nbf
// (no clock skew).
func (s *Server) checkToken(raw string) tokenCheck {
	var tc tokenCheck
	if unverified, _, err := jwt.NewParser().ParseUnverified(raw, jwt.MapClaims{}); err == nil {
		c := unverified.Claims.(jwt.MapClaims)
		tc.Audience, _ = c["aud"].(string)
		tc.Username, _ = c["preferred_username"].(string)
		if tc.Username == "" {
			tc.Username, _ = c["upn"].(string)
		}
		tc.Scopes, _ = c["scp"].(string)
		if exp, err := c.GetExpirationTime(); err == nil && exp != nil {
			tc.Expires = exp.Time
		}
	}
	_, err := jwt.Parse(raw, func(t *jwt.Token) (any, error) {
		if kid, _ := t.Header["kid"].(string); kid != s.pki.kid {
			return nil, errors.New("unknown signing key")
		}
		return &s.pki.signKey.PublicKey, nil
	},
		jwt.WithValidMethods([]string{"RS256"}),
		jwt.WithIssuer(s.TokenIssuer()),
		jwt.WithAudience(s.TokenAudience()),
		jwt.WithExpirationRequired(),
	)
	switch {
	case err == nil:
	case errors.Is(err, jwt.ErrTokenMalformed):
		tc.Reason = "malformed token"
	case errors.Is(err, jwt.ErrTokenSignatureInvalid), errors.Is(err, jwt.ErrTokenUnverifiable):
		tc.Reason = "invalid signature"
	case errors.Is(err, jwt.ErrTokenInvalidAudience):
		tc.Reason = "wrong audience"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		tc.Reason = "wrong issuer"
	case errors.Is(err, jwt.ErrTokenExpired):
		tc.Reason = "expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet):
		tc.Reason = "not yet valid"
	default:
		tc.Reason = "invalid token"
	}
	return tc
}
