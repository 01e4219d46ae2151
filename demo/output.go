package demo

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"
)

// ANSI styles, used only when Options.Color is set.
const (
	styleReset  = "\x1b[0m"
	styleBold   = "\x1b[1m"
	styleDim    = "\x1b[2m"
	styleRed    = "\x1b[31m"
	styleGreen  = "\x1b[32m"
	styleYellow = "\x1b[33m"
	styleBlue   = "\x1b[34m"
	styleCyan   = "\x1b[36m"
)

// printer writes the demo's lines: "HH:MM:SS  verb      text", with
// continuation lines under the text. It is safe for concurrent use.
type printer struct {
	w     io.Writer
	color bool
	home  string
	// broken is closed when a write fails (the reader went away, as with
	// `broker demo | head`): the demo then ends as with Ctrl-C.
	broken chan struct{}

	mu     sync.Mutex
	failed bool
}

// write writes s, noting the first failure. p.mu is held.
func (p *printer) write(s string) {
	if p.failed {
		return
	}
	if _, err := io.WriteString(p.w, s); err != nil {
		p.failed = true
		if p.broken != nil {
			close(p.broken)
		}
	}
}

// verbWidth is the width of the verb column.
const verbWidth = 10

// indent is where the text column starts: "HH:MM:SS  " and the verb.
var indent = strings.Repeat(" ", 10+verbWidth)

func (p *printer) style(s, text string) string {
	if !p.color || s == "" {
		return text
	}
	return s + text + styleReset
}

// event prints one event at time t; more are continuation lines.
func (p *printer) event(t time.Time, verb, verbStyle, text string, more ...string) {
	var b strings.Builder
	b.WriteString(p.style(styleDim, t.Format("15:04:05")))
	b.WriteString("  ")
	b.WriteString(p.style(verbStyle, fmt.Sprintf("%-*s", verbWidth, verb)))
	b.WriteString(text)
	b.WriteString("\n")
	for _, m := range more {
		b.WriteString(indent)
		b.WriteString(m)
		b.WriteString("\n")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(b.String())
}

// line prints text as is.
func (p *printer) line(text string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.write(text + "\n")
}

// rel prints a sandbox path as the sandbox's user sees it: ~/… .
func (p *printer) rel(path string) string {
	if r, err := filepath.Rel(p.home, path); err == nil && !strings.HasPrefix(r, "..") {
		return "~/" + filepath.ToSlash(r)
	}
	return path
}

// jwtRE matches a JWT (three base64url parts, the first a JSON header).
var jwtRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`) })

// mask shows a token as its first 8 characters, its length and its last
// 3: eyJ0eXAi…(1234 chars)…x9Q. Enough to tell two tokens apart, far too
// little to use one.
func mask(tok string) string {
	if len(tok) < 20 {
		return fmt.Sprintf("…(%d chars)…", len(tok))
	}
	return fmt.Sprintf("%s…(%d chars)…%s", tok[:8], len(tok), tok[len(tok)-3:])
}

// maskAll masks every JWT in s.
func maskAll(s string) string {
	return jwtRE().ReplaceAllStringFunc(s, mask)
}

// changedLines returns the lines that differ between old and new: the
// edit is surgical, so everything before the first and after the last
// difference is common. Tabs become two spaces, the indentation common to
// all the lines is removed, removed lines say when their token expired if
// it has, and tokens are masked.
func changedLines(old, new []byte, now time.Time) (removed, added []string) {
	a := splitLines(old)
	b := splitLines(new)
	pre := 0
	for pre < len(a) && pre < len(b) && a[pre] == b[pre] {
		pre++
	}
	suf := 0
	for suf < len(a)-pre && suf < len(b)-pre && a[len(a)-1-suf] == b[len(b)-1-suf] {
		suf++
	}
	removed = append(removed, a[pre:len(a)-suf]...)
	added = append(added, b[pre:len(b)-suf]...)
	all := append(append([]string(nil), removed...), added...)
	cut := -1
	for i, l := range all {
		l = strings.ReplaceAll(l, "\t", "  ")
		all[i] = l
		if strings.TrimSpace(l) == "" {
			continue
		}
		if n := len(l) - len(strings.TrimLeft(l, " ")); cut < 0 || n < cut {
			cut = n
		}
	}
	for i, l := range all {
		if len(l) >= cut && cut > 0 {
			l = l[cut:]
		}
		l = strings.TrimRight(l, " \r")
		if i < len(removed) {
			l += expiredNote(l, now)
		}
		all[i] = maskAll(l)
	}
	return all[:len(removed)], all[len(removed):]
}

// expiredNote says how long ago the JWT in line expired ("" when it has
// not, or there is none): the token pasted by hand that the broker
// replaces.
func expiredNote(line string, now time.Time) string {
	tok := jwtRE().FindString(line)
	if tok == "" {
		return ""
	}
	parts := strings.Split(tok, ".")
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return ""
	}
	var claims struct {
		Exp int64 `json:"exp"`
	}
	if json.Unmarshal(payload, &claims) != nil || claims.Exp == 0 {
		return ""
	}
	exp := time.Unix(claims.Exp, 0)
	if exp.After(now) {
		return ""
	}
	return "   ← expired " + ago(now.Sub(exp))
}

// ago prints a past duration roughly: "20 h", "12 min", "40 s".
func ago(d time.Duration) string {
	switch {
	case d >= 2*time.Hour:
		return fmt.Sprintf("%d h ago", int(d.Hours()))
	case d >= 2*time.Minute:
		return fmt.Sprintf("%d min ago", int(d.Minutes()))
	}
	return fmt.Sprintf("%d s ago", int(d.Seconds()))
}

func splitLines(b []byte) []string {
	b = bytes.TrimSuffix(b, []byte("\n"))
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.ReplaceAll(string(b), "\r\n", "\n"), "\n")
}

// diffLines formats removed and added lines as "- …" and "+ …", at most
// max lines in all.
func (p *printer) diffLines(removed, added []string, max int) []string {
	var out []string
	n := 0
	for _, l := range removed {
		if n == max {
			break
		}
		out = append(out, p.style(styleRed, "- "+l))
		n++
	}
	for _, l := range added {
		if n == max {
			break
		}
		out = append(out, p.style(styleGreen, "+ "+l))
		n++
	}
	if rest := len(removed) + len(added) - n; rest > 0 {
		out = append(out, p.style(styleDim, fmt.Sprintf("  … and %d more lines", rest)))
	}
	return out
}

// until says how far t is from now: "in 6 min", "in 42 s", "1 min ago".
func until(now, t time.Time) string {
	d := t.Sub(now).Round(time.Second)
	past := d < 0
	if past {
		d = -d
	}
	var s string
	switch {
	case d >= 90*time.Second:
		s = fmt.Sprintf("%d min", int((d + 30*time.Second).Minutes()))
	default:
		s = fmt.Sprintf("%d s", int(d.Seconds()))
	}
	if past {
		return s + " ago"
	}
	return "in " + s
}

// human prints a duration for people: "5 min", "6 min 15 s", "40 s".
func human(d time.Duration) string {
	d = d.Round(time.Second)
	m, sec := int(d/time.Minute), int((d%time.Minute)/time.Second)
	switch {
	case m == 0:
		return fmt.Sprintf("%d s", sec)
	case sec == 0:
		return fmt.Sprintf("%d min", m)
	}
	return fmt.Sprintf("%d min %d s", m, sec)
}
