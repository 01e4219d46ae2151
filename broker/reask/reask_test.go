package reask

import (
	"os"
	"testing"
	"time"
)

func TestAsk(t *testing.T) {
	t.Parallel()
	for _, m := range []*Memo{New(), InDir(t.TempDir())} {
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
					if string(b) == tok || len(b) == 0 {
						t.Errorf("%s holds %q", e.Name(), b)
					}
				}
			}
		}
	}
}
