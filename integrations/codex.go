package integrations

import (
	"bytes"
	"errors"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// codexClient is OpenAI Codex CLI: ~/.codex/config.toml (or
// $CODEX_HOME/config.toml), the table [mcp_servers.NAME]. Codex has no
// header helper (its HTTP servers take url, bearer_token_env_var,
// http_headers and env_http_headers), so header mode (the default) sets
// http_headers = { Authorization = "Bearer …" }, which Codex reads when a
// session starts; bridge mode makes the server a stdio one that runs
// `broker bridge NAME` (command and args, no url), so that a long session
// never holds an expired token.
// The edit is line-based: only the managed line of that one table
// changes, every other byte of the file stays. A server defined inline
// or with dotted keys is refused rather than rewritten.
type codexClient struct{}

func (codexClient) defaultPath(t *Target) (string, error) {
	if d := t.env.getenv("CODEX_HOME"); d != "" {
		return filepath.Join(d, "config.toml"), nil
	}
	return filepath.Join(t.env.Home, ".codex", "config.toml"), nil
}

func (codexClient) modes() []string { return []string{ModeHeader, ModeBridge} }

var bareKey = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func tomlKey(s string) string {
	if bareKey.MatchString(s) {
		return s
	}
	return string(jsonedit.String(s))
}

// codexDoc is a parsed config.toml with the lines of one server's table.
type codexDoc struct {
	data   []byte
	nl     string
	lines  [][]byte // each with its line ending
	header int      // index of the [mcp_servers.NAME] line, -1 if none
	end    int      // index after the table's last line
	server map[string]any
	exists bool // the server is defined (as a table or otherwise)
}

func parseCodex(t *Target, data []byte) (*codexDoc, error) {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, &FileError{Line: line, Col: col, Msg: de.Error()}
		}
		return nil, &FileError{Msg: err.Error()}
	}
	d := &codexDoc{data: data, nl: "\n", header: -1}
	if bytes.Contains(data, []byte("\r\n")) {
		d.nl = "\r\n"
	}
	if servers, ok := m["mcp_servers"].(map[string]any); ok {
		d.server, d.exists = servers[t.cfg.Server].(map[string]any)
	}
	rest := data
	for len(rest) > 0 {
		i := bytes.IndexByte(rest, '\n')
		if i < 0 {
			d.lines, rest = append(d.lines, rest), nil
		} else {
			d.lines, rest = append(d.lines, rest[:i+1]), rest[i+1:]
		}
	}
	want := tableHeader(t.cfg.Server)
	for i, l := range d.lines {
		if d.header < 0 {
			if isHeader(l, want) {
				d.header, d.end = i, len(d.lines)
			}
			continue
		}
		if bytes.HasPrefix(bytes.TrimSpace(l), []byte("[")) {
			d.end = i
			break
		}
	}
	return d, nil
}

// tableHeader is the normalised header of the server's table.
func tableHeader(name string) string { return "mcp_servers." + tomlKey(name) }

// isHeader reports whether l is the table header want ("[a.b]"), allowing
// spaces, quotes that are not needed, and a comment.
func isHeader(l []byte, want string) bool {
	s := strings.TrimSpace(string(l))
	if !strings.HasPrefix(s, "[") || strings.HasPrefix(s, "[[") {
		return false
	}
	end := strings.Index(s, "]")
	if end < 0 {
		return false
	}
	var parts []string
	for _, p := range strings.Split(s[1:end], ".") {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
			p = tomlKey(p[1 : len(p)-1])
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".") == want
}

// keyLine returns the index of the line in the table that sets key, or -1.
func (d *codexDoc) keyLine(key string) int {
	for i := d.header + 1; i < d.end; i++ {
		s := strings.TrimLeft(string(d.lines[i]), " \t")
		for _, k := range []string{key, `"` + key + `"`} {
			if strings.HasPrefix(s, k) && strings.HasPrefix(strings.TrimLeft(s[len(k):], " \t"), "=") {
				return i
			}
		}
	}
	return -1
}

// set replaces the key's line or adds it after the table's last value.
func (d *codexDoc) set(key, value string) {
	line := []byte(key + " = " + value + d.nl)
	if i := d.keyLine(key); i >= 0 {
		if !bytes.HasSuffix(d.lines[i], []byte("\n")) {
			line = bytes.TrimSuffix(line, []byte(d.nl))
		}
		d.lines[i] = line
		return
	}
	at := d.header + 1
	for i := d.header + 1; i < d.end; i++ {
		if s := bytes.TrimSpace(d.lines[i]); len(s) > 0 && s[0] != '#' {
			at = i + 1
		}
	}
	if at > 0 && !bytes.HasSuffix(d.lines[at-1], []byte("\n")) {
		d.lines[at-1] = append(bytes.Clone(d.lines[at-1]), d.nl...)
	}
	d.lines = append(d.lines[:at], append([][]byte{line}, d.lines[at:]...)...)
	d.end++
}

func (d *codexDoc) del(key string) {
	if i := d.keyLine(key); i >= 0 {
		d.lines = append(d.lines[:i], d.lines[i+1:]...)
		d.end--
	}
}

func (d *codexDoc) bytes() []byte { return bytes.Join(d.lines, nil) }

// brokerHeaders reports whether http_headers holds only a bearer
// Authorization (what the broker writes).
func (d *codexDoc) brokerHeaders() (present, ours bool) {
	h, ok := d.server["http_headers"]
	if !ok {
		return false, false
	}
	m, ok := h.(map[string]any)
	if !ok || len(m) != 1 {
		return true, false
	}
	v, ok := m["Authorization"].(string)
	return true, ok && strings.HasPrefix(v, "Bearer ")
}

func (c codexClient) apply(t *Target, old []byte, exists bool, tok token.Token) ([]byte, error) {
	d, err := parseCodex(t, old)
	if err != nil {
		return nil, err
	}
	if d.header < 0 {
		if d.exists {
			return nil, fmt.Errorf("server %q is not written as a [%s] table; broker edits only such a table", t.cfg.Server, tableHeader(t.cfg.Server))
		}
		if t.cfg.URL == "" {
			return nil, &jsonedit.NotFoundError{Path: []string{"mcp_servers", t.cfg.Server}}
		}
		var b bytes.Buffer
		b.Write(old)
		if len(old) > 0 {
			if !bytes.HasSuffix(old, []byte("\n")) {
				b.WriteString(d.nl)
			}
			b.WriteString(d.nl)
		}
		b.WriteString("[" + tableHeader(t.cfg.Server) + "]" + d.nl)
		b.WriteString("url = " + string(jsonedit.String(t.cfg.URL)) + d.nl)
		if d, err = parseCodex(t, b.Bytes()); err != nil {
			return nil, err
		}
	}
	present, ours := d.brokerHeaders()
	switch t.mode {
	case ModeBridge:
		if present && !ours {
			return nil, fmt.Errorf("server %q has other http_headers; the bridge would drop them: remove them or use header mode", t.cfg.Server)
		}
		if ours && d.keyLine("http_headers") >= 0 {
			d.del("http_headers")
		}
		// A stdio server has no url (Codex refuses a table with both);
		// the bridge takes the URL from the broker's config.
		d.del("url")
		d.set("command", string(jsonedit.String(t.env.BrokerPath)))
		args := bridgeArgs(t)
		q := make([]string, len(args))
		for i, a := range args {
			q[i] = string(jsonedit.String(a))
		}
		d.set("args", "["+strings.Join(q, ", ")+"]")
	default:
		if present && !ours {
			return nil, fmt.Errorf("server %q has other http_headers; broker manages only a lone Authorization there", t.cfg.Server)
		}
		if present && d.keyLine("http_headers") < 0 {
			return nil, fmt.Errorf("server %q has http_headers as a table; write them inline or use bridge mode", t.cfg.Server)
		}
		d.set("http_headers", "{ Authorization = "+string(jsonedit.String(bearer(tok)))+" }")
	}
	out := d.bytes()
	if _, err := parseCodex(t, out); err != nil {
		return nil, fmt.Errorf("editing the TOML went wrong (%v); the file is left as it was", err)
	}
	return out, nil
}

func (c codexClient) remove(t *Target, old []byte, _ bool) ([]byte, error) {
	d, err := parseCodex(t, old)
	if err != nil {
		return nil, err
	}
	if d.header < 0 {
		return old, nil
	}
	if _, ours := d.brokerHeaders(); ours && d.keyLine("http_headers") >= 0 {
		d.del("http_headers")
	}
	return d.bytes(), nil
}

func (c codexClient) entry(t *Target, data []byte) (bool, error) {
	d, err := parseCodex(t, data)
	if err != nil {
		return false, err
	}
	return d.exists, nil
}
