package integrations

import (
	"bytes"
	"path/filepath"
	"regexp"
	"strings"
	"sync"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// envfileClient keeps one variable in a file that shells and scripts
// source: sh `export MCP_TOKEN='…'`, powershell `$env:MCP_TOKEN = '…'`,
// dotenv `MCP_TOKEN=…`. Other lines stay; a new file is 0600. Logout
// removes the variable's line.
type envfileClient struct{}

var varName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

func (envfileClient) defaultPath(t *Target) (string, error) {
	return "", targetError(t.cfg, "path is required", "set path to the env file to write, e.g. ~/.config/mcp-token.env")
}

func (envfileClient) modes() []string { return []string{ModeHeader} }

func (envfileClient) validate(t *Target) error {
	if v := t.cfg.Var; v != "" && !varName().MatchString(v) {
		return targetError(t.cfg, "var %q is not a variable name", "use letters, digits and _", v)
	}
	switch t.cfg.Format {
	case "", "sh", "powershell", "dotenv":
		return nil
	}
	return targetError(t.cfg, "format %q is unknown", "format is sh, powershell or dotenv", t.cfg.Format)
}

func envVar(t *Target) string {
	if t.cfg.Var != "" {
		return t.cfg.Var
	}
	return "MCP_TOKEN"
}

// format is the target's format: the configured one, else on Windows
// dotenv for a .env file and PowerShell for any other (a Windows user has
// no `export`), else sh.
func format(t *Target) string {
	if t.cfg.Format != "" {
		return t.cfg.Format
	}
	if t.env.GOOS == "windows" {
		base := strings.ToLower(filepath.Base(t.path))
		switch {
		case base == ".env" || strings.HasSuffix(base, ".env"):
			return "dotenv"
		case strings.HasSuffix(base, ".sh"):
			return "sh"
		}
		return "powershell"
	}
	return "sh"
}

// newline is the line ending of a new file: CRLF on Windows. An existing
// file keeps its own.
func newline(t *Target) string {
	if t.env.GOOS == "windows" {
		return "\r\n"
	}
	return "\n"
}

// line is the variable's line in the target's format.
func (envfileClient) line(t *Target, value string) string {
	name := envVar(t)
	switch format(t) {
	case "powershell":
		return "$env:" + name + " = '" + strings.ReplaceAll(value, "'", "''") + "'"
	case "dotenv":
		return name + "=" + value
	}
	return "export " + name + "=" + shQuote(value)
}

func shQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// defines reports whether line sets the variable (in any of the formats).
func defines(line []byte, name string) bool {
	l := bytes.TrimSpace(line)
	l = bytes.TrimPrefix(l, []byte("export "))
	l = bytes.TrimLeft(l, " \t")
	if bytes.HasPrefix(l, []byte(name)) && bytes.HasPrefix(bytes.TrimLeft(l[len(name):], " \t"), []byte("=")) {
		return true
	}
	low := bytes.ToLower(l)
	if bytes.HasPrefix(low, []byte("$env:"+strings.ToLower(name))) {
		rest := bytes.TrimLeft(l[len("$env:")+len(name):], " \t")
		return bytes.HasPrefix(rest, []byte("="))
	}
	return false
}

// editLines replaces the variable's line (or appends it; or with line "",
// removes it), keeping every other line and the file's line ending (nl in
// a file that has none yet).
func editLines(old []byte, name, line, nl string) []byte {
	switch {
	case bytes.Contains(old, []byte("\r\n")):
		nl = "\r\n"
	case bytes.Contains(old, []byte("\n")):
		nl = "\n"
	}
	var out bytes.Buffer
	found := false
	rest := old
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		var l []byte
		if i < 0 {
			l, rest = rest, nil
		} else {
			l, rest = rest[:i+1], rest[i+1:]
		}
		if defines(l, name) {
			if !found && line != "" {
				out.WriteString(line)
				if bytes.HasSuffix(l, []byte("\n")) {
					out.WriteString(nl)
				}
			}
			found = true
			continue
		}
		out.Write(l)
	}
	if !found && line != "" {
		if out.Len() > 0 && !bytes.HasSuffix(out.Bytes(), []byte("\n")) {
			out.WriteString(nl)
		}
		out.WriteString(line + nl)
	}
	return out.Bytes()
}

func (c envfileClient) apply(t *Target, old []byte, _ bool, tok token.Token) ([]byte, error) {
	return editLines(old, envVar(t), c.line(t, tok.Value.Reveal()), newline(t)), nil
}

func (envfileClient) entry(t *Target, data []byte) (bool, error) {
	for _, l := range bytes.Split(data, []byte("\n")) {
		if defines(l, envVar(t)) {
			return true, nil
		}
	}
	return false, nil
}
