// Package tomledit changes one value in a TOML file that another program
// owns, keeping every other byte: comments, order, quoting, blank lines,
// line endings. It finds values by the byte spans that go-toml's own
// parser (unstable) reports, never by guessing from lines, so a
// multi-line string that holds "[" or "key =" is only ever a string.
// After each edit the result is parsed again and compared with the old
// document: it must hold the same values but the one that was set (or
// deleted), at the intended key, or the edit is refused.
package tomledit

import (
	"bytes"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"
)

// SyntaxError is a document that does not parse, at a place in it.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string { return fmt.Sprintf("%d:%d: %s", e.Line, e.Col, e.Msg) }

// Doc is a parsed document. Its edits return a new Doc.
type Doc struct {
	data   []byte
	nl     string
	tables []*table // tables[0] is the root table
	values map[string]any
}

type span struct{ start, end int }

type table struct {
	path  []string
	array bool
	index int  // which of the [[path]] tables (array only)
	line  span // the header's line (empty for the root)
	kvs   []*kv
}

type kv struct {
	key    []string // as written (dotted), decoded
	line   span     // its whole line, newline included (top-level only)
	raw    span     // from the key to the end of the value
	value  span
	inline []*kv // the key-values of an inline table value
}

// Parse parses data. A document that does not parse gives a *SyntaxError.
func Parse(data []byte) (*Doc, error) {
	var m map[string]any
	if err := toml.Unmarshal(data, &m); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, &SyntaxError{Line: line, Col: col, Msg: de.Error()}
		}
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: err.Error()}
	}
	if m == nil {
		m = map[string]any{}
	}
	d := &Doc{data: data, nl: "\n", values: m}
	if bytes.Contains(data, []byte("\r\n")) {
		d.nl = "\r\n"
	}
	cur := &table{}
	d.tables = []*table{cur}
	counts := map[string]int{}
	var p unstable.Parser
	p.Reset(data)
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table, unstable.ArrayTable:
			keys, first, last := keyOf(e.Key())
			t := &table{path: keys, array: e.Kind == unstable.ArrayTable}
			if t.array {
				k := strings.Join(keys, "\x00")
				t.index = counts[k]
				counts[k]++
			}
			end := last
			for end < len(data) && data[end] != ']' {
				end++
			}
			if t.array {
				end++
			}
			t.line = span{d.lineStart(first), d.lineEnd(end + 1)}
			d.tables = append(d.tables, t)
			cur = t
		case unstable.KeyValue:
			v := d.keyValue(e)
			v.line = span{d.lineStart(v.raw.start), d.lineEnd(v.raw.end)}
			cur.kvs = append(cur.kvs, v)
		}
	}
	if err := p.Error(); err != nil {
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: err.Error()}
	}
	return d, nil
}

func keyOf(it unstable.Iterator) (parts []string, start, end int) {
	start = -1
	for it.Next() {
		n := it.Node()
		parts = append(parts, string(n.Data))
		if start < 0 {
			start = int(n.Raw.Offset)
		}
		end = int(n.Raw.Offset + n.Raw.Length)
	}
	return parts, start, end
}

func (d *Doc) keyValue(e *unstable.Node) *kv {
	keys, _, keyEnd := keyOf(e.Key())
	v := &kv{key: keys, raw: span{int(e.Raw.Offset), int(e.Raw.Offset + e.Raw.Length)}}
	i := keyEnd
	for i < len(d.data) && (d.data[i] == ' ' || d.data[i] == '\t' || d.data[i] == '=') {
		i++
	}
	v.value = span{i, v.raw.end}
	if val := e.Value(); val.Kind == unstable.InlineTable {
		it := val.Children()
		for it.Next() {
			if c := it.Node(); c.Kind == unstable.KeyValue {
				v.inline = append(v.inline, d.keyValue(c))
			}
		}
	}
	return v
}

// lineStart is off moved back over the blanks before it on its line.
func (d *Doc) lineStart(off int) int {
	i := off
	for i > 0 && (d.data[i-1] == ' ' || d.data[i-1] == '\t') {
		i--
	}
	if i == 0 || d.data[i-1] == '\n' {
		return i
	}
	return off
}

// lineEnd is off moved past the blanks, the comment and the newline that
// end its line.
func (d *Doc) lineEnd(off int) int {
	i := off
	for i < len(d.data) && (d.data[i] == ' ' || d.data[i] == '\t') {
		i++
	}
	if i < len(d.data) && d.data[i] == '#' {
		for i < len(d.data) && d.data[i] != '\n' {
			i++
		}
	}
	if i < len(d.data) && d.data[i] == '\r' {
		i++
	}
	if i < len(d.data) && d.data[i] == '\n' {
		i++
	}
	return i
}

// Bytes returns the document.
func (d *Doc) Bytes() []byte { return d.data }

// Values returns the document decoded (do not change it).
func (d *Doc) Values() map[string]any { return d.values }

// Get returns the value at path (decoded), in a table that is not an
// array of tables.
func (d *Doc) Get(path ...string) (any, bool) {
	var cur any = d.values
	for _, k := range path {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// ArrayLen is the number of [[path]] tables.
func (d *Doc) ArrayLen(path ...string) int {
	n := 0
	for _, t := range d.tables {
		if t.array && equal(t.path, path) {
			n++
		}
	}
	return n
}

// GetInArray returns key's value in the index-th [[path]] table.
func (d *Doc) GetInArray(path []string, index int, key ...string) (any, bool) {
	arr, ok := d.Get(path...)
	if !ok {
		return nil, false
	}
	list, ok := arr.([]any)
	if !ok || index >= len(list) {
		return nil, false
	}
	var cur any = list[index]
	for _, k := range key {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[k]; !ok {
			return nil, false
		}
	}
	return cur, true
}

// Set sets key (relative to the table at tablePath) to value, written as
// TOML (use String for a string). An existing key keeps its place and its
// spelling, wherever it is written (dotted, in an inline table, in its
// own table); a new one goes after the table's last key, into an inline
// table that holds its parent, or into a new table at the end.
func (d *Doc) Set(tablePath, key []string, value string) (*Doc, error) {
	return d.set(tablePath, -1, key, value)
}

// SetInArray is Set in the index-th [[tablePath]] table.
func (d *Doc) SetInArray(tablePath []string, index int, key []string, value string) (*Doc, error) {
	return d.set(tablePath, index, key, value)
}

// Delete removes the key at path (in tables that are not arrays of
// tables); it reports false when there is none.
func (d *Doc) Delete(path ...string) (*Doc, bool, error) {
	for _, t := range d.tables {
		if t.array || !hasPrefix(path, t.path) {
			continue
		}
		rel := path[len(t.path):]
		if out, ok := d.deleteIn(t.kvs, rel, true); ok {
			nd, err := d.checked(out, pathOf(path), nil, true)
			return nd, err == nil, err
		}
	}
	return d, false, nil
}

func (d *Doc) deleteIn(kvs []*kv, rel []string, top bool) ([]byte, bool) {
	for i, v := range kvs {
		switch {
		case equal(v.key, rel):
			if top {
				return splice(d.data, v.line, ""), true
			}
			// In an inline table: take the comma with it.
			s := v.raw
			switch {
			case len(kvs) == 1:
				s = span{kvs[0].raw.start, kvs[0].raw.end}
				for s.start > 0 && isBlank(d.data[s.start-1]) {
					s.start--
				}
				for s.end < len(d.data) && isBlank(d.data[s.end]) {
					s.end++
				}
				return splice(d.data, s, " "), true
			case i > 0:
				s.start = kvs[i-1].raw.end
			default:
				s.end = kvs[1].raw.start
			}
			return splice(d.data, s, ""), true
		case hasPrefix(rel, v.key) && len(v.inline) > 0:
			if out, ok := d.deleteIn(v.inline, rel[len(v.key):], false); ok {
				return out, true
			}
		}
	}
	return nil, false
}

func isBlank(c byte) bool { return c == ' ' || c == '\t' }

func (d *Doc) set(tablePath []string, index int, key []string, value string) (*Doc, error) {
	want, err := decodeValue(value)
	if err != nil {
		return nil, err
	}
	full := append(append([]string{}, tablePath...), key...)
	at := pathOf(full)
	if index >= 0 {
		at = append(append(pathOf(tablePath), index), pathOf(key)...)
	}
	out, err := d.place(tablePath, index, key, value)
	if err != nil {
		return nil, err
	}
	return d.checked(out, at, want, false)
}

// place returns the document with value put at key.
func (d *Doc) place(tablePath []string, index int, key []string, value string) ([]byte, error) {
	full := append(append([]string{}, tablePath...), key...)
	var owner *table // the table key goes in, when new
	for _, t := range d.tables {
		if index >= 0 {
			if !t.array || t.index != index || !equal(t.path, tablePath) {
				continue
			}
		} else if t.array || !hasPrefix(full, t.path) {
			continue
		}
		rel := full[len(t.path):]
		if v, ok := find(t.kvs, rel); ok {
			return splice(d.data, v.value, value), nil
		}
		if out, ok := d.intoInline(t.kvs, rel, value); ok {
			return out, nil
		}
		if equal(t.path, tablePath) {
			owner = t
		}
	}
	// Dotted keys that already define the table (api.url = … under
	// [mcp_servers]): the new key goes beside them, dotted too.
	if owner == nil && index < 0 {
		for _, t := range d.tables {
			if t.array || !hasPrefix(tablePath, t.path) || len(tablePath) == len(t.path) {
				continue
			}
			var last *kv
			for _, v := range t.kvs {
				if hasPrefix(append(append([]string{}, t.path...), v.key...), tablePath) {
					last = v
				}
			}
			if last != nil {
				rel := full[len(t.path):]
				return d.insertAfter(last.line.end, indentOf(d.data, last.line.start)+dotted(rel)+" = "+value), nil
			}
		}
	}
	if owner != nil {
		end, indent := owner.line.end, ""
		if n := len(owner.kvs); n > 0 {
			end = owner.kvs[n-1].line.end
			indent = indentOf(d.data, owner.kvs[n-1].line.start)
		}
		return d.insertAfter(end, indent+dotted(key)+" = "+value), nil
	}
	if index >= 0 {
		return nil, fmt.Errorf("no [[%s]] table number %d", dotted(tablePath), index+1)
	}
	// A new table at the end.
	var b bytes.Buffer
	b.Write(d.data)
	if len(d.data) > 0 {
		if !bytes.HasSuffix(d.data, []byte("\n")) {
			b.WriteString(d.nl)
		}
		b.WriteString(d.nl)
	}
	b.WriteString("[" + dotted(tablePath) + "]" + d.nl)
	b.WriteString(dotted(key) + " = " + value + d.nl)
	return b.Bytes(), nil
}

// intoInline adds key to the inline table that holds its parent.
func (d *Doc) intoInline(kvs []*kv, rel []string, value string) ([]byte, bool) {
	for _, v := range kvs {
		if !hasPrefix(rel, v.key) || len(rel) == len(v.key) || d.data[v.value.start] != '{' {
			continue
		}
		inner := rel[len(v.key):]
		if w, ok := find(v.inline, inner); ok {
			return splice(d.data, w.value, value), true
		}
		if out, ok := d.intoInline(v.inline, inner, value); ok {
			return out, true
		}
		entry := dotted(inner) + " = " + value
		if n := len(v.inline); n > 0 {
			at := v.inline[n-1].raw.end
			return splice(d.data, span{at, at}, ", "+entry), true
		}
		return splice(d.data, v.value, "{ "+entry+" }"), true
	}
	return nil, false
}

func find(kvs []*kv, rel []string) (*kv, bool) {
	for _, v := range kvs {
		if equal(v.key, rel) {
			return v, true
		}
		if hasPrefix(rel, v.key) && len(v.inline) > 0 {
			if w, ok := find(v.inline, rel[len(v.key):]); ok {
				return w, true
			}
		}
	}
	return nil, false
}

// insertAfter inserts a line at off (the end of a line).
func (d *Doc) insertAfter(off int, line string) []byte {
	ins := line + d.nl
	if off > 0 && d.data[off-1] != '\n' {
		ins = d.nl + line
		if off < len(d.data) {
			ins += d.nl
		}
	}
	return splice(d.data, span{off, off}, ins)
}

func indentOf(data []byte, start int) string {
	i := start
	for i < len(data) && isBlank(data[i]) {
		i++
	}
	return string(data[start:i])
}

func splice(data []byte, s span, with string) []byte {
	out := make([]byte, 0, len(data)-(s.end-s.start)+len(with))
	out = append(out, data[:s.start]...)
	out = append(out, with...)
	return append(out, data[s.end:]...)
}

// checked parses out and compares it with d: the same values but the one
// at path, which is want now (or gone, when del).
func (d *Doc) checked(out []byte, path []any, want any, del bool) (*Doc, error) {
	nd, err := Parse(out)
	if err != nil {
		return nil, fmt.Errorf("the edit would not parse (%v); the file is left as it was", err)
	}
	for prune := 0; prune == 0 || del && prune < len(path); prune++ {
		if same(d.data, nd.values, path, want, del, prune) {
			return nd, nil
		}
	}
	return nil, fmt.Errorf("the edit of %s did not give the intended document; the file is left as it was", dottedAny(path))
}

// same reports whether got is data's values with the edit applied. A
// deleted dotted key takes the tables it alone defined with it (up to
// prune of them, when they are empty).
func same(data []byte, got map[string]any, path []any, want any, del bool, prune int) bool {
	var expect map[string]any
	if err := toml.Unmarshal(data, &expect); err != nil {
		return false
	}
	if expect == nil {
		expect = map[string]any{}
	}
	if !apply(expect, path, want, del) {
		return false
	}
	if prune > 0 {
		for i := len(path) - 1; i > 0 && i >= len(path)-prune; i-- {
			parent, ok := lookup(expect, path[:i])
			if m, isMap := parent.(map[string]any); !ok || !isMap || len(m) > 0 {
				break
			}
			apply(expect, path[:i], nil, true)
		}
	}
	// %#v writes maps sorted and tells types apart (and NaN from NaN,
	// which == does not).
	return fmt.Sprintf("%#v", expect) == fmt.Sprintf("%#v", got)
}

func lookup(m map[string]any, path []any) (any, bool) {
	var cur any = m
	for _, k := range path {
		switch c := cur.(type) {
		case map[string]any:
			s, _ := k.(string)
			v, ok := c[s]
			if !ok {
				return nil, false
			}
			cur = v
		case []any:
			n, ok := k.(int)
			if !ok || n >= len(c) {
				return nil, false
			}
			cur = c[n]
		default:
			return nil, false
		}
	}
	return cur, true
}

// apply sets (or deletes) path in m, creating tables as needed.
func apply(m map[string]any, path []any, want any, del bool) bool {
	var cur any = m
	for i, k := range path {
		last := i == len(path)-1
		switch c := cur.(type) {
		case map[string]any:
			s, ok := k.(string)
			if !ok {
				return false
			}
			if last {
				if del {
					delete(c, s)
				} else {
					c[s] = want
				}
				return true
			}
			next, ok := c[s]
			if !ok {
				if del {
					return true // nothing to delete
				}
				next = map[string]any{}
				c[s] = next
			}
			cur = next
		case []any:
			n, ok := k.(int)
			if !ok || n >= len(c) || last {
				return false
			}
			cur = c[n]
		default:
			return false
		}
	}
	return false
}

func decodeValue(value string) (any, error) {
	var m map[string]any
	if err := toml.Unmarshal([]byte("v = "+value), &m); err != nil {
		return nil, fmt.Errorf("not a TOML value: %s", value)
	}
	return m["v"], nil
}

var bareKey = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9_-]+$`) })

// Key writes one key part: bare when it can be, quoted otherwise.
func Key(s string) string {
	if bareKey().MatchString(s) {
		return s
	}
	return String(s)
}

// String writes s as a TOML basic string.
func String(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"':
			b.WriteString(`\"`)
		case r == '\\':
			b.WriteString(`\\`)
		case r == '\n':
			b.WriteString(`\n`)
		case r == '\r':
			b.WriteString(`\r`)
		case r == '\t':
			b.WriteString(`\t`)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func dotted(path []string) string {
	q := make([]string, len(path))
	for i, p := range path {
		q[i] = Key(p)
	}
	return strings.Join(q, ".")
}

func dottedAny(path []any) string {
	q := make([]string, len(path))
	for i, p := range path {
		if s, ok := p.(string); ok {
			q[i] = Key(s)
		} else {
			q[i] = fmt.Sprint(p)
		}
	}
	return strings.Join(q, ".")
}

func pathOf(p []string) []any {
	out := make([]any, len(p))
	for i, s := range p {
		out[i] = s
	}
	return out
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func hasPrefix(p, prefix []string) bool {
	return len(p) >= len(prefix) && equal(p[:len(prefix)], prefix)
}
