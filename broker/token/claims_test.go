package token

import (
	"encoding/base64"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func jwtWith(payload string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(`{"alg":"RS256","typ":"JWT"}`)) + "." + enc([]byte(payload)) + ".c2ln"
}

func TestParseClaims(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, payload string
		want          Claims
	}{
		{"v2", `{"ver":"2.0","iss":"https://login.microsoftonline.com/t/v2.0","aud":"3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68","scp":"access_as_user Data.Read","tid":"t","azp":"c","preferred_username":"alice@contoso.com","upn":"alice@contoso.com","exp":100}`,
			Claims{Ver: "2.0", Iss: "https://login.microsoftonline.com/t/v2.0", Aud: []string{"3c9a1f6e-8b2d-4e7a-a5c4-7d1e9b0f2a68"},
				Scp: []string{"access_as_user", "Data.Read"}, Tid: "t", AppID: "c", User: "alice@contoso.com", Exp: 100}},
		{"v1", `{"ver":"1.0","iss":"https://sts.windows.net/t/","aud":"api://data","scp":"access_as_user","tid":"t","appid":"c","unique_name":"alice@contoso.com","acrs":["c1"]}`,
			Claims{Ver: "1.0", Iss: "https://sts.windows.net/t/", Aud: []string{"api://data"}, Scp: []string{"access_as_user"}, Tid: "t",
				AppID: "c", User: "alice@contoso.com", Acrs: []string{"c1"}}},
		{"app roles and an aud array", `{"ver":"2.0","aud":["a","b"],"roles":["Data.ReadAll"]}`,
			Claims{Ver: "2.0", Aud: []string{"a", "b"}, Roles: []string{"Data.ReadAll"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseClaims(jwtWith(tc.payload))
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tc.want, got); d != "" {
				t.Errorf("claims (-want +got):\n%s", d)
			}
			if got.V2() != (tc.want.Ver == "2.0") {
				t.Errorf("V2() = %v for ver %s", got.V2(), got.Ver)
			}
		})
	}
	for _, bad := range []string{"", "a.b", "a.!!.c", jwtWith(`[1]`)} {
		if _, err := ParseClaims(bad); err == nil {
			t.Errorf("ParseClaims(%q) gave no error", bad)
		}
	}
}
