package localapi

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// scopeBackend is a fakeBackend that answers scope challenges.
type scopeBackend struct {
	fakeBackend
	profile, server string
	scopes          []string
	err             error
}

func (b *scopeBackend) ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.profile, b.server, b.scopes = profile, server, scopes
	if b.err != nil {
		return token.Token{}, b.err
	}
	return token.Token{Value: "eyJ.stepped.up", Account: "alice@contoso.com", Scopes: []string{"access_as_user", "Tools.Write"}}, nil
}

// TestScopeChallengeOverTheSocket: the scopes, the profile and the server
// reach the daemon; its token, or its error with its class and words,
// come back; a request that names no scope is refused.
func TestScopeChallengeOverTheSocket(t *testing.T) {
	t.Parallel()
	b := &scopeBackend{}
	c, err := DialAddress(t.Context(), serve(t, b))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx := t.Context()
	want := []string{"api://mcp-demo-api/Tools.Write", "api://mcp-demo-api/Tools.Admin"}
	tok, err := c.ScopeChallenge(ctx, "data", "wiki", want)
	if err != nil || tok.Value.Reveal() != "eyJ.stepped.up" || strings.Join(tok.Scopes, " ") != "access_as_user Tools.Write" {
		t.Fatalf("ScopeChallenge = %+v, %v", tok, err)
	}
	if b.profile != "data" || b.server != "wiki" || strings.Join(b.scopes, " ") != strings.Join(want, " ") {
		t.Errorf("the daemon got %q %q %v", b.profile, b.server, b.scopes)
	}
	b.mu.Lock()
	b.err = &auth.Error{Class: auth.ClassSignInRequired, Message: "wiki needs scope api://mcp-demo-api/Tools.Write", Hint: "run `broker login --profile data`"}
	b.mu.Unlock()
	_, err = c.ScopeChallenge(ctx, "data", "wiki", want[:1])
	var h interface{ HintText() string }
	if auth.ClassOf(err) != auth.ClassSignInRequired || err.Error() != "wiki needs scope api://mcp-demo-api/Tools.Write" ||
		!errors.As(err, &h) || h.HintText() != "run `broker login --profile data`" {
		t.Errorf("a challenge that needs the user: %#v", err)
	}
	if _, err := c.ScopeChallenge(ctx, "data", "wiki", nil); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Errorf("a challenge without scopes: %v", err)
	}
}
