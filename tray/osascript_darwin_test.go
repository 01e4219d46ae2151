package tray

import (
	"context"
	"log/slog"
	"os/exec"
	"strings"
	"testing"
)

// TestAppleScriptStringOsascript hands each literal to the real AppleScript
// compiler (`osascript -e 'return LITERAL'`) and compares what it prints:
// the escaping is what AppleScript reads, not only what our reader reads.
// It runs on the macOS CI runner; nothing here can run it.
func TestAppleScriptStringOsascript(t *testing.T) {
	for _, s := range hostile {
		if strings.Contains(s, "\r") { // osascript may print a return as a line feed
			continue
		}
		out, err := exec.Command("osascript", "-e", "return "+appleScriptString(s)).Output()
		if err != nil {
			t.Errorf("osascript for %q: %v", s, err)
			continue
		}
		if got := strings.TrimSuffix(string(out), "\n"); got != s {
			t.Errorf("osascript read %s as %q, want %q", appleScriptString(s), got, s)
		}
	}
}

// TestScriptNotifier shows a real notification with hostile texts: osascript
// must accept the statement (a quoting mistake is a syntax error, exit 1).
func TestScriptNotifier(t *testing.T) {
	n := newNotifier(context.Background(), slog.New(slog.DiscardHandler), nil)
	defer n.close()
	for _, s := range hostile {
		if err := n.notify(context.Background(), notice{Profile: "data", Summary: "test " + s, Body: s, SignIn: true}); err != nil {
			t.Errorf("notify %q: %v", s, err)
		}
	}
}
