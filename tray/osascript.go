package tray

import "strings"

// osascriptArgs are the arguments of osascript(1) that show one macOS
// notification. Each text is an AppleScript string literal in the one -e
// statement, escaped by appleScriptString: no shell is involved, and no text
// can end its literal early and become script.
func osascriptArgs(title, subtitle, body string) []string {
	return []string{"-e", "display notification " + appleScriptString(body) +
		" with title " + appleScriptString(title) + " subtitle " + appleScriptString(subtitle)}
}

// appleScriptString quotes s as an AppleScript string literal. Inside
// double quotes AppleScript reads a backslash as an escape: \" and \\ stand
// for themselves, \n, \r and \t for line feed, return and tab. Other control
// characters have no escape and a notification cannot show them: they
// become spaces.
func appleScriptString(s string) string {
	var b strings.Builder
	b.Grow(len(s) + 2)
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			b.WriteByte(' ')
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// darwinBody is the body of a macOS notification: a sign-in notice says
// where to sign in, the menu when there is a tray, `broker login` when not.
func darwinBody(nt notice, withTray bool) string {
	if !nt.SignIn {
		return nt.Body
	}
	if withTray {
		return nt.Body + " Choose Sign in… in the broker's menu."
	}
	return nt.Body + " Run `broker login --profile " + nt.Profile + "` in a terminal."
}
