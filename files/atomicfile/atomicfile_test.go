//go:build unix

package atomicfile

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func upper(old []byte, _ bool) ([]byte, error) {
	return []byte(strings.ToUpper(string(old)) + "!"), nil
}

func TestNewFileIs0600InPrivateFolders(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "a", "b", "f.json")
	res, err := WriteFile(context.Background(), p, []byte("x"))
	if err != nil || !res.Changed {
		t.Fatalf("WriteFile = %+v, %v", res, err)
	}
	assertMode(t, p, 0o600)
	assertMode(t, filepath.Dir(p), 0o700|os.ModeDir)
	entries, _ := os.ReadDir(filepath.Dir(p))
	if len(entries) != 1 {
		t.Errorf("temporary files left: %v", entries)
	}
}

func TestModeKept(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(p, []byte("a"), 0o640); err != nil {
		t.Fatal(err)
	}
	os.Chmod(p, 0o640)
	if _, err := Update(context.Background(), p, upper); err != nil {
		t.Fatal(err)
	}
	assertMode(t, p, 0o640)
	if b, _ := os.ReadFile(p); string(b) != "A!" {
		t.Errorf("content = %q", b)
	}
}

func TestUnchangedIsNotWritten(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("same"), 0o600)
	old := time.Now().Add(-time.Hour)
	os.Chtimes(p, old, old)
	before, _ := os.Stat(p)
	res, err := WriteFile(context.Background(), p, []byte("same"))
	if err != nil || res.Changed {
		t.Fatalf("WriteFile = %+v, %v", res, err)
	}
	after, _ := os.Stat(p)
	if !after.ModTime().Equal(before.ModTime()) || !os.SameFile(before, after) {
		t.Error("the file was rewritten")
	}
}

func TestSymlinkWrittenThrough(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	real := filepath.Join(dir, "real", "settings.json")
	os.MkdirAll(filepath.Dir(real), 0o700)
	os.WriteFile(real, []byte("a"), 0o644)
	link := filepath.Join(dir, "link.json")
	if err := os.Symlink("real/settings.json", link); err != nil {
		t.Fatal(err)
	}
	res, err := Update(context.Background(), link, upper)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != real {
		t.Errorf("Path = %s, want %s", res.Path, real)
	}
	fi, _ := os.Lstat(link)
	if fi.Mode()&os.ModeSymlink == 0 {
		t.Error("the link was replaced by a file")
	}
	if b, _ := os.ReadFile(real); string(b) != "A!" {
		t.Errorf("target = %q", b)
	}
	assertMode(t, real, 0o644)
}

func TestRefusals(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	ro := filepath.Join(dir, "ro")
	os.WriteFile(ro, []byte("a"), 0o400)
	roDir := filepath.Join(dir, "rodir")
	os.Mkdir(roDir, 0o700)
	os.WriteFile(filepath.Join(roDir, "f"), []byte("a"), 0o600)
	os.Chmod(roDir, 0o500)
	t.Cleanup(func() { os.Chmod(roDir, 0o700) })
	for _, tc := range []struct{ path, want string }{
		{fifo, "not a regular file"},
		{dir, "not a regular file"},
		{ro, "is read-only"},
		{filepath.Join(roDir, "f"), "folder " + roDir + " is read-only"},
	} {
		_, err := Update(context.Background(), tc.path, upper)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Update(%s) = %v, want %q", tc.path, err, tc.want)
		}
	}
	if b, _ := os.ReadFile(ro); string(b) != "a" {
		t.Error("read-only file changed")
	}
}

// TestConcurrentChangeIsRedone simulates another program writing the file
// between our read and our rename: the edit must run again on its content.
func TestConcurrentChangeIsRedone(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a"), 0o600)
	calls := 0
	res, err := Update(context.Background(), p, func(old []byte, _ bool) ([]byte, error) {
		calls++
		if calls == 1 {
			// The other program writes after we read.
			if err := os.WriteFile(p, []byte("theirs"), 0o600); err != nil {
				return nil, err
			}
		}
		return append(append([]byte{}, old...), "+ours"...), nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if calls != 2 || string(res.Data) != "theirs+ours" {
		t.Fatalf("calls = %d, data = %q", calls, res.Data)
	}
	if b, _ := os.ReadFile(p); string(b) != "theirs+ours" {
		t.Errorf("file = %q", b)
	}
}

func TestConflictGivesUp(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a"), 0o600)
	n := 0
	_, err := Update(context.Background(), p, func(old []byte, _ bool) ([]byte, error) {
		n++
		os.WriteFile(p, []byte(strings.Repeat("x", n)), 0o600)
		return []byte("mine"), nil
	})
	if !errors.Is(err, ErrConflict) {
		t.Fatalf("err = %v, want ErrConflict", err)
	}
}

func assertMode(t *testing.T, p string, want os.FileMode) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	got := fi.Mode() & (os.ModePerm | os.ModeDir)
	if got != want {
		t.Errorf("%s mode = %v, want %v", p, got, want)
	}
}

func TestLockDir(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f")
	os.WriteFile(p, []byte("a"), 0o600)
	lock := p + ".lock"
	os.Mkdir(lock, 0o700)
	done := make(chan error)
	go func() {
		_, err := UpdateWith(context.Background(), p, upper, Options{LockDir: true})
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("wrote while the lock was held: %v", err)
	case <-time.After(200 * time.Millisecond):
	}
	os.Remove(lock)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(lock); !os.IsNotExist(err) {
		t.Error("lock left behind")
	}
	// A stale lock is broken.
	os.Mkdir(lock, 0o700)
	old := time.Now().Add(-time.Minute)
	os.Chtimes(lock, old, old)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if _, err := UpdateWith(ctx, p, upper, Options{LockDir: true}); err != nil {
		t.Fatal(err)
	}
}
