package proxy_test

import (
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
)

// TestCredentialsAcrossProcesses: what `broker connect` (one instance)
// makes, revokes or makes again, the daemon (another) sees at once; the
// file is 0600 and a credential is 256 random bits.
func TestCredentialsAcrossProcesses(t *testing.T) {
	dir := t.TempDir()
	cli, daemon := proxy.NewCredentials(dir), proxy.NewCredentials(dir)
	id := proxy.ID(config.Target{Profile: "data", Client: "copilot", Server: "api"})
	if daemon.Match(id, "") || daemon.Known(id) {
		t.Fatal("an unknown target matches")
	}
	c1, err := cli.Ensure(id)
	if err != nil || len(c1) != 43 {
		t.Fatalf("Ensure = %q, %v; want 43 base64url characters (256 bits)", c1, err)
	}
	if again, _ := cli.Ensure(id); again != c1 {
		t.Fatal("Ensure made a second credential")
	}
	if !daemon.Match(id, c1) || daemon.Match(id, c1[:42]+"x") || daemon.Match(id, "") {
		t.Fatal("Match is wrong for the new credential")
	}
	if err := cli.Revoke(id); err != nil {
		t.Fatal(err)
	}
	if daemon.Match(id, c1) || daemon.Known(id) {
		t.Fatal("a revoked credential still matches")
	}
	c2, _ := cli.Ensure(id)
	if c2 == c1 || !daemon.Match(id, c2) || daemon.Match(id, c1) {
		t.Fatal("a new credential after a revocation")
	}
	fi, err := os.Stat(filepath.Join(dir, proxy.CredentialsFile))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("credentials file: %v %v", fi, err)
	}
}

// TestCredentialsConcurrentRevoke: targets removed at the same time (a
// logout scrubs them all at once) are all revoked; none comes back.
func TestCredentialsConcurrentRevoke(t *testing.T) {
	dir := t.TempDir()
	c := proxy.NewCredentials(dir)
	var ids []string
	for _, s := range []string{"a", "b", "c", "d", "e", "f"} {
		id := proxy.ID(config.Target{Profile: "data", Client: "copilot", Server: s})
		if _, err := c.Ensure(id); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	var wg sync.WaitGroup
	for _, id := range ids {
		wg.Add(1)
		go func() { defer wg.Done(); c.Revoke(id) }()
	}
	wg.Wait()
	other := proxy.NewCredentials(dir)
	for _, id := range ids {
		if other.Known(id) {
			t.Errorf("%s survived a concurrent revoke", id)
		}
	}
}
