package integrations

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/tomledit"
)

func TestCodexEdges(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, in, want, err string
	}{
		{
			name: "bridge goes before a sub-table, url goes",
			in:   "[mcp_servers.api]\nurl = \"u\"\n\n[mcp_servers.api.env]\nX = \"1\"\n",
			want: "[mcp_servers.api]\ncommand = \"/usr/local/bin/broker\"\nargs = [\"bridge\", \"api\"]\n\n[mcp_servers.api.env]\nX = \"1\"\n",
		},
		{
			name: "no final newline",
			in:   "[mcp_servers.api]\nstartup_timeout_sec = 20",
			want: "[mcp_servers.api]\nstartup_timeout_sec = 20\ncommand = \"/usr/local/bin/broker\"\nargs = [\"bridge\", \"api\"]",
		},
		{
			name: "inline definition edited in place",
			in:   "[mcp_servers]\napi = { url = \"u\" }\n",
			want: "[mcp_servers]\napi = { command = \"/usr/local/bin/broker\", args = [\"bridge\", \"api\"] }\n",
		},
		{
			name: "a multi-line string that holds a table header stays a string",
			in:   "[mcp_servers.api]\nurl = \"u\"\nnote = \"\"\"\n[mcp_servers.other]\n\"\"\"\n",
			want: "[mcp_servers.api]\nnote = \"\"\"\n[mcp_servers.other]\n\"\"\"\ncommand = \"/usr/local/bin/broker\"\nargs = [\"bridge\", \"api\"]\n",
		},
		{
			name: "an empty file is refused",
			in:   "\n",
			err:  "config.toml:1:1: the file exists but is empty",
		},
		{
			name: "broken TOML names line and column",
			in:   "a = 1\n[mcp_servers.api\n",
			err:  "config.toml:2:",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			env := testEnv(t, nil)
			tg, err := New(config.Target{Client: "codex", Server: "api", Mode: "bridge"}, env)
			if err != nil {
				t.Fatal(err)
			}
			os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
			os.WriteFile(tg.Path(), []byte(tc.in), 0o600)
			_, err = tg.Apply(context.Background(), token.Token{}, nil)
			got, _ := os.ReadFile(tg.Path())
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if string(got) != tc.in {
					t.Error("the file changed")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tc.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, tc.want)
			}
		})
	}
}

// An APIM subscription key beside the Authorization is the common case:
// every mode but bridge keeps it, logout takes only the token.
func TestCodexKeepsOtherHeaders(t *testing.T) {
	t.Parallel()
	own := &memOwner{}
	in := "[mcp_servers.api]\nurl = \"u\"\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\" }  # APIM\n"
	for _, tc := range []struct{ mode, want string }{
		{"header", "[mcp_servers.api]\nurl = \"u\"\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\", Authorization = \"Bearer " + testToken.Value.Reveal() + "\" }  # APIM\n"},
		{"helper", "[mcp_servers.api]\nurl = \"u\"\nhttp_headers = { \"Ocp-Apim-Subscription-Key\" = \"k\" }  # APIM\nhttp_headers_helper = \"/usr/local/bin/broker headers --profile data\"\n"},
	} {
		env := testEnv(t, nil)
		tg, err := New(config.Target{Client: "codex", Server: "api", Mode: tc.mode, Profile: "data"}, env)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
		os.WriteFile(tg.Path(), []byte(in), 0o600)
		if _, err := tg.Apply(context.Background(), testToken, own); err != nil {
			t.Fatalf("%s: %v", tc.mode, err)
		}
		if got, _ := os.ReadFile(tg.Path()); string(got) != tc.want {
			t.Errorf("%s: got:\n%s\nwant:\n%s", tc.mode, got, tc.want)
		}
		if _, err := tg.Remove(context.Background(), own); err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(tg.Path())
		if strings.Contains(string(got), "Bearer") || !strings.Contains(string(got), `"Ocp-Apim-Subscription-Key" = "k"`) {
			t.Errorf("%s: after Remove:\n%s", tc.mode, got)
		}
	}
	env := testEnv(t, nil)
	tg, _ := New(config.Target{Client: "codex", Server: "api", Mode: "bridge"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	os.WriteFile(tg.Path(), []byte(in), 0o600)
	_, err := tg.Apply(context.Background(), testToken, nil)
	if err == nil || !strings.Contains(err.Error(), "other http_headers") {
		t.Fatalf("bridge: err = %v", err)
	}
	var fe *FileError
	if errors.As(err, &fe) {
		t.Errorf("not a syntax error: %v", err)
	}
}

// The line editor took a "[" at the start of a line inside a multi-line
// string for the end of the table: the token landed inside the string,
// and logout left it there.
func TestCodexTokenNeverInsideAString(t *testing.T) {
	t.Parallel()
	own := &memOwner{}
	env := testEnv(t, nil)
	tg, _ := New(config.Target{Client: "codex", Server: "api", Mode: "header"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	in := "[mcp_servers.api]\nurl = \"u\"\ndescription = \"\"\"\nSee\n[the wiki]\n\"\"\"\n"
	os.WriteFile(tg.Path(), []byte(in), 0o600)
	if _, err := tg.Apply(context.Background(), testToken, own); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(tg.Path())
	d, err := tomledit.Parse(got)
	if err != nil {
		t.Fatal(err)
	}
	if desc, _ := d.Get("mcp_servers", "api", "description"); desc != "See\n[the wiki]\n" {
		t.Errorf("the string changed: %q", desc)
	}
	if a, _ := d.Get("mcp_servers", "api", "http_headers", "Authorization"); a != "Bearer "+testToken.Value.Reveal() {
		t.Errorf("Authorization = %v in\n%s", a, got)
	}
	if _, err := tg.Remove(context.Background(), own); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(tg.Path()); string(got) != in {
		t.Errorf("after Remove:\n%s\nwant:\n%s", got, in)
	}
}
