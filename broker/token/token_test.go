package token

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"
)

const raw = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly94In0.c2lnbmF0dXJl"

// Every ordinary way of printing a Secret, or a Token holding one, hides it.
func TestSecretNeverPrints(t *testing.T) {
	t.Parallel()
	s := Secret(raw)
	tok := Token{Value: s, ExpiresOn: time.Unix(1700000000, 0), Account: "alice@contoso.com"}
	var logged bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logged, nil))
	log.Info("token", "secret", s, "token", tok)
	slog.New(slog.NewTextHandler(&logged, nil)).Info("token", "secret", s)
	j, err := json.Marshal(tok)
	if err != nil {
		t.Fatal(err)
	}
	outs := map[string]string{
		"%s":   fmt.Sprintf("%s", s),
		"%v":   fmt.Sprintf("%v", s),
		"%q":   fmt.Sprintf("%q", s),
		"%#v":  fmt.Sprintf("%#v", s),
		"%+v":  fmt.Sprintf("%+v", tok),
		"%#v2": fmt.Sprintf("%#v", tok),
		"err":  fmt.Errorf("refresh failed for %v", s).Error(),
		"wrap": errors.Join(fmt.Errorf("%s", s)).Error(),
		"slog": logged.String(),
		"json": string(j),
	}
	for how, out := range outs {
		if strings.Contains(out, raw) || strings.Contains(out, "eyJ") {
			t.Errorf("%s reveals the token: %s", how, out)
		}
		if !strings.Contains(out, Redacted) {
			t.Errorf("%s does not say %s: %s", how, Redacted, out)
		}
	}
	if s.Reveal() != raw {
		t.Error("Reveal does not give the token")
	}
}

func TestValidFor(t *testing.T) {
	t.Parallel()
	now := time.Unix(1700000000, 0)
	tok := Token{Value: "x", ExpiresOn: now.Add(5 * time.Minute)}
	if !tok.ValidFor(now, 5*time.Minute) {
		t.Error("exactly 5 min left is valid for 5 min")
	}
	if tok.ValidFor(now.Add(time.Second), 5*time.Minute) {
		t.Error("4m59s left is not valid for 5 min")
	}
	if (Token{ExpiresOn: now.Add(time.Hour)}).ValidFor(now, 0) {
		t.Error("an empty token is never valid")
	}
}
