package auth

import (
	"errors"
	"fmt"
	"os/exec"
	"runtime"
	"strings"
	"time"
)

// browserGrace is how long an opener waits for the browser command to fail
// before it leaves it running: browsers often stay in the foreground.
const browserGrace = 3 * time.Second

// BrowserOpener returns a function that opens a URL with the command line
// in browserEnv (the value of $BROWSER: "%s" in it is replaced by the URL,
// else the URL is appended; it is split like a shell would, with quotes:
// POSIX rules, or on Windows the rules of a Windows command line, where a
// backslash is a path separator),
// or with the OS default when browserEnv is empty (xdg-open, open,
// rundll32). No shell is involved. The function returns an error when the
// command cannot start or fails within a few seconds.
func BrowserOpener(browserEnv string) func(url string) error {
	return func(u string) error {
		argv, err := browserArgv(browserEnv, u, runtime.GOOS)
		if err != nil {
			return err
		}
		cmd := exec.Command(argv[0], argv[1:]...)
		var stderr strings.Builder
		cmd.Stderr = &limitedWriter{w: &stderr, n: 2048}
		if err := cmd.Start(); err != nil {
			return fmt.Errorf("starting %s: %w", argv[0], err)
		}
		done := make(chan error, 1)
		go func() { done <- cmd.Wait() }()
		select {
		case err := <-done:
			if err != nil {
				msg := strings.TrimSpace(stderr.String())
				if msg != "" {
					return fmt.Errorf("%s: %w: %s", argv[0], err, firstLine(msg))
				}
				return fmt.Errorf("%s: %w", argv[0], err)
			}
			return nil
		case <-time.After(browserGrace):
			return nil // still running: a browser in the foreground
		}
	}
}

// browserArgv builds the argv that opens u.
func browserArgv(browserEnv, u, goos string) ([]string, error) {
	if strings.TrimSpace(browserEnv) == "" {
		switch goos {
		case "darwin":
			return []string{"open", u}, nil
		case "windows":
			return []string{"rundll32", "url.dll,FileProtocolHandler", u}, nil
		default:
			return []string{"xdg-open", u}, nil
		}
	}
	// $BROWSER may list alternatives separated by ':' (the old
	// convention); the first is used.
	split := shellSplit
	if goos == "windows" {
		split = windowsSplit
	}
	words, err := split(browserEnv)
	if err != nil {
		return nil, fmt.Errorf("$BROWSER: %w", err)
	}
	if len(words) == 0 {
		return nil, errors.New("$BROWSER is empty")
	}
	replaced := false
	for i, w := range words {
		if strings.Contains(w, "%s") {
			words[i] = strings.ReplaceAll(w, "%s", u)
			replaced = true
		}
	}
	if !replaced {
		words = append(words, u)
	}
	return words, nil
}

// shellSplit splits s into words like a POSIX shell (without expansions):
// single quotes, double quotes with backslash escapes, backslash outside.
func shellSplit(s string) ([]string, error) {
	var (
		words  []string
		cur    strings.Builder
		inWord bool
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		switch {
		case ch == '\'':
			j := strings.IndexByte(s[i+1:], '\'')
			if j < 0 {
				return nil, errors.New("unterminated single quote")
			}
			cur.WriteString(s[i+1 : i+1+j])
			i += j + 1
			inWord = true
		case ch == '"':
			i++
			for ; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' && i+1 < len(s) && strings.IndexByte("\"\\$`\n", s[i+1]) >= 0 {
					i++
				}
				cur.WriteByte(s[i])
			}
			if i >= len(s) {
				return nil, errors.New("unterminated double quote")
			}
			inWord = true
		case ch == '\\':
			if i+1 < len(s) {
				i++
				cur.WriteByte(s[i])
			}
			inWord = true
		case ch == ' ' || ch == '\t' || ch == '\n':
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
		default:
			cur.WriteByte(ch)
			inWord = true
		}
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// windowsSplit splits s into words like a Windows program splits its
// command line (CommandLineToArgvW): double quotes group, "" inside quotes
// is a quote, and a backslash is literal except in a run before a quote
// (2n backslashes and a quote: n backslashes, the quote groups; 2n+1: n
// backslashes and a literal quote). So C:\Program Files\… keeps its
// backslashes.
func windowsSplit(s string) ([]string, error) {
	var (
		words   []string
		cur     strings.Builder
		inWord  bool
		quoted  bool
		slashes int
	)
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if ch == '\\' {
			slashes++
			inWord = true
			continue
		}
		if ch == '"' {
			cur.WriteString(strings.Repeat(`\`, slashes/2))
			odd := slashes%2 == 1
			slashes = 0
			inWord = true
			switch {
			case odd:
				cur.WriteByte('"')
			case quoted && i+1 < len(s) && s[i+1] == '"':
				cur.WriteByte('"')
				i++
			default:
				quoted = !quoted
			}
			continue
		}
		cur.WriteString(strings.Repeat(`\`, slashes))
		slashes = 0
		if !quoted && (ch == ' ' || ch == '\t' || ch == '\n') {
			if inWord {
				words = append(words, cur.String())
				cur.Reset()
				inWord = false
			}
			continue
		}
		cur.WriteByte(ch)
		inWord = true
	}
	cur.WriteString(strings.Repeat(`\`, slashes))
	if quoted {
		return nil, errors.New("unterminated double quote")
	}
	if inWord {
		words = append(words, cur.String())
	}
	return words, nil
}

// limitedWriter keeps the first n bytes written to it.
type limitedWriter struct {
	w interface{ WriteString(string) (int, error) }
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if l.n > 0 {
		k := min(len(p), l.n)
		_, _ = l.w.WriteString(string(p[:k]))
		l.n -= k
	}
	return len(p), nil
}
