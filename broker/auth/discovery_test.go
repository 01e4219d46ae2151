package auth

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

type memCache struct{ data []byte }

func (m *memCache) Replace(_ context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	if len(m.data) == 0 {
		return nil
	}
	return u.Unmarshal(m.data)
}

func (m *memCache) Export(_ context.Context, c cache.Marshaler, _ cache.ExportHints) error {
	b, err := c.Marshal()
	m.data = b
	return err
}

// countingTransport counts every request; those to other hosts than the
// simulator (instance discovery at login.microsoftonline.com) fail at once.
type countingTransport struct {
	base http.RoundTripper
	host string
	n    atomic.Int32
}

func (c *countingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	c.n.Add(1)
	if r.URL.Host != c.host {
		return nil, errors.New("no internet in tests")
	}
	return c.base.RoundTrip(r)
}

// TestCachedTokenNeedsNoInstanceDiscovery: with instance discovery on (as
// for Microsoft's hosts), a valid cached token is still served without a
// single request.
func TestCachedTokenNeedsNoInstanceDiscovery(t *testing.T) {
	t.Parallel()
	s, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p := &config.Profile{Name: "p", Tenant: s.TenantID(), ClientID: s.ClientID(), Scopes: []string{s.Scope()}, Authority: s.URL()}
	mc := &memCache{}
	first, err := New(p, Options{HTTPClient: s.HTTPClient(), Cache: mc,
		OpenURL: func(u string) error { return entrasim.Browse(ctx, s.HTTPClient(), u) }})
	if err != nil {
		t.Fatal(err)
	}
	want, err := first.Login(ctx, false)
	if err != nil {
		t.Fatalf("Login: %v", err)
	}

	sim := s.HTTPClient()
	ct := &countingTransport{base: sim.Transport, host: s.URL()[len("https://"):]}
	discoveryOn := func(string) bool { return true }
	c, err := newPublic(p, Options{HTTPClient: &http.Client{Transport: ct}, Cache: mc}, discoveryOn)
	if err != nil {
		t.Fatal(err)
	}
	if c.cachedPCA == nil {
		t.Fatal("no cache-only client with instance discovery on")
	}
	got, err := c.token(ctx, 5*time.Minute)
	if err != nil {
		t.Fatalf("Token: %v", err)
	}
	if got.Value.Reveal() != want.Value.Reveal() || ct.n.Load() != 0 {
		t.Errorf("Token: same token %v, %d requests; want the cached token and none", got.Value.Reveal() == want.Value.Reveal(), ct.n.Load())
	}

	// Without the cache-only client MSAL asks for instance metadata first:
	// the test above is meaningful.
	c.cachedPCA = nil
	if _, err := c.token(ctx, 5*time.Minute); err != nil {
		t.Fatalf("Token through MSAL's discovery: %v", err)
	}
	if ct.n.Load() == 0 {
		t.Errorf("MSAL made no instance discovery request")
	}
}
