package bridge

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

func TestResolve(t *testing.T) {
	t.Parallel()
	cfg := &config.Config{Path: "/c/config.toml", Profiles: map[string]*config.Profile{
		"data": {Name: "data", Targets: []config.Target{
			{Client: "claude", Server: "sales", URL: "https://a/mcp"},
			{Client: "vscode", Server: "sales", URL: "https://a/mcp"},
			{Client: "copilot", Server: "bare"},
			{Client: "file", Path: "/t"},
		}},
		"ops": {Name: "ops", Targets: []config.Target{{Client: "claude", Server: "both", URL: "https://o/mcp"}}},
		"dev": {Name: "dev", Targets: []config.Target{{Client: "claude", Server: "both", URL: "https://d/mcp"}}},
	}}
	for _, tc := range []struct {
		name, server, url, profile string
		wantProfile, wantURL       string
		wantErr, wantHint          string
	}{
		{name: "a server of one profile", server: "sales", wantProfile: "data", wantURL: "https://a/mcp"},
		{name: "a server in two profiles, one named", server: "both", profile: "ops", wantProfile: "ops", wantURL: "https://o/mcp"},
		{name: "a server in two profiles that differ", server: "both", wantErr: `several targets named "both" differ`, wantHint: "--profile"},
		{name: "unknown server", server: "nope", wantErr: `no target has the server name "nope"`, wantHint: "known servers: bare, both, sales"},
		{name: "a target without url", server: "bare", wantErr: `the target of server "bare" has no url`, wantHint: "--url"},
		{name: "a url and a profile", url: "https://x/mcp", profile: "dev", wantProfile: "dev", wantURL: "https://x/mcp"},
		{name: "a url with several profiles and none named", url: "https://x/mcp", wantErr: "profile"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, url, err := Resolve(cfg, tc.server, tc.url, tc.profile)
			if tc.wantErr != "" {
				var ce *config.Error
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.As(err, &ce) || !strings.Contains(ce.HintText(), tc.wantHint) {
					t.Fatalf("err = %v (hint %q); want %q with hint %q", err, hintOf(err), tc.wantErr, tc.wantHint)
				}
				return
			}
			if err != nil || p.Name != tc.wantProfile || url != tc.wantURL {
				t.Fatalf("Resolve = %v, %q, %v; want %s, %q", p, url, err, tc.wantProfile, tc.wantURL)
			}
		})
	}
}
