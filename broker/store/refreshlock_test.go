package store_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
)

// TestRefreshLock: one holder per profile at a time, profiles apart, and a
// wait that ends with ctx says who holds the lock.
func TestRefreshLock(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	s := open(t, store.Options{Dir: dir, Storage: "file"})
	unlock, err := s.RefreshLock(t.Context(), "data")
	if err != nil {
		t.Fatal(err)
	}
	other, err := s.RefreshLock(t.Context(), "other")
	if err != nil {
		t.Fatalf("another profile's lock: %v", err)
	}
	other()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.RefreshLock(ctx, "data"); err == nil || !strings.Contains(err.Error(), "another broker process that is refreshing") {
		t.Fatalf("while held: %v", err)
	}
	unlock()
	again, err := s.RefreshLock(t.Context(), "data")
	if err != nil {
		t.Fatalf("after unlock: %v", err)
	}
	again()
}
