package reask

import (
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

func TestAsk(t *testing.T) {
	t.Parallel()
	shared := t.TempDir()
	for _, m := range []*Memo{New(), InDir(t.TempDir()), Shared(shared)} {
		t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
		k := Key("data", "api", "https://apim/mcp")
		steps := []struct {
			name  string
			at    time.Duration
			key   string
			tok   string
			again bool
		}{
			{"first connect", 0, k, "t1", false},
			{"another server, same token", time.Second, Key("data", "other", ""), "t1", false},
			{"the same server again soon, same token: refused", 5 * time.Second, k, "t1", true},
			{"refused again right after the replacement: no loop", 10 * time.Second, k, "t2", false},
			{"and again with the same token within the window", 20 * time.Second, k, "t2", false},
			{"a window after the replacement it may be replaced again", 66 * time.Second, k, "t2", true},
			{"an ask long after is a new connect", 10 * time.Minute, k, "t3", false},
			{"a new connect a window later", 10*time.Minute + Window, k, "t3", false},
		}
		for _, s := range steps {
			if got := m.Ask(s.key, s.tok, t0.Add(s.at)); got != s.again {
				t.Errorf("%s (dir %q): Ask = %v, want %v", s.name, m.dir, got, s.again)
			}
			if s.again {
				m.Given(s.key, "t2", t0.Add(s.at))
			}
		}
		if m.dir != "" {
			es, _ := os.ReadDir(m.dir)
			for _, e := range es {
				b, _ := os.ReadFile(m.dir + "/" + e.Name())
				for _, tok := range []string{"t1", "t2", "t3"} {
					if strings.Contains(string(b), tok) || len(b) == 0 {
						t.Errorf("%s holds %q", e.Name(), b)
					}
				}
			}
		}
	}
}

// TestSharedRecords: the daemon's Memo keeps each server's entry in its
// ask record, which the hot path reads (hotpath.ParseAsk, of this
// process), and goes by an ask the hot path recorded there since, not by
// a record of another daemon.
func TestSharedRecords(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the hot path answers from the daemon's memo on Linux only")
	}
	t.Parallel()
	dir := t.TempDir()
	m := Shared(dir)
	start, _ := hotpath.ProcessStart(os.Getpid())
	t0 := time.Date(2026, 12, 1, 9, 0, 0, 0, time.UTC)
	k := Key("data", "api", "https://apim/mcp")
	path := filepath.Join(dir, hotpath.AskFile(k))
	if m.Ask(k, "t1", t0) {
		t.Fatal("the first ask is a re-ask")
	}
	b, err := os.ReadFile(path)
	pid, st, at, sum, forced, ok := hotpath.ParseAsk(b)
	if err != nil || !ok || pid != os.Getpid() || st != start || !at.Equal(t0) || sum != hotpath.Sum([]byte("t1")) || !forced.IsZero() {
		t.Fatalf("the record after the first ask: %q, %v", b, err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o600 {
		t.Errorf("the record is %v", fi.Mode())
	}
	// The hot path answered the first ask of another server from the
	// memo, at t0+1m: its second ask soon is a re-ask.
	k2 := Key("data", "other", "")
	write := func(key string, pid int, at time.Time, tok string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, hotpath.AskFile(key)), []byte(hotpath.AskRecord(pid, start, at, hotpath.Sum([]byte(tok)), time.Time{})), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(k2, os.Getpid(), t0.Add(time.Minute), "t1")
	if !m.Ask(k2, "t1", t0.Add(time.Minute+5*time.Second)) {
		t.Error("the second ask after the hot path's first is no re-ask")
	}
	// Recorded by another daemon (pid): none.
	k3 := Key("data", "third", "")
	write(k3, os.Getpid()+1, t0.Add(time.Minute), "t1")
	if m.Ask(k3, "t1", t0.Add(time.Minute+5*time.Second)) {
		t.Error("an ask recorded by another daemon counts")
	}
	// The server's later ask recorded by the hot path, after one the
	// daemon answered, is the one that counts.
	write(k, os.Getpid(), t0.Add(3*time.Minute), "t1")
	if !m.Ask(k, "t1", t0.Add(3*time.Minute+time.Second)) {
		t.Error("the hot path's later ask does not count")
	}
}
