package integrations

import (
	"bytes"
	"fmt"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// continueClient is the Continue CLI (@continuedev/cli, `cn`):
// $CONTINUE_GLOBAL_DIR/config.yaml, else ~/.continue/config.yaml on every
// OS. Servers are a YAML list, mcpServers: [{name, type: streamable-http,
// url, requestOptions: {headers: {Authorization}}}]; cn reads the file when
// it starts. Header mode only: the broker edits the one line that holds
// the Authorization value (or inserts the lines that create it, or a new
// list item), and checks that the result decodes to the same document
// but for that value; anything else (a flow-style list, a multi-line
// value) is refused with a hint, the file left as it was.
type continueClient struct{}

func (continueClient) defaultPath(t *Target) (string, error) {
	dir := t.env.getenv("CONTINUE_GLOBAL_DIR")
	if dir == "" {
		dir = filepath.Join(t.env.Home, ".continue")
	}
	return filepath.Join(expandHome(dir, t.env.Home), "config.yaml"), nil
}

func (continueClient) modes() []string { return []string{ModeProxy, ModeHeader} }

// yamlDoc is a parsed config.yaml and the nodes the broker manages.
type yamlDoc struct {
	lines   [][]byte // with their line endings
	eol     string
	root    *yaml.Node // the top mapping (nil for an empty document)
	servers *yaml.Node // mcpServers' value
	item    *yaml.Node // the server's mapping
	ro      *yaml.Node // its requestOptions
	headers *yaml.Node // requestOptions.headers
	auth    *yaml.Node // the Authorization value
}

var yamlLine = regexp.MustCompile(`line (\d+)`)

func parseContinue(t *Target, data []byte) (*yamlDoc, error) {
	d := &yamlDoc{eol: "\n"}
	if bytes.Contains(data, []byte("\r\n")) {
		d.eol = "\r\n"
	}
	d.lines = bytes.SplitAfter(data, []byte("\n"))
	// The edits go by "\n" lines: a lone CR or another YAML line break
	// would put the parser's lines elsewhere.
	if bytes.Count(data, []byte("\r")) != bytes.Count(data, []byte("\r\n")) || bytes.ContainsAny(data, "\u0085\u2028\u2029") {
		return nil, continueClient{}.unsafe("a file with line breaks other than LF or CRLF")
	}
	var n yaml.Node
	if err := yaml.Unmarshal(data, &n); err != nil {
		fe := &FileError{Msg: err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			fe.Col = 1
		}
		return nil, fe
	}
	if len(n.Content) == 0 {
		return d, nil
	}
	if n.Content[0].Kind != yaml.MappingNode {
		return nil, &FileError{Line: n.Content[0].Line, Col: n.Content[0].Column, Msg: "the document is not a mapping"}
	}
	d.root = n.Content[0]
	d.servers = yamlValue(d.root, "mcpServers", false)
	if d.servers == nil || d.servers.Kind != yaml.SequenceNode {
		return d, nil
	}
	for _, it := range d.servers.Content {
		if it.Kind == yaml.MappingNode {
			if nm := yamlValue(it, "name", false); nm != nil && nm.Value == t.cfg.Server {
				d.item = it
				break
			}
		}
	}
	if d.item == nil {
		return d, nil
	}
	if d.ro = yamlValue(d.item, "requestOptions", false); d.ro != nil && d.ro.Kind == yaml.MappingNode {
		if d.headers = yamlValue(d.ro, "headers", false); d.headers != nil && d.headers.Kind == yaml.MappingNode {
			d.auth = yamlValue(d.headers, "Authorization", true)
		}
	}
	return d, nil
}

// yamlValue is the value of key in mapping m.
func yamlValue(m *yaml.Node, key string, fold bool) *yaml.Node {
	if k := yamlKey(m, key, fold); k != nil {
		for i := 0; i+1 < len(m.Content); i += 2 {
			if m.Content[i] == k {
				return m.Content[i+1]
			}
		}
	}
	return nil
}

func yamlKey(m *yaml.Node, key string, fold bool) *yaml.Node {
	for i := 0; i+1 < len(m.Content); i += 2 {
		if k := m.Content[i].Value; k == key || fold && strings.EqualFold(k, key) {
			return m.Content[i]
		}
	}
	return nil
}

// offset is the byte offset in line of a 1-based rune column.
func offset(line []byte, col int) int {
	off := 0
	for i := 1; i < col && off < len(line); i++ {
		_, n := utf8.DecodeRune(line[off:])
		off += n
	}
	return off
}

func (continueClient) unsafe(what string) error {
	return &HintError{
		Err:  fmt.Errorf("cannot edit %s in place", what),
		Hint: "write mcpServers as a block-style list (one \"- name: …\" item per server) with a one-line Authorization value, or edit the file by hand",
	}
}

// scalarEnd is the end of the one-line scalar that starts at line[start:]
// (-1 when it is not one).
func scalarEnd(line []byte, start int, style yaml.Style) int {
	rest := line[start:]
	switch style {
	case yaml.DoubleQuotedStyle:
		for i := 1; i < len(rest); i++ {
			switch rest[i] {
			case '\\':
				i++
			case '"':
				return start + i + 1
			}
		}
		return -1
	case yaml.SingleQuotedStyle:
		for i := 1; i < len(rest); i++ {
			if rest[i] == '\'' {
				if i+1 < len(rest) && rest[i+1] == '\'' {
					i++
					continue
				}
				return start + i + 1
			}
		}
		return -1
	case 0:
		end := bytes.IndexAny(rest, "\r\n")
		if end < 0 {
			end = len(rest)
		}
		if c := bytes.Index(rest[:end], []byte(" #")); c >= 0 {
			end = c
		}
		return start + len(bytes.TrimRight(rest[:end], " \t"))
	}
	return -1
}

// yamlScalar is v as a YAML scalar of the given style.
func yamlScalar(v string, style yaml.Style) string {
	switch style {
	case yaml.SingleQuotedStyle:
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case yaml.DoubleQuotedStyle:
		return strconv.Quote(v)
	}
	return v
}

func (c continueClient) apply(t *Target, old []byte, exists bool, tok token.Token) ([]byte, error) {
	if exists && isBlank(old) {
		return nil, emptyFileError("delete it, or write a comment line into it")
	}
	value, url := bearer(tok), t.cfg.URL
	if t.mode == ModeProxy {
		u, cred, err := t.env.Proxy.Endpoint(t.cfg)
		if err != nil {
			return nil, err
		}
		value, url = "Bearer "+cred, u
	}
	out, err := c.setAuth(t, old, exists, value, url)
	if err != nil || t.mode != ModeProxy {
		return out, err
	}
	return c.setURL(t, out, url)
}

// setURL points the server's entry at url (proxy mode).
func (c continueClient) setURL(t *Target, data []byte, url string) ([]byte, error) {
	d, err := parseContinue(t, data)
	if err != nil {
		return nil, err
	}
	n := yamlValue(d.item, "url", false)
	if n == nil {
		return nil, c.unsafe("a server without a url")
	}
	if n.Kind == yaml.ScalarNode && n.Value == url {
		return data, nil
	}
	out, err := c.replaceScalar(d, n, url, "url")
	if err != nil {
		return nil, err
	}
	var a, b any
	if yaml.Unmarshal(data, &a) != nil || yaml.Unmarshal(out, &b) != nil {
		return nil, c.unsafe("this file")
	}
	for _, it := range continueItems(a) {
		if it["name"] == t.cfg.Server {
			it["url"] = url
		}
	}
	if !reflect.DeepEqual(a, b) {
		return nil, c.unsafe("this file")
	}
	return out, nil
}

// replaceScalar returns the content with the one-line scalar n replaced
// by value, in n's quoting style.
func (c continueClient) replaceScalar(d *yamlDoc, n *yaml.Node, value, what string) ([]byte, error) {
	if n.Kind != yaml.ScalarNode || n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0 {
		return nil, c.unsafe("a multi-line " + what + " value")
	}
	line := d.lines[n.Line-1]
	start := offset(line, n.Column)
	end := scalarEnd(line, start, n.Style)
	var same string
	if end < 0 || yaml.Unmarshal(line[start:end], &same) != nil || same != n.Value {
		return nil, c.unsafe("this " + what + " value")
	}
	style := n.Style
	if style == 0 && (value == "" || strings.Contains(value, ": ") || strings.Contains(value, " #") || strings.ContainsAny(value[:1], "'\"&*!|>%@`{}[],#?-: ")) {
		style = yaml.DoubleQuotedStyle // not a plain scalar
	}
	nl := append(append(append([]byte{}, line[:start]...), yamlScalar(value, style)...), line[end:]...)
	return c.splice(d, n.Line-1, 1, nl), nil
}

// setAuth sets the server's Authorization to value, creating the entry
// (with url) when it is missing.
func (c continueClient) setAuth(t *Target, old []byte, exists bool, value, url string) ([]byte, error) {
	d, err := parseContinue(t, old)
	if err != nil {
		return nil, err
	}
	base := old // what out must decode to, but for the value
	ind := func(n int) string { return strings.Repeat(" ", n) }
	if d.item != nil && yamlKey(d.item, "apiKey", false) != nil {
		return nil, &HintError{
			Err:  fmt.Errorf("server %q has an apiKey, which cn sends as its Authorization header instead of requestOptions.headers", t.cfg.Server),
			Hint: "remove the apiKey line of this server in " + t.path,
		}
	}
	var out []byte
	switch {
	case d.auth != nil:
		if d.auth.Kind == yaml.ScalarNode && d.auth.Value == value {
			return old, nil
		}
		if out, err = c.replaceScalar(d, d.auth, value, "Authorization"); err != nil {
			return nil, err
		}
	case d.item != nil:
		var at int // the 1-based line to insert before
		var lines []string
		switch {
		case d.headers != nil && d.headers.Kind == yaml.MappingNode && len(d.headers.Content) > 0 && d.headers.Style&yaml.FlowStyle == 0:
			k := d.headers.Content[0]
			at, lines = k.Line, []string{ind(k.Column-1) + "Authorization: " + value}
		case d.headers == nil && d.ro != nil && d.ro.Kind == yaml.MappingNode && len(d.ro.Content) > 0 && d.ro.Style&yaml.FlowStyle == 0:
			k := d.ro.Content[0]
			at, lines = k.Line, []string{ind(k.Column-1) + "headers:", ind(k.Column+1) + "Authorization: " + value}
		case d.ro == nil && d.item.Style&yaml.FlowStyle == 0 && len(d.item.Content) > 2:
			// After the item's first pair (on the "- " line), before its second.
			k := d.item.Content[2]
			if k.Line <= d.item.Content[1].Line {
				return nil, c.unsafe("this server's entry")
			}
			at, lines = k.Line, []string{ind(k.Column-1) + "requestOptions:", ind(k.Column+1) + "headers:", ind(k.Column+3) + "Authorization: " + value}
		default:
			return nil, c.unsafe("this server's requestOptions")
		}
		out = c.insert(d, at, lines)
	default:
		if url == "" {
			return nil, &jsonedit.NotFoundError{Path: []string{"mcpServers", t.cfg.Server}}
		}
		item := func(dash int) []string {
			return []string{
				ind(dash) + "- name: " + yamlScalar(t.cfg.Server, yaml.DoubleQuotedStyle),
				ind(dash+2) + "type: streamable-http",
				ind(dash+2) + "url: " + yamlScalar(url, yaml.DoubleQuotedStyle),
				ind(dash+2) + "requestOptions:",
				ind(dash+4) + "headers:",
				ind(dash+6) + "Authorization: " + value,
			}
		}
		switch {
		case d.servers != nil && d.servers.Kind == yaml.SequenceNode && len(d.servers.Content) > 0 && d.servers.Style&yaml.FlowStyle == 0:
			// A new first item, at the list's own indentation.
			first := d.servers.Content[0]
			line := d.lines[first.Line-1]
			dash := bytes.LastIndexByte(line[:offset(line, first.Column)], '-')
			if dash < 0 || strings.TrimSpace(string(line[:dash])) != "" {
				return nil, c.unsafe("the mcpServers list")
			}
			out = c.insert(d, first.Line, item(dash))
		case d.servers == nil && d.root != nil && yamlKey(d.root, "mcpServers", false) != nil:
			return nil, c.unsafe("an empty mcpServers")
		case d.servers != nil:
			return nil, c.unsafe("the mcpServers list")
		default:
			body := old
			if !exists {
				// What cn's own first config starts with.
				body = []byte("name: Main Config" + d.eol + "version: 1.0.0" + d.eol + "schema: v1" + d.eol)
				base = body
			}
			if len(body) > 0 && !bytes.HasSuffix(body, []byte("\n")) {
				body = append(append([]byte{}, body...), d.eol...)
			}
			out = append(append([]byte{}, body...), strings.Join(append([]string{"mcpServers:"}, item(2)...), d.eol)+d.eol...)
		}
	}
	if err := c.verify(t, base, out, value); err != nil {
		return nil, err
	}
	return out, nil
}

func (continueClient) splice(d *yamlDoc, from, n int, repl ...[]byte) []byte {
	var b bytes.Buffer
	for i, l := range d.lines {
		if i == from {
			for _, r := range repl {
				b.Write(r)
			}
		}
		if i < from || i >= from+n {
			b.Write(l)
		}
	}
	return b.Bytes()
}

func (c continueClient) insert(d *yamlDoc, at int, lines []string) []byte {
	var repl [][]byte
	for _, l := range lines {
		repl = append(repl, []byte(l+d.eol))
	}
	return c.splice(d, at-1, 0, repl...)
}

// verify checks that out decodes to old's document with only the server's
// Authorization set to value (and the lines created for it).
func (c continueClient) verify(t *Target, old, out []byte, value string) error {
	var a, b any
	if yaml.Unmarshal(old, &a) != nil || yaml.Unmarshal(out, &b) != nil {
		return c.unsafe("this file")
	}
	got, _ := continueAuth(b, t.cfg.Server, true)
	if got != value && value != "" || value == "" && got != "" {
		return c.unsafe("this file")
	}
	continueAuth(a, t.cfg.Server, true)
	if !reflect.DeepEqual(normalizeContinue(a, t.cfg.Server), normalizeContinue(b, t.cfg.Server)) {
		return c.unsafe("this file")
	}
	return nil
}

// continueAuth returns (and with del, removes) the server's Authorization
// in a decoded document.
func continueAuth(doc any, server string, del bool) (string, bool) {
	for _, it := range continueItems(doc) {
		if it["name"] != server {
			continue
		}
		ro, _ := it["requestOptions"].(map[string]any)
		h, _ := ro["headers"].(map[string]any)
		for k, v := range h {
			if strings.EqualFold(k, "Authorization") {
				s, _ := v.(string)
				if del {
					delete(h, k)
				}
				return s, true
			}
		}
	}
	return "", false
}

func continueItems(doc any) []map[string]any {
	m, _ := doc.(map[string]any)
	list, _ := m["mcpServers"].([]any)
	var out []map[string]any
	for _, v := range list {
		if it, ok := v.(map[string]any); ok {
			out = append(out, it)
		}
	}
	return out
}

// normalizeContinue drops what the broker may create for server: empty
// headers and requestOptions, an item that holds only those, an empty
// mcpServers.
func normalizeContinue(doc any, server string) any {
	m, _ := doc.(map[string]any)
	list, _ := m["mcpServers"].([]any)
	var keep []any
	for _, v := range list {
		it, ok := v.(map[string]any)
		if ok && it["name"] == server {
			if ro, ok := it["requestOptions"].(map[string]any); ok {
				if h, ok := ro["headers"].(map[string]any); ok && len(h) == 0 {
					delete(ro, "headers")
				}
				if len(ro) == 0 {
					delete(it, "requestOptions")
				}
			}
			if len(it) == 3 && it["type"] == "streamable-http" && it["url"] != nil {
				continue // one the broker created: compared by the Authorization check
			}
		}
		keep = append(keep, v)
	}
	if m != nil {
		if len(keep) == 0 && list != nil {
			delete(m, "mcpServers")
		} else if list != nil {
			m["mcpServers"] = keep
		}
		if len(m) == 0 {
			return nil
		}
	}
	return doc
}

// The broker's one place in config.yaml is the server's Authorization
// (the ledger's name for it is the JSON pointer of the decoded document,
// the list item named by the server's name). The entry itself is not a
// place: disconnect leaves an item the broker created, without its token.
func (continueClient) places(t *Target) []place {
	keys := []string{"mcpServers", t.cfg.Server, "requestOptions", "headers", "Authorization"}
	return []place{{name: pointer(keys), keys: keys, secret: true}}
}

func (continueClient) get(t *Target, data []byte, _ place) (string, bool, error) {
	if isBlank(data) {
		return "", false, nil
	}
	d, err := parseContinue(t, data)
	if err != nil || d.auth == nil {
		return "", false, err
	}
	return d.auth.Value, true, nil
}

func (c continueClient) del(t *Target, data []byte, _ place) ([]byte, error) {
	return c.remove(t, data)
}

// remove takes the server's Authorization out of the file.
func (c continueClient) remove(t *Target, old []byte) ([]byte, error) {
	d, err := parseContinue(t, old)
	if err != nil {
		return nil, err
	}
	if d.auth == nil {
		return old, nil
	}
	// The Authorization line goes; so do headers and requestOptions when
	// it was all they held (an empty key would be null, which cn refuses).
	from, n := d.auth.Line-1, 1
	if hk := yamlKey(d.ro, "headers", false); hk != nil && len(d.headers.Content) == 2 {
		from, n = hk.Line-1, d.auth.Line-hk.Line+1
		if rk := yamlKey(d.item, "requestOptions", false); rk != nil && len(d.ro.Content) == 2 {
			from, n = rk.Line-1, d.auth.Line-rk.Line+1
		}
	}
	out := c.splice(d, from, n)
	if err := c.verify(t, old, out, ""); err != nil {
		return nil, err
	}
	return out, nil
}

func (continueClient) entry(t *Target, data []byte) (bool, error) {
	d, err := parseContinue(t, data)
	if err != nil {
		return false, err
	}
	return d.item != nil, nil
}
