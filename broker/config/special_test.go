//go:build unix

package config

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A config.toml, or an admin file, that is a FIFO or a link to /dev/zero
// is an error at once (it blocked for ever, or ran out of memory).
func TestLoadRefusesFIFOAndDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "config.toml")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "admin.toml")
	os.Symlink("/dev/zero", zero)
	for _, tc := range [][2]string{{"", fifo}, {zero, ""}} {
		_, err := Load(tc[0], tc[1])
		ce, ok := err.(*Error)
		if !ok || !strings.Contains(err.Error(), "not a regular file") || ce.Hint == "" {
			t.Errorf("Load(%q, %q) = %v, want a not-a-regular-file error with a hint", tc[0], tc[1], err)
		}
	}
}
