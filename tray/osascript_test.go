package tray

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// readAppleScriptString reads the AppleScript string literal at the start
// of s as AppleScript does (the Language Guide's escapes: \" \\ \n \r \t)
// and returns its value and the rest of s. A literal that does not start
// with a double quote, has another escape or does not end is an error.
func readAppleScriptString(s string) (value, rest string, err error) {
	if !strings.HasPrefix(s, `"`) {
		return "", s, fmt.Errorf("no string literal at %q", s)
	}
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch c := s[i]; c {
		case '"':
			return b.String(), s[i+1:], nil
		case '\\':
			i++
			if i == len(s) {
				return "", "", fmt.Errorf("unterminated escape in %q", s)
			}
			switch s[i] {
			case '"', '\\':
				b.WriteByte(s[i])
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			default:
				return "", "", fmt.Errorf("unknown escape \\%c in %q", s[i], s)
			}
		default:
			if c < 0x20 || c == 0x7f {
				return "", "", fmt.Errorf("raw control character %#x in %q", c, s)
			}
			b.WriteByte(c)
		}
	}
	return "", "", fmt.Errorf("unterminated string literal %q", s)
}

// hostile are texts that would break a literal quoted naively.
var hostile = []string{
	"",
	"plain",
	`say "hi"`,
	`C:\Users\alice\`,
	`\"`,
	`" & (do shell script "touch /tmp/pwned") & "`,
	"two\nlines\r\nand\ttab",
	"ünïcödé ✓ 🔑 sign in…",
	`#{not ruby} $(not shell) 'single'`,
	"-e leading dash",
}

func TestAppleScriptString(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		lit := appleScriptString(s)
		got, rest, err := readAppleScriptString(lit)
		if err != nil || rest != "" || got != s {
			t.Errorf("appleScriptString(%q) = %s, which reads back as %q (rest %q, %v)", s, lit, got, rest, err)
		}
	}
	// Control characters without an escape become spaces.
	if got, want := appleScriptString("a\x00b\x1bc\x7f"), `"a b c "`; got != want {
		t.Errorf("control characters: got %s, want %s", got, want)
	}
}

func FuzzAppleScriptString(f *testing.F) {
	for _, s := range hostile {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, rest, err := readAppleScriptString(appleScriptString(s))
		if err != nil || rest != "" {
			t.Fatalf("%q: %v (rest %q)", s, err, rest)
		}
		want := strings.Map(func(r rune) rune {
			if (r < 0x20 && r != '\n' && r != '\r' && r != '\t') || r == 0x7f {
				return ' '
			}
			return r
		}, strings.ToValidUTF8(s, "\uFFFD"))
		if got != want {
			t.Fatalf("%q reads back as %q", s, got)
		}
	})
}

// TestOsascriptArgs: one -e statement, `display notification BODY with
// title TITLE subtitle SUBTITLE`, whose literals read back as the texts
// whatever they hold, and nothing else on the command line.
func TestOsascriptArgs(t *testing.T) {
	t.Parallel()
	for _, s := range hostile {
		title, subtitle, body := "MCP token broker", "Sign-in required "+s, s+" must sign in again"
		args := osascriptArgs(title, subtitle, body)
		if len(args) != 2 || args[0] != "-e" {
			t.Fatalf("osascriptArgs: %q, want -e and one statement", args)
		}
		st := args[1]
		var got [3]string
		for i, kw := range []string{"display notification ", " with title ", " subtitle "} {
			if !strings.HasPrefix(st, kw) {
				t.Fatalf("for %q: expected %q at %q in %s", s, kw, st, args[1])
			}
			var err error
			if got[i], st, err = readAppleScriptString(st[len(kw):]); err != nil {
				t.Fatalf("for %q: %v in %s", s, err, args[1])
			}
		}
		if st != "" || got != [3]string{body, title, subtitle} {
			t.Errorf("for %q: the statement %s reads as %q, rest %q", s, args[1], got, st)
		}
	}
}

func TestDarwinBody(t *testing.T) {
	t.Parallel()
	n := notice{Profile: "data", Body: "alice must sign in again.", SignIn: true}
	if got := darwinBody(n, true); !strings.HasSuffix(got, "Choose Sign in… in the broker's menu.") {
		t.Errorf("with a tray: %q", got)
	}
	if got := darwinBody(n, false); !strings.HasSuffix(got, "Run `broker login --profile data` in a terminal.") {
		t.Errorf("without a tray: %q", got)
	}
	n.SignIn = false
	if got := darwinBody(n, false); got != n.Body {
		t.Errorf("a notice without sign-in: %q", got)
	}
}

// chanNotifier sends every notice on a channel.
type chanNotifier chan notice

func (c chanNotifier) notify(ctx context.Context, n notice) error { c <- n; return nil }
func (c chanNotifier) close()                                     {}

// TestHeadlessNotifies: without a tray (the macOS build without cgo) the
// loop still follows the model and notifies, and ends with ctx.
func TestHeadlessNotifies(t *testing.T) {
	t.Parallel()
	m := newFakeModel(nil)
	m.set(state.Status{Profiles: []state.Profile{{Name: "data", Account: "alice@contoso.com", State: state.OK}}})
	shown := make(chanNotifier, 8)
	tr := &tray{m: m, o: Options{}.withDefaults(), newNotifier: func(context.Context, *slog.Logger, func(string)) notifier {
		return shown
	}}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runHeadless(ctx, tr.o.Logger, tr.loop) }()

	m.set(state.Status{Profiles: []state.Profile{{Name: "data", Account: "alice@contoso.com", State: state.SignInRequired}}})
	select {
	case n := <-shown:
		if n.Summary != "Sign-in required" || n.Profile != "data" || !n.SignIn {
			t.Errorf("notified %+v, want the sign-in notice of data", n)
		}
	case <-time.After(time.Minute): // a hang guard, not a timing
		t.Fatal("no notification without a tray")
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("runHeadless: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("runHeadless did not end with its context")
	}
}
