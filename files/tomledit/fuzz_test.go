package tomledit

import (
	"fmt"
	"testing"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2"
)

// FuzzSet edits any document go-toml parses and checks the result against
// go-toml's own round trip: it parses, holds the value at the key, and
// every other value as before; deleting the key again gives the values
// of the start.
func FuzzSet(f *testing.F) {
	for _, s := range []string{
		"",
		"[mcp_servers.api]\nurl = \"u\"\n",
		"[mcp_servers.api]\nnote = \"\"\"\n[x]\nhttp_headers = 1\n\"\"\"\n[y]\n",
		"[mcp_servers.api]\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\", Authorization = \"Bearer a\" }\n",
		"[mcp_servers]\napi = { url = \"u\" }\n",
		"[mcp_servers]\napi.url = 'u' # c\n",
		"a = [1, 2,\n 3]\r\n[mcp_servers.api.http_headers]\nX = \"1\"\n",
		"[[mcp_servers.api]]\nx = 1\n",
		"mcp_servers = 1\n",
		"# only a comment",
	} {
		f.Add(s, "Authorization", "Bearer t")
	}
	f.Fuzz(func(t *testing.T, doc, key, value string) {
		if !utf8.ValidString(key) || !utf8.ValidString(value) {
			return // TOML holds only UTF-8
		}
		d, err := Parse([]byte(doc))
		if err != nil {
			return
		}
		for _, k := range [][]string{{"http_headers", key}, {key}} {
			nd, err := d.Set(api, k, String(value))
			if err != nil {
				continue // refused: the file is left as it was
			}
			var got, want map[string]any
			if err := toml.Unmarshal(nd.Bytes(), &got); err != nil {
				t.Fatalf("the result does not parse: %v\n%s", err, nd.Bytes())
			}
			toml.Unmarshal([]byte(doc), &want)
			if want == nil {
				want = map[string]any{}
			}
			path := append(pathOf(api), pathOf(k)...)
			if !apply(want, path, value, false) || fmt.Sprintf("%#v", got) != fmt.Sprintf("%#v", want) {
				t.Fatalf("set %v in\n%s\ngave\n%s", k, doc, nd.Bytes())
			}
			if _, had := d.Get(append(append([]string{}, api...), k...)...); had {
				continue
			}
			back, ok, err := nd.Delete(append(append([]string{}, api...), k...)...)
			if err != nil || !ok {
				t.Fatalf("delete after set: %v, %v\n%s", ok, err, nd.Bytes())
			}
			var again map[string]any
			toml.Unmarshal(back.Bytes(), &again)
			want = map[string]any{}
			toml.Unmarshal([]byte(doc), &want)
			apply(want, path, nil, true)
			// A table that Set created stays, empty.
			if fmt.Sprintf("%#v", pruneEmpty(again)) != fmt.Sprintf("%#v", pruneEmpty(want)) {
				t.Fatalf("delete after set of %v in\n%s\ngave\n%s", k, doc, back.Bytes())
			}
		}
	})
}

// pruneEmpty drops the empty tables under m.
func pruneEmpty(m map[string]any) map[string]any {
	for k, v := range m {
		if sub, ok := v.(map[string]any); ok {
			if len(pruneEmpty(sub)) == 0 {
				delete(m, k)
			}
		}
	}
	return m
}
