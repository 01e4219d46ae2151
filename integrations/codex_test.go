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
			want: "[mcp_servers.api]\nstartup_timeout_sec = 20\ncommand = \"/usr/local/bin/broker\"\nargs = [\"bridge\", \"api\"]\n",
		},
		{
			name: "inline definition refused",
			in:   "[mcp_servers]\napi = { url = \"u\" }\n",
			err:  "not written as a [mcp_servers.api] table",
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
			err = tg.Apply(context.Background(), token.Token{})
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

func TestCodexHeaderRefusesOtherHeaders(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	tg, _ := New(config.Target{Client: "codex", Server: "api", Mode: "header"}, env)
	os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
	in := "[mcp_servers.api]\nurl = \"u\"\nhttp_headers = { \"X-Team\" = \"a\" }\n"
	os.WriteFile(tg.Path(), []byte(in), 0o600)
	err := tg.Apply(context.Background(), testToken)
	if err == nil || !strings.Contains(err.Error(), "other http_headers") {
		t.Fatalf("err = %v", err)
	}
	var fe *FileError
	if errors.As(err, &fe) {
		t.Errorf("not a syntax error: %v", err)
	}
}
