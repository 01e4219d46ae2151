//go:build unix

package installer

import (
	"os"
	"path/filepath"
	"testing"
)

// A unit or desktop file that is a link into a dotfiles repository is
// written through and stays a link (the installer's own writer replaced
// the link with a file); the mode is the one asked for.
func TestWriteFileThroughLink(t *testing.T) {
	dir := t.TempDir()
	real := filepath.Join(dir, "dotfiles", "broker.service")
	os.MkdirAll(filepath.Dir(real), 0o700)
	os.WriteFile(real, []byte("old"), 0o600)
	link := filepath.Join(dir, "units", "broker.service")
	os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	changed, err := writeFile(link, []byte("new"), 0o644)
	if err != nil || !changed {
		t.Fatalf("writeFile = %v, %v", changed, err)
	}
	if fi, _ := os.Lstat(link); fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	fi, _ := os.Stat(real)
	if b, _ := os.ReadFile(real); string(b) != "new" || fi.Mode().Perm() != 0o644 {
		t.Errorf("target = %q, mode %o", b, fi.Mode().Perm())
	}
	if changed, err := writeFile(link, []byte("new"), 0o644); err != nil || changed {
		t.Errorf("same content again: changed %v, %v", changed, err)
	}
}
