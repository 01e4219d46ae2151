package jsonedit

import (
	"errors"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func p(s string) []string { return strings.Split(s, ".") }

func TestEdit(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   string
		ops  []Op
		want string
	}{
		{
			name: "replace keeps comments and trailing comma",
			in:   "{\n  // servers\n  \"a\": \"old\", /* c */\n  \"b\": 1,\n}\n",
			ops:  []Op{Set(p("a"), String("new"))},
			want: "{\n  // servers\n  \"a\": \"new\", /* c */\n  \"b\": 1,\n}\n",
		},
		{
			name: "create nested in empty root",
			in:   "{}",
			ops:  []Op{Set(p("x.y"), String("v"))},
			want: `{"x":{"y":"v"}}`,
		},
		{
			name: "create nested in multi-line root with tabs and CRLF",
			in:   "{\r\n\t\"a\": 1\r\n}\r\n",
			ops:  []Op{Set(p("x.y"), String("v"))},
			want: "{\r\n\t\"a\": 1,\r\n\t\"x\": {\r\n\t\t\"y\": \"v\"\r\n\t}\r\n}\r\n",
		},
		{
			name: "create after a trailing comma keeps the style",
			in:   "{\n    \"a\": 1,\n}\n",
			ops:  []Op{Set(p("b"), String("v"))},
			want: "{\n    \"a\": 1,\n    \"b\": \"v\",\n}\n",
		},
		{
			name: "create after a line comment",
			in:   "{\n  \"a\": 1 // one\n}\n",
			ops:  []Op{Set(p("b"), []byte("2"))},
			want: "{\n  \"a\": 1, // one\n  \"b\": 2\n}\n",
		},
		{
			name: "create in empty nested object",
			in:   "{\n  \"s\": {}\n}",
			ops:  []Op{Set(p("s.k"), String("v"))},
			want: "{\n  \"s\": {\n    \"k\": \"v\"\n  }\n}",
		},
		{
			name: "inline object",
			in:   `{"s": {"a": 1}}`,
			ops:  []Op{Set(p("s.b"), []byte("2"))},
			want: `{"s": {"a": 1, "b": 2}}`,
		},
		{
			name: "delete last member removes the comma before it",
			in:   "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
			ops:  []Op{Delete(p("b"))},
			want: "{\n  \"a\": 1\n}\n",
		},
		{
			name: "delete first member",
			in:   "{\n  \"a\": 1,\n  \"b\": 2\n}\n",
			ops:  []Op{Delete(p("a"))},
			want: "{\n  \"b\": 2\n}\n",
		},
		{
			name: "delete only member",
			in:   "{\n  \"h\": {\n    \"A\": \"x\"\n  }\n}\n",
			ops:  []Op{Delete(p("h.A"))},
			want: "{\n  \"h\": {}\n}\n",
		},
		{
			name: "delete missing is no change",
			in:   "{\"a\":1}",
			ops:  []Op{Delete(p("b.c"))},
			want: "{\"a\":1}",
		},
		{
			name: "BOM kept, escaped key found, unicode kept",
			in:   "\xEF\xBB\xBF{\"\\u0061\": \"é\", \"z\": \"日本\"}",
			ops:  []Op{Set(p("a"), String("ü"))},
			want: "\xEF\xBB\xBF{\"\\u0061\": \"ü\", \"z\": \"日本\"}",
		},
		{
			name: "set default does not overwrite",
			in:   `{"a":{"u":1}}`,
			ops:  []Op{SetDefault(p("a"), []byte(`{"u":2}`)), Set(p("a.h"), String("x"))},
			want: `{"a":{"u":1,"h":"x"}}`,
		},
		{
			name: "several ops in one sub-object",
			in:   "{\n  \"m\": {\n    \"api\": {\n      \"url\": \"u\",\n      \"headers\": {\n        \"Authorization\": \"Bearer x\"\n      }\n    }\n  }\n}\n",
			ops:  []Op{Set(p("m.api.headersHelper"), String("b headers")), Delete(p("m.api.headers.Authorization"))},
			want: "{\n  \"m\": {\n    \"api\": {\n      \"url\": \"u\",\n      \"headers\": {},\n      \"headersHelper\": \"b headers\"\n    }\n  }\n}\n",
		},
		{
			name: "object value indented",
			in:   "{\n  \"m\": {\n    \"x\": 1\n  }\n}",
			ops:  []Op{Set(p("m.api"), []byte(`{"type":"http","url":"u"}`))},
			want: "{\n  \"m\": {\n    \"x\": 1,\n    \"api\": {\n      \"type\": \"http\",\n      \"url\": \"u\"\n    }\n  }\n}",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := Edit([]byte(tt.in), tt.ops...)
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, string(got)); diff != "" {
				t.Errorf("Edit (-want +got):\n%s", diff)
			}
			if err := Validate(got); err != nil {
				t.Errorf("output does not parse: %v", err)
			}
			again, err := Edit(got, tt.ops...)
			if err != nil {
				t.Fatal(err)
			}
			if string(again) != string(got) {
				t.Errorf("second run changed the output:\n%s", again)
			}
		})
	}
}

func TestEditErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		in        string
		path      string
		line, col int
		msg       string
	}{
		{"syntax error far from the path", "{\n  \"a\": 1,\n  \"b\": [1 2]\n}", "a", 3, 11, "expecting ','"},
		{"root not an object", "[1]", "a", 1, 1, "not an object"},
		{"through a string", "{\n  \"a\": \"s\"\n}", "a.b", 2, 8, `"a" is not an object`},
		{"unterminated", "{\"a\": \"x", "a", 1, 7, "unterminated string"},
		{"comment unterminated", "{/* x", "a", 1, 2, "unterminated comment"},
		{"duplicate key on path", `{"a":1,"a":2}`, "a", 1, 8, "duplicate key"},
		{"bad number", `{"a":01}`, "b", 1, 6, "invalid number"},
		{"garbage after", `{} x`, "b", 1, 4, "after the top-level value"},
		{"control character", "{\"a\":\"\t\"}", "b", 1, 7, "control character"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := Edit([]byte(tt.in), Set(p(tt.path), String("v")))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("err = %v, want *SyntaxError", err)
			}
			if se.Line != tt.line || se.Col != tt.col || !strings.Contains(se.Msg, tt.msg) {
				t.Errorf("err = %v, want line %d, column %d: ...%s...", err, tt.line, tt.col, tt.msg)
			}
		})
	}
}

func TestRequire(t *testing.T) {
	t.Parallel()
	_, err := Edit([]byte(`{"m":{}}`), Require(p("m.api")), Set(p("m.api.h"), String("x")))
	var nf *NotFoundError
	if !errors.As(err, &nf) || strings.Join(nf.Path, ".") != "m.api" {
		t.Fatalf("err = %v, want not found m.api", err)
	}
}

func TestGet(t *testing.T) {
	t.Parallel()
	v, ok, err := Get([]byte(`{"a": {"b": /*x*/ [1, 2] }}`), p("a.b"))
	if err != nil || !ok || string(v) != "[1, 2]" {
		t.Fatalf("Get = %q, %v, %v", v, ok, err)
	}
}
