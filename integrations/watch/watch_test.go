package watch

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func TestWatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	target := filepath.Join(dir, "mcp.json")
	os.WriteFile(target, []byte("a"), 0o600)
	changes := make(chan string, 10)
	w := New([]string{target}, func(_ context.Context, p string) { changes <- p }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- w.Run(ctx) }()
	defer func() { cancel(); <-done }()
	time.Sleep(100 * time.Millisecond) // let Run add the folder

	expect := func(what string, want bool) {
		t.Helper()
		select {
		case p := <-changes:
			if !want {
				t.Fatalf("%s: unexpected change of %s", what, p)
			}
			if p != target {
				t.Fatalf("%s: change of %s, want %s", what, p, target)
			}
		case <-time.After(3 * Debounce):
			if want {
				t.Fatalf("%s: no change seen", what)
			}
		}
	}

	// Another file in the folder is not ours.
	os.WriteFile(filepath.Join(dir, "other.json"), []byte("x"), 0o600)
	expect("other file", false)

	// A client replaces the file by rename, in several quick steps: one call.
	for i := 0; i < 3; i++ {
		tmp := filepath.Join(dir, ".mcp.json.tmp")
		os.WriteFile(tmp, []byte{'b', byte('0' + i)}, 0o600)
		os.Rename(tmp, target)
	}
	expect("rename", true)
	expect("debounced", false)

	// The broker's own write is remembered and ignored.
	w.Remember(target, []byte("ours"))
	os.WriteFile(target, []byte("ours"), 0o600)
	expect("own write", false)

	// Same content written again: no change.
	os.WriteFile(target, []byte("ours"), 0o600)
	expect("same content", false)

	// Removed: a change.
	os.Remove(target)
	expect("removed", true)
}
