//go:build unix

package localapi

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// When the usual socket folder is not safe (here a link someone planted
// in a shared XDG_RUNTIME_DIR), the daemon listens in a new private
// folder instead, and says where (for its record); nothing is created
// through the link.
func TestListenDefaultMovesOffAnUnsafeFolder(t *testing.T) {
	shared := shortDir(t)
	elsewhere := t.TempDir()
	if err := os.Symlink(elsewhere, filepath.Join(shared, "mcp-token-broker")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("XDG_RUNTIME_DIR", shared)
	l, addr, err := ListenDefault(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if strings.HasPrefix(addr, shared) {
		t.Errorf("listening at %s, in the unsafe folder", addr)
	}
	if ents, _ := os.ReadDir(elsewhere); len(ents) != 0 {
		t.Errorf("created %v through the link", ents)
	}
	fi, err := os.Lstat(filepath.Dir(addr))
	if err != nil || checkPrivate(filepath.Dir(addr), fi) != nil {
		t.Errorf("the new folder is not private: %v", err)
	}
	go NewServer(&fakeBackend{}, nil).Serve(t.Context(), l)
	c, err := DialAddress(t.Context(), addr)
	if err != nil {
		t.Fatalf("dial the new address: %v", err)
	}
	c.Close()
	l.Close()
	if _, err := os.Lstat(filepath.Dir(addr)); !os.IsNotExist(err) {
		t.Errorf("the folder made for the socket is left behind: %v", err)
	}
}
