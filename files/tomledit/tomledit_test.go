package tomledit

import (
	"strings"
	"testing"
)

var api = []string{"mcp_servers", "api"}

func TestSet(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in   string
		table, key []string
		value      string
		want       string
	}{
		{
			name:  "a multi-line string that looks like a table is a string",
			in:    "[mcp_servers.api]\nurl = \"u\"\nnote = \"\"\"\n[not.a.table]\nx = 1\n\"\"\"\n\n[other]\ny = 2\n",
			table: api, key: []string{"bearer"}, value: `"t"`,
			want: "[mcp_servers.api]\nurl = \"u\"\nnote = \"\"\"\n[not.a.table]\nx = 1\n\"\"\"\nbearer = \"t\"\n\n[other]\ny = 2\n",
		},
		{
			name:  "replace keeps comments, spacing and the line's place",
			in:    "# mine\n[mcp_servers.api]  # srv\n  url   =   \"old\"   # the url\nz = 1\n",
			table: api, key: []string{"url"}, value: `"new"`,
			want: "# mine\n[mcp_servers.api]  # srv\n  url   =   \"new\"   # the url\nz = 1\n",
		},
		{
			name:  "other headers of an inline table stay",
			in:    "[mcp_servers.api]\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\" }\n",
			table: api, key: []string{"http_headers", "Authorization"}, value: `"Bearer t"`,
			want: "[mcp_servers.api]\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\", Authorization = \"Bearer t\" }\n",
		},
		{
			name:  "headers as a sub-table",
			in:    "[mcp_servers.api]\nurl = \"u\"\n\n[mcp_servers.api.http_headers]\nX-Team = \"a\"\nAuthorization = \"Bearer old\"\n",
			table: api, key: []string{"http_headers", "Authorization"}, value: `"Bearer t"`,
			want: "[mcp_servers.api]\nurl = \"u\"\n\n[mcp_servers.api.http_headers]\nX-Team = \"a\"\nAuthorization = \"Bearer t\"\n",
		},
		{
			name:  "a server written inline",
			in:    "[mcp_servers]\napi = { url = \"u\" }\n",
			table: api, key: []string{"bearer"}, value: `"t"`,
			want: "[mcp_servers]\napi = { url = \"u\", bearer = \"t\" }\n",
		},
		{
			name:  "a server written with dotted keys",
			in:    "[mcp_servers]\napi.url = \"u\"\n",
			table: api, key: []string{"bearer"}, value: `"t"`,
			want: "[mcp_servers]\napi.url = \"u\"\napi.bearer = \"t\"\n",
		},
		{
			name:  "a new table at the end, CRLF kept, no final newline",
			in:    "a = 1\r\n[b]\r\nc = 2",
			table: api, key: []string{"url"}, value: `"u"`,
			want: "a = 1\r\n[b]\r\nc = 2\r\n\r\n[mcp_servers.api]\r\nurl = \"u\"\r\n",
		},
		{
			name:  "a new key after the last key, before a sub-table",
			in:    "[mcp_servers.api]\nurl = \"u\"\n\n[mcp_servers.api.env]\nX = \"1\"\n",
			table: api, key: []string{"command"}, value: `"/b"`,
			want: "[mcp_servers.api]\nurl = \"u\"\ncommand = \"/b\"\n\n[mcp_servers.api.env]\nX = \"1\"\n",
		},
		{
			name:  "into an empty file",
			in:    "",
			table: api, key: []string{"url"}, value: `"u"`,
			want: "[mcp_servers.api]\nurl = \"u\"\n",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			d, err := Parse([]byte(tc.in))
			if err != nil {
				t.Fatal(err)
			}
			nd, err := d.Set(tc.table, tc.key, tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if got := string(nd.Bytes()); got != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

func TestDelete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in string
		path     []string
		want     string
	}{
		{"a line", "[mcp_servers.api]\nurl = \"u\"\nhttp_headers = { Authorization = \"Bearer t\" }  # broker\nz = 1\n", []string{"mcp_servers", "api", "http_headers"}, "[mcp_servers.api]\nurl = \"u\"\nz = 1\n"},
		{"the last in an inline table", "[s]\nh = { A = \"1\", B = \"2\" }\n", []string{"s", "h", "B"}, "[s]\nh = { A = \"1\" }\n"},
		{"the first in an inline table", "[s]\nh = { A = \"1\", B = \"2\" }\n", []string{"s", "h", "A"}, "[s]\nh = { B = \"2\" }\n"},
		{"the only one in an inline table", "[s]\nh = { A = \"1\" }\n", []string{"s", "h", "A"}, "[s]\nh = { }\n"},
		{"not after a multi-line string's fake key", "[s]\nv = '''\nk = 1\n'''\nk = 2\n", []string{"s", "k"}, "[s]\nv = '''\nk = 1\n'''\n"},
	} {
		d, err := Parse([]byte(tc.in))
		if err != nil {
			t.Fatal(err)
		}
		nd, ok, err := d.Delete(tc.path...)
		if err != nil || !ok {
			t.Fatalf("%s: Delete = %v, %v", tc.name, ok, err)
		}
		if got := string(nd.Bytes()); got != tc.want {
			t.Errorf("%s: got:\n%s\nwant:\n%s", tc.name, got, tc.want)
		}
	}
}

func TestArrayTables(t *testing.T) {
	t.Parallel()
	in := "[[p.targets]]\nclient = \"a\"\n\n[[p.targets]]\nclient = \"b\"\n# end\n"
	d, err := Parse([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if n := d.ArrayLen("p", "targets"); n != 2 {
		t.Fatalf("ArrayLen = %d", n)
	}
	if v, _ := d.GetInArray([]string{"p", "targets"}, 1, "client"); v != "b" {
		t.Fatalf("GetInArray = %v", v)
	}
	nd, err := d.SetInArray([]string{"p", "targets"}, 1, []string{"mode"}, `"helper"`)
	if err != nil {
		t.Fatal(err)
	}
	want := "[[p.targets]]\nclient = \"a\"\n\n[[p.targets]]\nclient = \"b\"\nmode = \"helper\"\n# end\n"
	if string(nd.Bytes()) != want {
		t.Errorf("got:\n%s", nd.Bytes())
	}
}

func TestSyntaxErrorHasPlace(t *testing.T) {
	t.Parallel()
	_, err := Parse([]byte("a = 1\n[mcp_servers.api\n"))
	se, ok := err.(*SyntaxError)
	if !ok || se.Line != 2 {
		t.Fatalf("err = %#v", err)
	}
	if _, err := Parse([]byte("a = 1\na = 2\n")); err == nil || !strings.Contains(err.Error(), "2:") {
		t.Errorf("a duplicate key: %v", err)
	}
}
