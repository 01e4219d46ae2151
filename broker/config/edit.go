package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/pelletier/go-toml/v2"

	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
)

// AddTarget adds t to profile t.Profile in the config file at path
// (created 0600 when missing), for `broker connect`. A target with the
// same client and server (for json, envfile and file: the same path) in
// that profile is updated in place (its keys
// that t sets are rewritten, the others kept), so running connect twice
// gives one target. Every other byte of the file stays as it was. It
// reports whether an existing target was updated (rather than added) and
// whether the file changed at all.
func AddTarget(ctx context.Context, path string, t Target) (updated, changed bool, err error) {
	if t.Profile == "" || t.Client == "" {
		return false, false, &Error{Path: path, Message: "a target needs a profile and a client"}
	}
	res, err := atomicfile.Update(ctx, path, func(old []byte, exists bool) ([]byte, error) {
		if len(bytes.TrimSpace(old)) > 0 {
			if _, err := parse(path, []file{{path, old}}); err != nil {
				return nil, err
			}
		}
		out, upd, err := addTarget(old, t)
		if err != nil {
			return nil, &Error{Path: path, Message: err.Error()}
		}
		if _, err := parse(path, []file{{path, out}}); err != nil {
			return nil, err
		}
		updated = upd
		return out, nil
	})
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		return false, false, &Error{Path: path, Message: fmt.Sprintf("cannot write the config file: %v", err), Hint: "check the file's and folder's permissions"}
	}
	return updated, res.Changed, err
}

// targetKeys are the keys of a target in the order they are written.
func targetKeys(t Target) [][2]string {
	var kv [][2]string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, [2]string{k, v})
		}
	}
	add("client", t.Client)
	add("server", t.Server)
	add("url", t.URL)
	add("path", t.Path)
	add("project", t.Project)
	add("mode", t.Mode)
	add("pointer", t.Pointer)
	add("template", t.Template)
	add("var", t.Var)
	add("format", t.Format)
	return kv
}

var bareKeyRE = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

func tomlKey(s string) string {
	if bareKeyRE.MatchString(s) {
		return s
	}
	return tomlString(s)
}

// tomlString writes s as a TOML basic string (JSON's escapes are valid
// TOML escapes).
func tomlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// addTarget is the line edit behind AddTarget.
func addTarget(old []byte, t Target) ([]byte, bool, error) {
	nl := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		nl = "\r\n"
	}
	lines := splitLines(old)
	header := "profiles." + tomlKey(t.Profile) + ".targets"
	// Each [[profiles.P.targets]] block: its header index and end.
	for i := 0; i < len(lines); i++ {
		if !isArrayHeader(lines[i], header) {
			continue
		}
		end := len(lines)
		for j := i + 1; j < len(lines); j++ {
			if bytes.HasPrefix(bytes.TrimSpace(lines[j]), []byte("[")) {
				end = j
				break
			}
		}
		var m map[string]any
		if toml.Unmarshal(bytes.Join(lines[i+1:end], nil), &m) != nil {
			continue
		}
		str := func(k string) string { v, _ := m[k].(string); return v }
		if str("client") != t.Client || str("server") != t.Server {
			continue
		}
		if t.Server == "" && str("path") != t.Path {
			continue // json, envfile, file: one target per file
		}
		block := lines[i+1 : end]
		for _, kv := range targetKeys(t) {
			block = setKey(block, kv[0], tomlString(kv[1]), nl)
		}
		out := append(append(append([][]byte{}, lines[:i+1]...), block...), lines[end:]...)
		return bytes.Join(out, nil), true, nil
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 {
		if !bytes.HasSuffix(old, []byte("\n")) {
			b.WriteString(nl)
		}
		b.WriteString(nl)
	}
	b.WriteString("[[" + header + "]]" + nl)
	for _, kv := range targetKeys(t) {
		b.WriteString(kv[0] + " = " + tomlString(kv[1]) + nl)
	}
	return b.Bytes(), false, nil
}

func splitLines(b []byte) [][]byte {
	var lines [][]byte
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return append(lines, b)
		}
		lines, b = append(lines, b[:i+1]), b[i+1:]
	}
	return lines
}

// isArrayHeader reports whether l is [[want]] (spaces, needless quotes
// and a trailing comment allowed).
func isArrayHeader(l []byte, want string) bool {
	s := strings.TrimSpace(string(l))
	if !strings.HasPrefix(s, "[[") {
		return false
	}
	end := strings.Index(s, "]]")
	if end < 0 {
		return false
	}
	var parts []string
	for _, p := range strings.Split(s[2:end], ".") {
		p = strings.TrimSpace(p)
		if len(p) >= 2 && (p[0] == '"' || p[0] == '\'') && p[len(p)-1] == p[0] {
			p = tomlKey(p[1 : len(p)-1])
		}
		parts = append(parts, p)
	}
	return strings.Join(parts, ".") == want
}

// setKey replaces the line of key in a block, or adds it after the last
// key line.
func setKey(block [][]byte, key, value, nl string) [][]byte {
	line := []byte(key + " = " + value + nl)
	last := -1
	for i, l := range block {
		s := strings.TrimLeft(string(l), " \t")
		if s == "" || s[0] == '#' || s[0] == '\r' || s[0] == '\n' {
			continue
		}
		last = i
		if strings.HasPrefix(s, key) && strings.HasPrefix(strings.TrimLeft(s[len(key):], " \t"), "=") {
			if !bytes.HasSuffix(l, []byte("\n")) {
				line = bytes.TrimSuffix(line, []byte(nl))
			}
			out := append([][]byte{}, block...)
			out[i] = line
			return out
		}
	}
	at := last + 1
	out := append([][]byte{}, block[:at]...)
	if at > 0 && !bytes.HasSuffix(out[at-1], []byte("\n")) {
		out[at-1] = append(bytes.Clone(out[at-1]), nl...)
	}
	out = append(out, line)
	return append(out, block[at:]...)
}
