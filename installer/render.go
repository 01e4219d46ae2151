package installer

import (
	"bytes"
	"embed"
	"encoding/xml"
	"fmt"
	"strings"
	"sync"
	"text/template"
)

//go:embed templates
var templateFS embed.FS

var templates = sync.OnceValue(func() *template.Template { return template.Must(template.ParseFS(templateFS, "templates/*")) })

// Arguments the entries pass to the broker.
var (
	desktopArgs  = []string{"run"}
	headlessArgs = []string{"run", "--no-tray"}
)

func render(name string, data any) ([]byte, error) {
	var b bytes.Buffer
	if err := templates().ExecuteTemplate(&b, name, data); err != nil {
		return nil, fmt.Errorf("rendering %s: %w", name, err)
	}
	return b.Bytes(), nil
}

// RenderDesktopEntry returns the XDG autostart entry that starts exe with
// `run`. Exec is quoted as the Desktop Entry Specification says.
//
// Paths with quotes, a backslash, $, ` or % are refused, although the
// specification can express them: systemd's xdg-autostart generator (which
// starts autostart entries in GNOME and KDE sessions on systemd) mangles \$
// and cannot start a program whose name has quotes or a backslash, GLib and
// the generator look for the program before unescaping %%, and dex mishandles
// \$ and \` inside quotes. Such an entry would silently never start.
func RenderDesktopEntry(exe string) ([]byte, error) {
	if strings.ContainsAny(exe, desktopRefused) || strings.ContainsFunc(exe, isControl) {
		return nil, fmt.Errorf("desktop sessions cannot start a program whose path contains quotes, a backslash, $, `, %% or a control character: %q", exe)
	}
	q, err := desktopExecArg(exe)
	if err != nil {
		return nil, err
	}
	args := []string{q}
	for _, a := range desktopArgs {
		qa, err := desktopExecArg(a)
		if err != nil {
			return nil, err
		}
		args = append(args, qa)
	}
	return render("autostart.desktop", struct{ Exec, TryExec string }{
		Exec:    strings.Join(args, " "),
		TryExec: desktopString(exe),
	})
}

// RenderSystemdUnit returns the systemd user unit that starts exe with
// `run --no-tray`, wanted by default.target.
func RenderSystemdUnit(exe string) ([]byte, error) {
	if err := refuseForKardianos(exe); err != nil {
		return nil, err
	}
	// systemd refuses an executable whose name has quotes, a backslash or
	// a control character ("Executable name contains special characters").
	if strings.ContainsAny(exe, "'\"\\") || strings.ContainsFunc(exe, isControl) {
		return nil, fmt.Errorf("systemd cannot start a program whose path contains quotes, a backslash or a control character: %q", exe)
	}
	words := []string{systemdExecPath(exe)}
	for _, a := range headlessArgs {
		words = append(words, systemdExecArg(a))
	}
	return render("systemd.service", struct{ Path, ExecStart string }{
		Path:      systemdSpecifiers(exe),
		ExecStart: strings.Join(words, " "),
	})
}

// RenderLaunchAgent returns the LaunchAgent plist that starts exe with `run`
// at login (RunAtLoad) and does not restart it after Quit (KeepAlive false).
func RenderLaunchAgent(exe string) ([]byte, error) {
	if err := refuseForKardianos(exe); err != nil {
		return nil, err
	}
	args := []string{xmlText(exe)}
	for _, a := range desktopArgs {
		args = append(args, xmlText(a))
	}
	return render("launchagent.plist", struct {
		Label string
		Args  []string
	}{xmlText(LaunchdLabel), args})
}

// RenderRunValue returns the Windows Run value that starts exe with `run`:
// the path always in double quotes, so that a path with spaces is not cut.
// Windows paths cannot contain a double quote.
func RenderRunValue(exe string) (string, error) {
	if strings.ContainsAny(exe, "\"\x00\r\n") {
		return "", fmt.Errorf("the broker binary path %q contains a double quote or a control character", exe)
	}
	return `"` + exe + `" ` + strings.Join(desktopArgs, " "), nil
}

// refuseForKardianos rejects what kardianos/service's template engine would
// read as an action: the rendered file is passed to it as its template.
func refuseForKardianos(exe string) error {
	if strings.Contains(exe, "{{") {
		return fmt.Errorf("the broker binary path %q contains \"{{\"", exe)
	}
	return nil
}

// desktopRefused are the characters that real launchers cannot start a
// program from (see RenderDesktopEntry).
const desktopRefused = "\"'\\$`%"

// desktopReserved are the characters that force an Exec argument into
// double quotes (Desktop Entry Specification, "The Exec key").
const desktopReserved = " \t\n\"'\\><~|&;$*?#()`"

// desktopExecArg quotes one Exec argument: in double quotes when it has a
// reserved character, with ", `, $ and \ escaped by a backslash inside; %
// doubled (field codes); then the string escapes of the file format, which
// double every backslash again.
func desktopExecArg(s string) (string, error) {
	if s == "" {
		return `""`, nil
	}
	if strings.ContainsFunc(s, isControl) {
		return "", fmt.Errorf("%q contains a control character, which an Exec line cannot hold", s)
	}
	q := strings.ReplaceAll(s, "%", "%%")
	if strings.ContainsAny(s, desktopReserved) {
		var b strings.Builder
		b.WriteByte('"')
		for _, r := range q {
			if strings.ContainsRune("\"`$\\", r) {
				b.WriteByte('\\')
			}
			b.WriteRune(r)
		}
		b.WriteByte('"')
		q = b.String()
	}
	return desktopString(q), nil
}

// desktopString applies the escapes of a desktop-entry string value.
func desktopString(s string) string {
	return strings.NewReplacer(`\`, `\\`, "\n", `\n`, "\t", `\t`, "\r", `\r`).Replace(s)
}

// systemdExecPath quotes the program of an ExecStart line: in double quotes
// when it has whitespace or a semicolon, % doubled. systemd expands no
// variables in the program's name, so $ stays as it is.
func systemdExecPath(s string) string {
	if strings.ContainsAny(s, " \t;") {
		s = `"` + s + `"`
	}
	return systemdSpecifiers(s)
}

// systemdExecArg quotes one word of an ExecStart line: double quotes with
// C-style escapes when it has whitespace, quotes, a backslash or a
// semicolon; % (specifiers) and $ (variable expansion) doubled always.
func systemdExecArg(s string) string {
	q := s
	if s == "" || strings.ContainsAny(s, " \t\"'\\;") {
		q = `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
	}
	return strings.ReplaceAll(systemdSpecifiers(q), "$", "$$")
}

// systemdSpecifiers escapes % in a value that systemd expands specifiers in.
func systemdSpecifiers(s string) string { return strings.ReplaceAll(s, "%", "%%") }

func xmlText(s string) string {
	var b strings.Builder
	_ = xml.EscapeText(&b, []byte(s)) // writes to a strings.Builder: cannot fail
	return b.String()
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
