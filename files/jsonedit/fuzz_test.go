package jsonedit

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/google/go-cmp/cmp"
	"github.com/tailscale/hujson"
)

// FuzzSet checks the editor against tailscale/hujson, the reference: for
// any input, either an error with the input untouched, or an output that
// hujson parses and that means the input with the one change. When the
// value already existed, the output must equal hujson's Patch + Pack byte
// for byte (everything outside the value is the input's).
func FuzzSet(f *testing.F) {
	seeds := []string{
		"{}",
		`{"a":1}`,
		"{\n  // c\n  \"a\": {\"b\": \"x\",},\n}\n",
		"\xEF\xBB\xBF{\r\n\t\"a\": {\r\n\t\t\"b\": [1, 2, {\"c\": null}]\r\n\t}\r\n}\r\n",
		"{\"mcpServers\": {\"api\": {\"type\": \"http\", \"url\": \"u\", \"headers\": {\"Authorization\": \"Bearer x\"}}}}",
		"{ /* x */ \"a\" /* y */ : /* z */ 1 /* w */ , }",
		`{"a": "\u00e9\"", "b": -1.5e+3, "c": [true, false], "d": {}}`,
		"{\"a\":1 // end\n}",
	}
	for i, s := range seeds {
		f.Add([]byte(s), "a.b", `"v"`, i%2 == 0)
		f.Add([]byte(s), "mcpServers.api.headers.Authorization", `"Bearer t"`, false)
		f.Add([]byte(s), "a", `{"x":[1]}`, false)
	}
	f.Fuzz(func(t *testing.T, in []byte, path, value string, del bool) {
		keys := strings.Split(path, ".")
		if len(keys) > 4 || !utf8.ValidString(path) || !json.Valid([]byte(value)) {
			return
		}
		orig := bytes.Clone(in)
		op := Set(keys, []byte(value))
		if del {
			op = Delete(keys)
		}
		out, err := Edit(in, op)
		if !bytes.Equal(in, orig) {
			t.Fatalf("input modified")
		}
		if err != nil {
			return
		}
		body := bytes.TrimPrefix(in, bom)
		ref, err := parseRef(body)
		if err != nil {
			t.Fatalf("Edit accepted what hujson rejects: %v\ninput: %q", err, in)
		}
		if bytes.HasPrefix(in, bom) != bytes.HasPrefix(out, bom) {
			t.Fatalf("BOM not kept")
		}
		outBody := bytes.TrimPrefix(out, bom)
		got, err := parseRef(outBody)
		if err != nil {
			t.Fatalf("output does not parse: %v\ninput:  %q\noutput: %q", err, in, out)
		}

		ptr := pointer(keys)
		_, existed, _ := Get(in, keys)
		var patch string
		switch {
		case del && !existed:
			if !bytes.Equal(out, in) {
				t.Fatalf("deleting a missing value changed the file")
			}
			return
		case del:
			patch = `[{"op":"remove","path":` + quote(ptr) + `}]`
			// Deleting only removes bytes: every byte left is the input's.
			if !subsequence(out, in) {
				t.Fatalf("delete changed bytes outside the member:\ninput:  %q\noutput: %q", in, out)
			}
		case existed:
			patch = `[{"op":"replace","path":` + quote(ptr) + `,"value":` + value + `}]`
		default:
			patch = "" // created: compared by meaning below
		}
		if patch != "" {
			if err := ref.Patch([]byte(patch)); err != nil {
				t.Fatalf("hujson patch %s: %v", patch, err)
			}
			if existed && !del && !strings.ContainsAny(strings.TrimSpace(value), "{[") {
				if want := ref.Pack(); !bytes.Equal(want, outBody) {
					t.Fatalf("output differs from hujson Patch+Pack:\n%s", cmp.Diff(string(want), string(outBody)))
				}
			}
			if diff := cmp.Diff(meaning(t, ref.Pack()), meaning(t, outBody)); diff != "" {
				t.Fatalf("meaning differs (-hujson +ours):\n%s\ninput: %q\noutput: %q", diff, in, out)
			}
			return
		}
		// Created: only bytes were added; every input byte is still there
		// in order (but for the blank inside an empty object, which is
		// laid out anew).
		if !subsequence(noSpace(in), noSpace(out)) {
			t.Fatalf("create changed bytes of the input:\ninput:  %q\noutput: %q", in, out)
		}
		// And the output means the input with the nested value added.
		want := meaning(t, ref.Pack())
		m := want.(map[string]any)
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		var v any
		_ = json.Unmarshal([]byte(value), &v)
		m[keys[len(keys)-1]] = v
		if diff := cmp.Diff(want, meaning(t, got.Pack())); diff != "" {
			t.Fatalf("meaning differs (-want +got):\n%s\ninput: %q\noutput: %q", diff, in, out)
		}
	})
}

// parseRef parses with hujson; hujson requires a line comment to end with
// a newline, which VS Code and this package do not.
func parseRef(b []byte) (hujson.Value, error) {
	v, err := hujson.Parse(b)
	if err != nil {
		v, err = hujson.Parse(append(bytes.Clone(b), '\n'))
	}
	return v, err
}

func meaning(t *testing.T, b []byte) any {
	t.Helper()
	std, err := hujson.Standardize(bytes.Clone(b))
	if err != nil {
		t.Fatalf("standardize: %v", err)
	}
	var v any
	if err := json.Unmarshal(std, &v); err != nil {
		t.Fatalf("unmarshal: %v", err)
	}
	return v
}

func pointer(keys []string) string {
	var sb strings.Builder
	for _, k := range keys {
		sb.WriteByte('/')
		sb.WriteString(strings.NewReplacer("~", "~0", "/", "~1").Replace(k))
	}
	return sb.String()
}

// subsequence reports whether a is b with some bytes left out.
func subsequence(a, b []byte) bool {
	i := 0
	for j := 0; j < len(b) && i < len(a); j++ {
		if a[i] == b[j] {
			i++
		}
	}
	return i == len(a)
}

func noSpace(b []byte) []byte {
	return bytes.Map(func(r rune) rune {
		if r == ' ' || r == '\t' || r == '\n' || r == '\r' {
			return -1
		}
		return r
	}, b)
}
