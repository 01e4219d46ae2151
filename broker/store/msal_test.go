package store_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/public"
	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

func newClient(t *testing.T, sim *entrasim.Server, s *store.Store, profile string) public.Client {
	t.Helper()
	pca, err := public.New(sim.ClientID(),
		public.WithAuthority(sim.Authority()),
		public.WithHTTPClient(sim.HTTPClient()),
		public.WithInstanceDiscovery(false),
		public.WithCache(s.Cache(profile)))
	if err != nil {
		t.Fatalf("public.New: %v", err)
	}
	return pca
}

func signIn(ctx context.Context, t *testing.T, sim *entrasim.Server, pca public.Client) public.AuthResult {
	t.Helper()
	browsed := make(chan error, 1)
	res, err := pca.AcquireTokenInteractive(ctx, []string{sim.Scope()}, public.WithOpenURL(func(u string) error {
		go func() { browsed <- entrasim.Browse(ctx, sim.HTTPClient(), u) }()
		return nil
	}))
	if err != nil {
		t.Fatalf("sign-in: %v", err)
	}
	if err := <-browsed; err != nil {
		t.Fatalf("browser: %v", err)
	}
	return res
}

// TestRealMSAL drives the real MSAL Go public client against the simulator
// with the store as its persistent cache, in keyring mode with a real
// gnome-keyring.
func TestRealMSAL(t *testing.T) {
	withKeyring(t)
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	dir := t.TempDir()
	scopes := []string{sim.Scope()}

	s1 := open(t, store.Options{Dir: dir, Storage: "keyring"})
	work1 := newClient(t, sim, s1, "work")
	res := signIn(ctx, t, sim, work1)
	signIn(ctx, t, sim, newClient(t, sim, s1, "home"))

	// "A second process": a new Store and a new MSAL client see the sign-in
	// and answer from the cache without a request to the authority.
	s2 := open(t, store.Options{Dir: dir, Storage: "keyring"})
	work2 := newClient(t, sim, s2, "work")
	accounts, err := work2.Accounts(ctx)
	if err != nil || len(accounts) != 1 || accounts[0].HomeAccountID != res.Account.HomeAccountID {
		t.Fatalf("second process accounts = %+v, %v; want the signed-in account", accounts, err)
	}
	before := sim.TokenRequests()
	again, err := work2.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(accounts[0]))
	if err != nil {
		t.Fatalf("silent in the second process: %v", err)
	}
	if again.AccessToken != res.AccessToken || sim.TokenRequests() != before {
		t.Errorf("second process did not answer from the persistent cache (%d token requests)", sim.TokenRequests()-before)
	}
	raw, _ := os.ReadFile(filepath.Join(dir, store.SealedFile))
	if bytes.Contains(raw, []byte(res.AccessToken)) || bytes.Contains(raw, []byte(res.Account.PreferredUsername)) {
		t.Errorf("the encrypted cache file holds the token or the account in clear")
	}

	// Logout in the second process: the profile has no data left, and the
	// first process (which still holds the tokens in memory) sees it too.
	if err := work2.RemoveAccount(ctx, accounts[0]); err != nil {
		t.Fatalf("RemoveAccount: %v", err)
	}
	got, err := s1.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"home"}, got); diff != "" {
		t.Errorf("Profiles after logout (-want +got):\n%s", diff)
	}
	_, err = work1.AcquireTokenSilent(ctx, scopes, public.WithSilentAccount(res.Account))
	if err == nil || !strings.Contains(err.Error(), "no token found") {
		t.Errorf("first process after logout elsewhere: silent = %v, want no token found", err)
	}
	if accounts, _ := work1.Accounts(ctx); len(accounts) != 0 {
		t.Errorf("first process still lists %d accounts after logout elsewhere", len(accounts))
	}
}
