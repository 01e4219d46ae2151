package jsonedit

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// maxDepth bounds nesting so that a hostile file cannot exhaust the stack.
const maxDepth = 10000

// member is one "key": value pair of an object, as byte offsets.
type member struct {
	keyStart, keyEnd int // the key's quotes included
	valStart, valEnd int
	comma            int // offset of the ',' after the value, or -1
}

// object is an object on the searched path, as byte offsets.
type object struct {
	open, close int // offsets of '{' and '}'
	count       int // number of members
	first, last member
	// target is the member named by the next path element, when present;
	// prevComma is the comma before it (-1 when it is the first member).
	target    member
	hasTarget bool
	prevComma int
	// lastPrev is the comma before the last member (-1 when it is the
	// first).
	lastPrev int
}

// scanner validates a whole JSONC document (JSON with // and /* */
// comments and trailing commas) and, on the way, records the objects along
// one path of object keys. It never allocates per value, which is what makes
// a 50 MB file cheap to edit.
type scanner struct {
	b    []byte
	path []string
	// objs[d] is the object that is the value at path[:d]; found is how
	// many of them exist (0 when the root is not an object).
	objs  []object
	found int
	// leaf is the value at the full path, when it exists.
	leafStart, leafEnd int
	hasLeaf            bool
}

// scan validates b and locates path in it.
func scan(b []byte, path []string) (*scanner, error) {
	s := &scanner{b: b, path: path, objs: make([]object, len(path)+1)}
	n, err := s.skipSpace(0)
	if err != nil {
		return nil, err
	}
	if n == len(b) {
		return nil, s.errorf(n, "empty document")
	}
	if b[n] != '{' {
		return nil, s.errorf(n, "the top-level value is not an object")
	}
	n, err = s.value(n, 0, true)
	if err != nil {
		return nil, err
	}
	n, err = s.skipSpace(n)
	if err != nil {
		return nil, err
	}
	if n != len(b) {
		return nil, s.errorf(n, "unexpected %s after the top-level value", describe(b[n:]))
	}
	return s, nil
}

// value validates the value at n and returns the offset after it. onPath
// reports whether the value is the one at path[:depth].
func (s *scanner) value(n, depth int, onPath bool) (int, error) {
	b := s.b
	if n >= len(b) {
		return n, s.errorf(n, "unexpected end of file, expecting a value")
	}
	switch c := b[n]; {
	case c == '{':
		if depth >= maxDepth {
			return n, s.errorf(n, "nested too deeply")
		}
		return s.object(n, depth, onPath)
	case c == '[':
		if depth >= maxDepth {
			return n, s.errorf(n, "nested too deeply")
		}
		return s.array(n, depth)
	case c == '"':
		return s.str(n)
	case c == '-' || (c >= '0' && c <= '9'):
		return s.number(n)
	case c == 't':
		return s.literal(n, "true")
	case c == 'f':
		return s.literal(n, "false")
	case c == 'n':
		return s.literal(n, "null")
	default:
		return n, s.errorf(n, "unexpected %s, expecting a value", describe(b[n:]))
	}
}

func (s *scanner) object(n, depth int, onPath bool) (int, error) {
	b := s.b
	var o *object
	var want string
	search := false // looking for a key in this object
	if onPath {
		o = &s.objs[depth]
		*o = object{open: n, prevComma: -1, lastPrev: -1}
		s.found = depth + 1
		if depth < len(s.path) {
			want, search = s.path[depth], true
		}
	}
	n++
	prevComma := -1
	count := 0
	for {
		var err error
		if n, err = s.skipSpace(n); err != nil {
			return n, err
		}
		if n >= len(b) {
			return n, s.errorf(n, "unexpected end of file in an object")
		}
		if b[n] == '}' {
			if o != nil {
				o.close = n
				o.count = count
			}
			return n + 1, nil
		}
		if count > 0 && prevComma < 0 {
			return n, s.errorf(n, "unexpected %s, expecting ',' or '}'", describe(b[n:]))
		}
		if b[n] != '"' {
			return n, s.errorf(n, "unexpected %s, expecting a key string", describe(b[n:]))
		}
		m := member{keyStart: n, comma: -1}
		if n, err = s.str(n); err != nil {
			return n, err
		}
		m.keyEnd = n
		if n, err = s.skipSpace(n); err != nil {
			return n, err
		}
		if n >= len(b) || b[n] != ':' {
			return n, s.errorf(n, "unexpected %s after a key, expecting ':'", describe(b[n:]))
		}
		if n, err = s.skipSpace(n + 1); err != nil {
			return n, err
		}
		m.valStart = n
		isTarget := search && keyEquals(b[m.keyStart:m.keyEnd], want)
		if isTarget && o.hasTarget {
			return m.keyStart, s.errorf(m.keyStart, "duplicate key %q", want)
		}
		childOnPath := isTarget
		if isTarget && depth+1 < len(s.path) && n < len(b) && b[n] != '{' {
			if err := s.checkValue(n, depth+1); err != nil {
				return n, err
			}
			return n, s.errorf(n, "%q is not an object", want)
		}
		if n, err = s.value(n, depth+1, childOnPath); err != nil {
			return n, err
		}
		m.valEnd = n
		if n, err = s.skipSpace(n); err != nil {
			return n, err
		}
		if n < len(b) && b[n] == ',' {
			m.comma = n
			n++
		}
		if o != nil {
			if count == 0 {
				o.first = m
			}
			o.last = m
			o.lastPrev = prevComma
			if isTarget {
				o.target, o.hasTarget, o.prevComma = m, true, prevComma
				if depth+1 == len(s.path) {
					s.leafStart, s.leafEnd, s.hasLeaf = m.valStart, m.valEnd, true
				}
			}
		}
		prevComma = m.comma
		count++
	}
}

// checkValue validates the value at n (to report a syntax error before a
// type error, which would be misleading).
func (s *scanner) checkValue(n, depth int) error {
	_, err := s.value(n, depth, false)
	return err
}

func (s *scanner) array(n, depth int) (int, error) {
	b := s.b
	n++
	count := 0
	comma := false
	for {
		var err error
		if n, err = s.skipSpace(n); err != nil {
			return n, err
		}
		if n >= len(b) {
			return n, s.errorf(n, "unexpected end of file in an array")
		}
		if b[n] == ']' {
			return n + 1, nil
		}
		if count > 0 && !comma {
			return n, s.errorf(n, "unexpected %s, expecting ',' or ']'", describe(b[n:]))
		}
		if n, err = s.value(n, depth+1, false); err != nil {
			return n, err
		}
		if n, err = s.skipSpace(n); err != nil {
			return n, err
		}
		comma = n < len(b) && b[n] == ','
		if comma {
			n++
		}
		count++
	}
}

// str validates the string starting at the quote at n.
func (s *scanner) str(n int) (int, error) {
	b := s.b
	start := n
	n++
	for {
		// Fast path: plain bytes, eight at a time, then one by one.
		for n+8 <= len(b) && !hasSpecial(binary.LittleEndian.Uint64(b[n:])) {
			n += 8
		}
		for n < len(b) && !isSpecial[b[n]] {
			n++
		}
		if n >= len(b) {
			return n, s.errorf(start, "unterminated string")
		}
		switch c := b[n]; {
		case c == '"':
			return n + 1, nil
		case c < 0x20:
			return n, s.errorf(n, "control character %s in a string", describe(b[n:]))
		}
		// An escape.
		if n+1 >= len(b) {
			return n, s.errorf(start, "unterminated string")
		}
		switch b[n+1] {
		case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
			n += 2
		case 'u':
			if n+6 > len(b) {
				return n, s.errorf(n, "invalid \\u escape")
			}
			for _, h := range b[n+2 : n+6] {
				if !isHex(h) {
					return n, s.errorf(n, "invalid \\u escape")
				}
			}
			n += 6
		default:
			return n, s.errorf(n, "invalid escape %s", describe(b[n:]))
		}
	}
}

// isSpecial marks the bytes that end a string's plain run: the quote, the
// backslash and control characters.
var isSpecial = func() (t [256]bool) {
	for c := 0; c < 0x20; c++ {
		t[c] = true
	}
	t['"'], t['\\'] = true, true
	return t
}()

const (
	lows  = 0x0101010101010101
	highs = 0x8080808080808080
)

// hasSpecial reports whether any of the eight bytes in w is '"', '\\' or
// below 0x20 (the classic "has zero byte" test, per byte class).
func hasSpecial(w uint64) bool {
	quote := w ^ (lows * '"')
	bslash := w ^ (lows * '\\')
	return ((quote-lows)&^quote|(bslash-lows)&^bslash|(w-lows*0x20)&^w)&highs != 0
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// number validates a JSON number at n.
func (s *scanner) number(n int) (int, error) {
	b := s.b
	start := n
	if b[n] == '-' {
		n++
	}
	switch {
	case n < len(b) && b[n] == '0':
		n++
	case n < len(b) && b[n] >= '1' && b[n] <= '9':
		for n < len(b) && isDigit(b[n]) {
			n++
		}
	default:
		return n, s.errorf(start, "invalid number")
	}
	if n < len(b) && b[n] == '.' {
		n++
		if n >= len(b) || !isDigit(b[n]) {
			return n, s.errorf(start, "invalid number")
		}
		for n < len(b) && isDigit(b[n]) {
			n++
		}
	}
	if n < len(b) && (b[n] == 'e' || b[n] == 'E') {
		n++
		if n < len(b) && (b[n] == '+' || b[n] == '-') {
			n++
		}
		if n >= len(b) || !isDigit(b[n]) {
			return n, s.errorf(start, "invalid number")
		}
		for n < len(b) && isDigit(b[n]) {
			n++
		}
	}
	if n < len(b) && isLiteralByte(b[n]) {
		return n, s.errorf(start, "invalid number")
	}
	return n, nil
}

// isLiteralByte reports whether c may continue a bare word (as hujson
// reads them), so that "1x" or "truex" are errors and not two tokens.
func isLiteralByte(c byte) bool {
	return c == '-' || c == '+' || c == '.' || (c >= 'a' && c <= 'z') ||
		(c >= 'A' && c <= 'Z') || isDigit(c)
}

func (s *scanner) literal(n int, word string) (int, error) {
	if !bytes.HasPrefix(s.b[n:], []byte(word)) {
		return n, s.errorf(n, "invalid literal, expecting %s", word)
	}
	n += len(word)
	if n < len(s.b) && isLiteralByte(s.b[n]) {
		return n, s.errorf(n-len(word), "invalid literal")
	}
	return n, nil
}

// skipSpace skips whitespace and comments from n.
func (s *scanner) skipSpace(n int) (int, error) {
	b := s.b
	for n < len(b) {
		switch b[n] {
		case ' ', '\t', '\r', '\n':
			n++
			continue
		case '/':
			return skipSpace(b, n, s.errorf)
		}
		return n, nil
	}
	return n, nil
}

func skipSpace(b []byte, n int, errorf func(int, string, ...any) error) (int, error) {
	for n < len(b) {
		switch b[n] {
		case ' ', '\t', '\r', '\n':
			n++
		case '/':
			if n+1 >= len(b) {
				return n, errorf(n, "unexpected '/'")
			}
			switch b[n+1] {
			case '/':
				end := bytes.IndexByte(b[n:], '\n')
				if end < 0 {
					end = len(b)
				} else {
					end += n
				}
				if err := checkComment(b, n, end, true, errorf); err != nil {
					return n, err
				}
				n = end
			case '*':
				i := bytes.Index(b[n+2:], []byte("*/"))
				if i < 0 {
					return n, errorf(n, "unterminated comment")
				}
				end := n + 2 + i + 2
				if err := checkComment(b, n, end, false, errorf); err != nil {
					return n, err
				}
				n = end
			default:
				return n, errorf(n, "unexpected '/'")
			}
		default:
			return n, nil
		}
	}
	return n, nil
}

// checkComment rejects what hujson rejects in comments: invalid UTF-8, and
// line separators in a line comment.
func checkComment(b []byte, start, end int, line bool, errorf func(int, string, ...any) error) error {
	c := b[start:end]
	if !utf8.Valid(c) {
		return errorf(start, "invalid UTF-8 in a comment")
	}
	if line {
		if i := bytes.Index(c, []byte("\u2028")); i >= 0 {
			return errorf(start+i, "line separator in a line comment")
		}
		if i := bytes.Index(c, []byte("\u2029")); i >= 0 {
			return errorf(start+i, "paragraph separator in a line comment")
		}
	}
	return nil
}

// keyEquals reports whether the quoted key raw (a valid JSON string) is want.
func keyEquals(raw []byte, want string) bool {
	inner := raw[1 : len(raw)-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return string(inner) == want
	}
	var k string
	if json.Unmarshal(raw, &k) != nil {
		return false
	}
	return k == want
}

// describe names the character at the start of b for an error message.
func describe(b []byte) string {
	if len(b) == 0 {
		return "end of file"
	}
	r, size := utf8.DecodeRune(b)
	switch {
	case r == utf8.RuneError && size <= 1:
		return fmt.Sprintf("byte 0x%02x", b[0])
	case r < 0x20 || r == 0x7f:
		return fmt.Sprintf("character U+%04X", r)
	}
	return fmt.Sprintf("%q", r)
}

// SyntaxError is a problem at a place in the document: a file that does not
// parse, or a path that goes through something that is not an object.
type SyntaxError struct {
	Line, Col int // 1-based; Col counts characters
	Offset    int // byte offset in the file (after a BOM)
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

func (s *scanner) errorf(n int, format string, args ...any) error {
	return newSyntaxError(s.b, n, fmt.Sprintf(format, args...))
}

func newSyntaxError(b []byte, n int, msg string) *SyntaxError {
	if n > len(b) {
		n = len(b)
	}
	line := 1 + bytes.Count(b[:n], []byte("\n"))
	ls := bytes.LastIndexByte(b[:n], '\n') + 1
	return &SyntaxError{Line: line, Col: 1 + utf8.RuneCount(b[ls:n]), Offset: n, Msg: msg}
}
