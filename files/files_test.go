//go:build unix

package files

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// A FIFO nobody writes and a link to /dev/zero: both are refused at once
// (before, the FIFO blocked forever and /dev/zero ran out of memory).
func TestReadRegularRefusesFIFOAndDevices(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	zero := filepath.Join(dir, "zero.json")
	if err := os.Symlink("/dev/zero", zero); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{fifo, zero, dir} {
		_, err := ReadRegular(p, MaxClientFile)
		if !errors.Is(err, ErrNotRegular) || !strings.Contains(err.Error(), p) {
			t.Errorf("ReadRegular(%s) = %v, want ErrNotRegular naming the file", p, err)
		}
	}
	if _, err := ReadRegular(filepath.Join(dir, "missing"), 10); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
}

func TestReadRegularCap(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("0123456789"), 0o600)
	if b, err := ReadRegular(p, 10); err != nil || string(b) != "0123456789" {
		t.Fatalf("at the cap: %q, %v", b, err)
	}
	if _, err := ReadRegular(p, 9); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the cap: %v", err)
	}
}

func TestResolve(t *testing.T) {
	t.Parallel()
	dir, _ := filepath.EvalSymlinks(t.TempDir())
	dots := filepath.Join(dir, "dotfiles", "Code", "User")
	os.MkdirAll(dots, 0o700)
	os.MkdirAll(filepath.Join(dir, "home", ".config"), 0o700)
	// A symlinked folder: ~/.config/Code -> dotfiles/Code.
	os.Symlink(filepath.Join(dir, "dotfiles", "Code"), filepath.Join(dir, "home", ".config", "Code"))
	// A dangling link to a file that will be created.
	os.Symlink("../dotfiles/copilot.json", filepath.Join(dir, "home", "mcp-config.json"))
	for in, want := range map[string]string{
		filepath.Join(dir, "home", ".config", "Code", "User", "mcp.json"):      filepath.Join(dots, "mcp.json"),
		filepath.Join(dir, "home", ".config", "Code", "User", "new", "x.json"): filepath.Join(dots, "new", "x.json"),
		filepath.Join(dir, "home", "mcp-config.json"):                          filepath.Join(dir, "dotfiles", "copilot.json"),
		filepath.Join(dir, "home", "plain.json"):                               filepath.Join(dir, "home", "plain.json"),
	} {
		got, err := Resolve(in)
		if err != nil || got != want {
			t.Errorf("Resolve(%s) = %s, %v; want %s", in, got, err, want)
		}
	}
}
