//go:build linux

package desktoptest_test

import (
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
	"github.com/zalando/go-keyring"
)

// TestKeyringStoresSecrets starts a private bus and keyring and checks that
// go-keyring (what the broker uses) can store, read and delete a secret in it
// without any prompt.
func TestKeyringStoresSecrets(t *testing.T) {
	addr := desktoptest.SessionBus(t)
	desktoptest.Keyring(t, addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	t.Setenv("DISPLAY", "")

	if _, err := keyring.Get("desktoptest", "u"); err != keyring.ErrNotFound {
		t.Fatalf("Get on a fresh keyring = %v, want ErrNotFound", err)
	}
	if err := keyring.Set("desktoptest", "u", "s3cret"); err != nil {
		t.Fatalf("Set: %v", err)
	}
	got, err := keyring.Get("desktoptest", "u")
	if err != nil || got != "s3cret" {
		t.Fatalf("Get = %q, %v; want s3cret", got, err)
	}
	if err := keyring.Delete("desktoptest", "u"); err != nil {
		t.Fatalf("Delete: %v", err)
	}
}
