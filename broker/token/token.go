// Package token defines the access token as it travels through the broker,
// with its secret part typed so that no log line, error or status output can
// print it by accident.
package token

import (
	"log/slog"
	"time"
)

// Secret is a bearer token. Its String, GoString and LogValue methods return
// "REDACTED"; only Reveal gives the value, so a secret reaches a file, a
// socket or stdout only where the code says Reveal.
type Secret string

// Redacted is what a Secret prints as.
const Redacted = "REDACTED"

// Reveal returns the secret itself.
func (s Secret) Reveal() string { return string(s) }

// String implements fmt.Stringer without revealing the secret.
func (s Secret) String() string { return Redacted }

// GoString implements fmt.GoStringer without revealing the secret.
func (s Secret) GoString() string { return Redacted }

// LogValue implements slog.LogValuer without revealing the secret.
func (s Secret) LogValue() slog.Value { return slog.StringValue(Redacted) }

// MarshalText keeps a secret out of JSON, TOML and other encodings that
// would otherwise write its value; code that must send one uses Reveal.
func (s Secret) MarshalText() ([]byte, error) { return []byte(Redacted), nil }

// Token is an access token for one profile and what the broker knows of it.
type Token struct {
	Value     Secret
	ExpiresOn time.Time
	// Account is the signed-in user's name (preferred_username / upn).
	Account string
	// Tenant is the tenant ID (tid) the token was issued in.
	Tenant string
	// Audience is the token's aud claim.
	Audience string
	// Scopes are the scopes the token was granted.
	Scopes []string
}

// ValidFor reports whether the token has at least d left at now.
func (t Token) ValidFor(now time.Time, d time.Duration) bool {
	return t.Value != "" && t.ExpiresOn.Sub(now) >= d
}
