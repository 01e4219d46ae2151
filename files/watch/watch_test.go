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
	later := filepath.Join(dir, "later", "token.env")
	changes := make(chan string, 10)
	w, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	w.Set(map[string][]func(){
		target: {func() { changes <- target }},
		later:  {func() { changes <- later }},
	})
	w.Remember(target, []byte("a"))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { w.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	expect := func(what, want string) {
		t.Helper()
		select {
		case p := <-changes:
			if want == "" {
				t.Fatalf("%s: unexpected change of %s", what, p)
			}
			if p != want {
				t.Fatalf("%s: change of %s, want %s", what, p, want)
			}
		case <-time.After(4 * Debounce):
			if want != "" {
				t.Fatalf("%s: no change seen", what)
			}
		}
	}

	// Another file in the folder is not ours.
	os.WriteFile(filepath.Join(dir, "other.json"), []byte("x"), 0o600)
	expect("other file", "")

	// A client replaces the file by rename, in several quick steps: one call.
	for i := 0; i < 3; i++ {
		tmp := filepath.Join(dir, ".mcp.json.tmp")
		os.WriteFile(tmp, []byte{'b', byte('0' + i)}, 0o600)
		os.Rename(tmp, target)
	}
	expect("rename", target)
	expect("debounced", "")

	// The broker's own write is remembered and ignored.
	w.Remember(target, []byte("ours"))
	os.WriteFile(target, []byte("ours"), 0o600)
	expect("own write", "")

	// Same content written again: no change.
	os.WriteFile(target, []byte("ours"), 0o600)
	expect("same content", "")

	// Removed: a change.
	os.Remove(target)
	expect("removed", target)

	// A folder that appears later is watched after Retry.
	os.MkdirAll(filepath.Dir(later), 0o700)
	w.Retry()
	os.WriteFile(later, []byte("x"), 0o600)
	expect("folder created later", later)

	// Set drops what is no longer wanted.
	w.Set(map[string][]func(){later: {func() { changes <- later }}})
	os.WriteFile(target, []byte("new"), 0o600)
	expect("dropped file", "")
}
