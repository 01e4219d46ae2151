// Package jsonedit changes one value in a JSON or JSONC document and keeps
// every other byte: comments, key order, indentation, line endings, a BOM
// and trailing commas. It scans the document once without building a tree
// (a 50 MB ~/.claude.json costs one pass and one copy), validating all of
// it, and splices the new bytes in at the value's offsets. Objects missing
// along the path are created in the document's own indentation style.
//
// Paths are lists of object keys; a path through anything but an object
// is an error. A document that does not parse, or whose top-level value is
// not an object, is an error (*SyntaxError with line and column) and no
// output is produced.
//
// The functions are pure (they never modify their input) and safe for
// concurrent use.
package jsonedit

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
)

// Kind is what an Op does.
type Kind int

const (
	// OpSet sets the value, creating it (and missing objects on the way).
	OpSet Kind = iota
	// OpSetDefault sets the value only when it is missing.
	OpSetDefault
	// OpDelete removes the member; a missing one is no change.
	OpDelete
	// OpRequire changes nothing and fails with *NotFoundError when the
	// value is missing.
	OpRequire
)

// Op is one change at Path. Value is JSON (any formatting; objects are
// re-indented in the document's style).
type Op struct {
	Kind  Kind
	Path  []string
	Value []byte
	// Match, for OpDelete, limits the deletion to values (raw JSON) it
	// accepts.
	Match func(raw []byte) bool
}

// Set is an Op that sets path to the JSON value.
func Set(path []string, value []byte) Op { return Op{Kind: OpSet, Path: path, Value: value} }

// SetDefault is an Op that creates path with value when it is missing.
func SetDefault(path []string, value []byte) Op {
	return Op{Kind: OpSetDefault, Path: path, Value: value}
}

// Delete is an Op that removes path.
func Delete(path []string) Op { return Op{Kind: OpDelete, Path: path} }

// DeleteIf is an Op that removes path when match accepts its raw value.
func DeleteIf(path []string, match func(raw []byte) bool) Op {
	return Op{Kind: OpDelete, Path: path, Match: match}
}

// Require is an Op that fails when path is missing.
func Require(path []string) Op { return Op{Kind: OpRequire, Path: path} }

// NotFoundError is returned by a Require op.
type NotFoundError struct{ Path []string }

func (e *NotFoundError) Error() string {
	return fmt.Sprintf("%s not found", strings.Join(quoteAll(e.Path), "."))
}

func quoteAll(p []string) []string {
	q := make([]string, len(p))
	for i, s := range p {
		q[i] = fmt.Sprintf("%q", s)
	}
	return q
}

var bom = []byte("\xEF\xBB\xBF")

// Validate reports whether src is a JSONC document whose top-level value is
// an object, as a *SyntaxError when it is not.
func Validate(src []byte) error {
	_, err := scan(bytes.TrimPrefix(src, bom), nil)
	return err
}

// Get returns the raw bytes of the value at path (comments inside it
// included) and whether it exists. It validates the whole document.
func Get(src []byte, path []string) ([]byte, bool, error) {
	b := bytes.TrimPrefix(src, bom)
	s, err := scan(b, path)
	if err != nil {
		return nil, false, err
	}
	if !s.hasLeaf {
		return nil, false, nil
	}
	return b[s.leafStart:s.leafEnd], true, nil
}

// Edit applies ops in order and returns the new document. When nothing
// changes, the result is src itself (same bytes). The whole document is
// scanned once; the ops' own work is done inside the deepest object that
// contains all their paths.
func Edit(src []byte, ops ...Op) ([]byte, error) {
	if len(ops) == 0 {
		return src, Validate(src)
	}
	for _, op := range ops {
		if len(op.Path) == 0 {
			return nil, errors.New("jsonedit: empty path")
		}
		if (op.Kind == OpSet || op.Kind == OpSetDefault) && !json.Valid(op.Value) {
			return nil, fmt.Errorf("jsonedit: value for %s is not valid JSON", strings.Join(op.Path, "."))
		}
	}
	hasBOM := bytes.HasPrefix(src, bom)
	b := src
	if hasBOM {
		b = src[len(bom):]
	}

	// The common prefix of all paths, short of each path's last key.
	prefix := ops[0].Path[:len(ops[0].Path)-1]
	for _, op := range ops[1:] {
		p := op.Path[:len(op.Path)-1]
		i := 0
		for i < len(p) && i < len(prefix) && p[i] == prefix[i] {
			i++
		}
		prefix = prefix[:i]
	}
	s, err := scan(b, prefix)
	if err != nil {
		return nil, err
	}
	st := detectStyle(b)

	// The deepest object of the prefix that exists is the sub-document.
	depth := s.found - 1
	o := s.objs[depth]
	sub := b[o.open : o.close+1]
	ed := &editor{style: st, base: lineIndent(b, o.open, "")}
	cur := sub
	for _, op := range ops {
		rel := op.Path[depth:]
		next, err := ed.apply(cur, op, rel)
		if err != nil {
			var se *SyntaxError
			if errors.As(err, &se) {
				return nil, newSyntaxError(b, o.open+se.Offset, se.Msg)
			}
			var nf *NotFoundError
			if errors.As(err, &nf) {
				return nil, &NotFoundError{Path: op.Path}
			}
			return nil, err
		}
		cur = next
	}
	if bytes.Equal(cur, sub) {
		return src, nil
	}
	out := make([]byte, 0, len(src)+len(cur)-len(sub))
	out = append(out, src[:len(src)-len(b)+o.open]...)
	out = append(out, cur...)
	out = append(out, b[o.close+1:]...)
	return out, nil
}

// style is how a document is laid out.
type style struct {
	unit      string // one level of indentation
	nl        string // "\n" or "\r\n"
	multiline bool   // the document spans lines
}

// detectStyle looks at the start of the document (enough to decide,
// cheap on a huge file).
func detectStyle(b []byte) style {
	head := b
	if len(head) > 64<<10 {
		head = head[:64<<10]
	}
	st := style{unit: "  ", nl: "\n"}
	i := bytes.IndexByte(head, '\n')
	if i < 0 || len(bytes.TrimSpace(head[i:])) == 0 {
		return st // one line (perhaps with a final newline)
	}
	st.multiline = true
	if i > 0 && head[i-1] == '\r' {
		st.nl = "\r\n"
	}
	// The smallest non-empty indentation of a line that starts a value
	// or key is the unit; a tab anywhere first means tabs.
	best := ""
	for rest := head[i+1:]; len(rest) > 0; {
		j := 0
		for j < len(rest) && (rest[j] == ' ' || rest[j] == '\t') {
			j++
		}
		if j > 0 && j < len(rest) && rest[j] != '\n' && rest[j] != '\r' {
			ind := string(rest[:j])
			if ind[0] == '\t' {
				best = "\t"
				break
			}
			if best == "" || len(ind) < len(best) {
				best = ind
			}
		}
		k := bytes.IndexByte(rest, '\n')
		if k < 0 {
			break
		}
		rest = rest[k+1:]
	}
	if best != "" {
		if best[0] == '\t' {
			st.unit = "\t"
		} else {
			st.unit = best
		}
	}
	return st
}

// lineIndent returns the indentation of the line holding offset n; base is
// the indentation of the first line of b when b is a part of a larger
// document.
func lineIndent(b []byte, n int, base string) string {
	ls := bytes.LastIndexByte(b[:n], '\n')
	if ls < 0 {
		if base != "" {
			return base
		}
		ls = -1
	}
	j := ls + 1
	for j < n && (b[j] == ' ' || b[j] == '\t') {
		j++
	}
	return string(b[ls+1 : j])
}

type editor struct {
	style style
	base  string // indentation of the sub-document's first line
}

// apply runs one op on the (valid) document b.
func (e *editor) apply(b []byte, op Op, path []string) ([]byte, error) {
	kind, value := op.Kind, op.Value
	s, err := scan(b, path)
	if err != nil {
		return nil, err
	}
	switch kind {
	case OpRequire:
		if !s.hasLeaf {
			return nil, &NotFoundError{Path: path}
		}
		return b, nil
	case OpDelete:
		if !s.hasLeaf || (op.Match != nil && !op.Match(b[s.leafStart:s.leafEnd])) {
			return b, nil
		}
		return e.remove(b, &s.objs[len(path)-1]), nil
	case OpSetDefault:
		if s.hasLeaf {
			return b, nil
		}
	}
	if s.hasLeaf {
		o := &s.objs[len(path)-1]
		ind := lineIndent(b, o.target.keyStart, e.base)
		v := e.format(value, ind)
		return splice(b, s.leafStart, s.leafEnd, v), nil
	}
	// Create: the deepest existing object gets one new member holding the
	// rest of the path.
	depth := s.found - 1
	v := value
	for i := len(path) - 1; i > depth; i-- {
		v = append(append(append([]byte("{"), quote(path[i])...), ':'), append(v, '}')...)
	}
	return e.insert(b, &s.objs[depth], path[depth], v), nil
}

// format re-indents a JSON value for a member whose line is indented ind.
func (e *editor) format(v []byte, ind string) []byte {
	v = bytes.TrimSpace(v)
	if len(v) == 0 || (v[0] != '{' && v[0] != '[') {
		return v
	}
	var out bytes.Buffer
	if !e.style.multiline {
		if json.Compact(&out, v) != nil {
			return v
		}
		return out.Bytes()
	}
	if json.Indent(&out, v, ind, e.style.unit) != nil {
		return v
	}
	r := out.Bytes()
	if e.style.nl != "\n" {
		r = bytes.ReplaceAll(r, []byte("\n"), []byte(e.style.nl))
	}
	return r
}

// inline writes a JSON value on one line with the given separators after
// keys (colon, e.g. ": ") and between members (comma, e.g. ", ").
func inline(v []byte, colon, comma string) []byte {
	var c bytes.Buffer
	if json.Compact(&c, v) != nil {
		return v
	}
	var out bytes.Buffer
	in := false
	esc := false
	for _, ch := range c.Bytes() {
		switch {
		case in:
			out.WriteByte(ch)
			if esc {
				esc = false
			} else if ch == '\\' {
				esc = true
			} else if ch == '"' {
				in = false
			}
		case ch == '"':
			in = true
			out.WriteByte(ch)
		case ch == ':':
			out.WriteString(colon)
		case ch == ',':
			out.WriteString(comma)
		default:
			out.WriteByte(ch)
		}
	}
	return out.Bytes()
}

// insert adds "key": v as the last member of o.
func (e *editor) insert(b []byte, o *object, key string, v []byte) []byte {
	sep := ": "
	if o.count == 0 {
		if !e.style.multiline {
			sep = ":"
		}
		if !e.style.multiline {
			m := string(quote(key)) + sep + string(e.format(v, ""))
			return splice(b, o.open+1, o.open+1, []byte(m))
		}
		outer := lineIndent(b, o.open, e.base)
		ind := outer + e.style.unit
		m := quote(key) + sep + string(e.format(v, ind))
		inner := b[o.open+1 : o.close]
		if len(bytes.TrimSpace(inner)) == 0 {
			return splice(b, o.open+1, o.close, []byte(e.style.nl+ind+m+e.style.nl+outer))
		}
		return splice(b, o.open+1, o.open+1, []byte(e.style.nl+ind+m))
	}
	last := o.last
	// Copy the last member's spacing around ':' when it is plain.
	if gap := b[last.keyEnd:last.valStart]; len(gap) <= 4 && bytes.Count(gap, []byte(":")) == 1 &&
		len(bytes.Trim(gap, " \t:")) == 0 {
		sep = string(gap)
	}
	// The gap before the last member tells whether members sit on lines
	// of their own.
	before := b[o.open+1 : last.keyStart]
	if o.lastPrev >= 0 {
		before = b[o.lastPrev+1 : last.keyStart]
	}
	if bytes.IndexByte(before, '\n') < 0 {
		// Members on one line: append inline, with the same gap.
		gap := string(before)
		if o.count == 1 && gap == "" && strings.Contains(sep, " ") {
			gap = " " // {"a": 1} -> {"a": 1, "k": v}; {"a":1} -> {"a":1,"k":v}
		}
		if strings.ContainsAny(gap, "/") {
			gap = " "
		}
		m := quote(key) + sep + string(inline(v, sep, ","+strings.TrimLeft(gap, ",")))
		if last.comma >= 0 {
			return splice(b, last.comma+1, last.comma+1, []byte(gap+m+","))
		}
		return splice(b, last.valEnd, last.valEnd, []byte(","+gap+m))
	}
	ind := lineIndent(b, last.keyStart, e.base)
	m := quote(key) + sep + string(e.format(v, ind))
	if last.comma >= 0 {
		at := last.comma + 1
		if eol := restOfLine(b, at); eol >= 0 {
			at = eol
		}
		return splice(b, at, at, []byte(e.style.nl+ind+m+","))
	}
	at := last.valEnd
	if eol := restOfLine(b, at); eol >= 0 {
		// Keep a comment that ends the last member's line with it.
		out := splice(b, eol, eol, []byte(e.style.nl+ind+m))
		return splice(out, at, at, []byte(","))
	}
	return splice(b, at, at, []byte(","+e.style.nl+ind+m))
}

// restOfLine returns the offset of the line break that ends the line at n
// when only whitespace and comments are left on it, or -1.
func restOfLine(b []byte, n int) int {
	for n < len(b) {
		switch b[n] {
		case ' ', '\t':
			n++
		case '\r', '\n':
			return n
		case '/':
			if n+1 < len(b) && b[n+1] == '/' {
				i := bytes.IndexByte(b[n:], '\n')
				if i < 0 {
					return -1
				}
				if i > 0 && b[n+i-1] == '\r' {
					return n + i - 1
				}
				return n + i
			}
			if n+1 < len(b) && b[n+1] == '*' {
				i := bytes.Index(b[n+2:], []byte("*/"))
				if i < 0 || bytes.IndexByte(b[n:n+2+i], '\n') >= 0 {
					return -1
				}
				n += 2 + i + 2
				continue
			}
			return -1
		default:
			return -1
		}
	}
	return -1
}

// remove deletes the target member of o, with its comma and, when the
// member had its line(s) to itself, those lines.
func (e *editor) remove(b []byte, o *object) []byte {
	m := o.target
	start, end := m.keyStart, m.valEnd
	if m.comma >= 0 {
		end = m.comma + 1
	}
	// Whole lines: from the start of the key's line when only whitespace
	// precedes the key, to the end of the line when only whitespace follows.
	ls := start
	for ls > 0 && (b[ls-1] == ' ' || b[ls-1] == '\t') {
		ls--
	}
	le := end
	for le < len(b) && (b[le] == ' ' || b[le] == '\t') {
		le++
	}
	if (ls == 0 || b[ls-1] == '\n') && le < len(b) && (b[le] == '\n' || b[le] == '\r') {
		start = ls
		if b[le] == '\r' && le+1 < len(b) && b[le+1] == '\n' {
			le++
		}
		end = le + 1
	} else if m.comma >= 0 {
		end = le // eat the spaces after the comma on the same line
	}
	if m.comma < 0 && o.prevComma >= 0 {
		// The last member goes: its predecessor's comma must go too
		// (strict JSON readers reject a trailing comma).
		out := splice(b, start, end, nil)
		return splice(out, o.prevComma, o.prevComma+1, nil)
	}
	if o.count == 1 {
		inner := b[o.open+1 : o.close]
		rest := make([]byte, 0, len(inner))
		rest = append(rest, b[o.open+1:start]...)
		rest = append(rest, b[end:o.close]...)
		if len(bytes.TrimSpace(rest)) == 0 {
			// Nothing but space left: an empty object.
			return splice(b, o.open+1, o.close, nil)
		}
	}
	return splice(b, start, end, nil)
}

func splice(b []byte, start, end int, repl []byte) []byte {
	out := make([]byte, 0, len(b)-(end-start)+len(repl))
	out = append(out, b[:start]...)
	out = append(out, repl...)
	return append(out, b[end:]...)
}

// quote encodes s as a JSON string without HTML escaping.
func quote(s string) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(buf.String(), "\n")
}

// String returns s as a JSON string value (no HTML escaping).
func String(s string) []byte { return []byte(quote(s)) }
