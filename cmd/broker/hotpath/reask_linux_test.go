package hotpath_test

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/reask"
	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

// TestFirstAsk: the hot path (firstAsk) answers a server's ask from the daemon's
// memo only when the daemon (its reask.Shared Memo, this process) would
// judge it a first ask, and records it so that the daemon judges the
// next one as if it had answered this one itself.
func TestFirstAsk(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	pid := os.Getpid()
	start, _ := hotpath.ProcessStart(pid)
	m := reask.Shared(dir)
	key := reask.Key("p", "api", "https://apim/mcp")
	if key != hotpath.AskKey("p", "api", "https://apim/mcp") || reask.Window != hotpath.ReaskWindow {
		t.Fatal("reask's key or window is not the hot path's")
	}
	path := filepath.Join(dir, hotpath.AskFile(key))
	t0 := time.Unix(1_800_000_000, 0)
	steps := []struct {
		what  string
		at    time.Duration
		tok   string
		first bool // firstAsk
		again bool // what the daemon then judges
	}{
		{"the first ask ever: no record, the daemon's (it writes one)", 0, "t1", false, false},
		{"the second soon: the daemon's, a re-ask", 5 * time.Second, "t1", false, true},
		{"after the replacement", 7 * time.Second, "t2", false, false},
		{"another token meanwhile (refreshed)", 8 * time.Second, "t3", true, false},
		{"and again: replaced within the window, no loop", 9 * time.Second, "t3", false, false},
		{"a window later", 2 * time.Minute, "t3", true, false},
	}
	for _, s := range steps {
		now := t0.Add(s.at)
		if got := hotpath.FirstAsk(dir, key, pid, start, s.tok, now); got != s.first {
			t.Fatalf("%s: firstAsk = %v, want %v", s.what, got, s.first)
		}
		if s.first {
			continue // answered from the memo
		}
		if got := m.Ask(key, s.tok, now); got != s.again {
			t.Fatalf("%s: the daemon's Ask = %v, want %v", s.what, got, s.again)
		}
		if s.again {
			m.Given(key, "t2", now.Add(time.Second))
		}
	}
	b, _ := os.ReadFile(path)
	if p, st, at, sum, _, ok := hotpath.ParseAsk(b); !ok || p != pid || st != start || !at.Equal(t0.Add(2*time.Minute)) || sum != hotpath.Sum([]byte("t3")) {
		t.Fatalf("the record %q", b)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("the record is %v", fi.Mode())
	}
	now := t0.Add(2*time.Minute + time.Second)
	write := func(s string, mode os.FileMode) {
		t.Helper()
		os.Remove(path)
		if err := os.WriteFile(path, []byte(s), mode); err != nil {
			t.Fatal(err)
		}
	}
	// Another daemon's record is none: a first ask.
	write(hotpath.AskRecord(pid+1, start, now, hotpath.Sum([]byte("t3")), time.Time{}), 0o600)
	if !hotpath.FirstAsk(dir, key, pid, start, "t3", now) {
		t.Error("a record of another daemon kept the hot path from answering")
	}
	for _, tc := range []struct {
		what string
		prep func()
	}{
		{"a record not whole", func() { write(hotpath.AskRecord(pid, start, now, hotpath.Sum([]byte("t3")), time.Time{})[:40], 0o600) }},
		{"an empty record", func() { write("", 0o600) }},
		{"no record", func() { os.Remove(path) }},
		{"a record others can read", func() { write(hotpath.AskRecord(pid+1, start, now, hotpath.Sum([]byte("t3")), time.Time{}), 0o644) }},
		{"a link", func() { os.Remove(path); os.Symlink(filepath.Join(dir, "elsewhere"), path) }},
	} {
		tc.prep()
		if hotpath.FirstAsk(dir, key, pid, start, "t3", now.Add(time.Hour)) {
			t.Errorf("%s: firstAsk answered", tc.what)
		}
	}
	// Locked (the daemon judging an ask): the daemon's to judge.
	write(hotpath.AskRecord(pid+1, start, now, hotpath.Sum([]byte("t3")), time.Time{}), 0o600)
	fd, err := syscall.Open(path, syscall.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Flock(fd, syscall.LOCK_EX); err != nil {
		t.Fatal(err)
	}
	if hotpath.FirstAsk(dir, key, pid, start, "t3", now.Add(time.Hour)) {
		t.Error("firstAsk answered while the record was locked")
	}
}
