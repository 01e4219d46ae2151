//go:build unix

package watch

import (
	"crypto/sha256"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// A target that became a link to /dev/zero (read to the end: out of
// memory) or a FIFO (blocks for ever) hashes at once, as a change.
func TestHashFileOfDevicesAndFIFOs(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.json")
	os.Symlink("/dev/zero", zero)
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	plain := filepath.Join(dir, "plain.json")
	os.WriteFile(plain, []byte("{}"), 0o600)
	if hashFile(plain) != sha256.Sum256([]byte("{}")) {
		t.Error("a regular file's hash is not its content's")
	}
	if hashFile(filepath.Join(dir, "missing")) != sha256.Sum256(nil) {
		t.Error("a missing file does not hash as empty")
	}
	for _, p := range []string{zero, fifo} {
		if h := hashFile(p); h == sha256.Sum256(nil) {
			t.Errorf("%s hashes as a missing file", p)
		}
	}
}
