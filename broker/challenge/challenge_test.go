package challenge

import (
	"encoding/base64"
	"testing"
)

func TestClaims(t *testing.T) {
	t.Parallel()
	want := `{"access_token":{"acrs":{"essential":true,"value":"c1"}}}`
	b64 := base64.StdEncoding.EncodeToString([]byte(want))
	for _, tc := range []struct {
		name   string
		header []string
		want   string
		ok     bool
	}{
		{"Entra's shape", []string{`Bearer realm="", authorization_uri="https://login.microsoftonline.com/common/oauth2/authorize", error="insufficient_claims", claims="` + b64 + `"`}, want, true},
		{"unpadded", []string{`Bearer error="insufficient_claims", claims="` + base64.RawStdEncoding.EncodeToString([]byte(want)) + `"`}, want, true},
		{"in a second header", []string{`Basic realm="x"`, `Bearer error="insufficient_claims", claims="` + b64 + `"`}, want, true},
		{"plain invalid_token", []string{`Bearer error="invalid_token", resource_metadata="https://x/.well-known/oauth-protected-resource"`}, "", false},
		{"claims that are not JSON", []string{`Bearer error="insufficient_claims", claims="bm90IGpzb24="`}, "", false},
		{"none", nil, "", false},
	} {
		got, ok := Claims(tc.header)
		if got != tc.want || ok != tc.ok {
			t.Errorf("%s: Claims = %q, %v; want %q, %v", tc.name, got, ok, tc.want, tc.ok)
		}
	}
}

func TestInsufficientScopeAndParams(t *testing.T) {
	t.Parallel()
	h := []string{`Bearer error="insufficient_scope", scope="api://data/Data.Write", error_description="the \"write\" scope is needed", resource_metadata="https://x/md"`}
	if s, ok := InsufficientScope(h); !ok || s != "api://data/Data.Write" {
		t.Errorf("InsufficientScope = %q, %v", s, ok)
	}
	if d := Description(h); d != `the "write" scope is needed` {
		t.Errorf("Description = %q", d)
	}
	if m := Param(h, "resource_metadata"); m != "https://x/md" {
		t.Errorf("resource_metadata = %q", m)
	}
	if _, ok := InsufficientScope([]string{`Bearer error="invalid_token"`}); ok {
		t.Error("insufficient_scope found in an invalid_token challenge")
	}
}
