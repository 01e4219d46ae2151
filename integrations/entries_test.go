package integrations

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestEntriesNewClients: Entries finds the remote servers in the files of
// opencode, Kilo Code, Cline, Continue, Crush, Qwen Code and Zed at their default
// paths (the golden inputs: pasted tokens, a helper, other headers), and
// skips their stdio entries.
func TestEntriesNewClients(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	place := func(golden, rel string) string {
		in, err := os.ReadFile(filepath.Join("testdata", "golden", golden, "input.json"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(env.Home, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, in, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	placeYAML := func(golden, rel string) string {
		in, err := os.ReadFile(filepath.Join("testdata", "golden", golden, "input.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(env.Home, rel)
		os.MkdirAll(filepath.Dir(p), 0o700)
		if err := os.WriteFile(p, in, 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	const url = "https://apim.contoso.com/mcp"
	want := []Entry{
		{Client: "cline", Path: place("cline-bridge", ".cline/data/settings/cline_mcp_settings.json"), Authorization: "Bearer pasted", OtherHeaders: []string{"Ocp-Apim-Subscription-Key"}},
		{Client: "continue", Path: placeYAML("continue-existing", ".continue/config.yaml"), Authorization: "Bearer pasted", OtherHeaders: []string{"Ocp-Apim-Subscription-Key"}},
		{Client: "crush", Path: place("crush-helper", ".config/crush/crush.json"), Authorization: "Bearer pasted", OtherHeaders: []string{"Ocp-Apim-Subscription-Key"}},
		{Client: "kilo", Path: place("kilo", ".config/kilo/kilo.jsonc"), Authorization: "Bearer pasted"},
		{Client: "opencode", Path: place("opencode-bridge", ".config/opencode/opencode.json"), Authorization: "Bearer pasted", OtherHeaders: []string{"Ocp-Apim-Subscription-Key"}},
		{Client: "qwen", Path: place("qwen", ".qwen/settings.json"), Authorization: "Bearer pasted", OtherHeaders: []string{"X-Env"}},
		{Client: "zed", Path: place("zed", ".config/zed/settings.json"), Authorization: "Bearer pasted", OtherHeaders: []string{"Ocp-Apim-Trace"}},
	}
	for i := range want {
		want[i].Scope, want[i].Server, want[i].URL = "user", "api", url
	}
	// opencode's local entry (command as an array) beside a remote one,
	// and Crush's helper.
	p := filepath.Join(env.Home, ".config", "opencode", "opencode.json")
	os.WriteFile(p, []byte(`{"mcp": {"local": {"type": "local", "command": ["npx", "-y", "srv"]}, "api": {"type": "remote", "url": "`+url+`", "headers": {"Authorization": "Bearer pasted", "Ocp-Apim-Subscription-Key": "{env:K}"}}}}`), 0o600)
	got, errs := Entries(env, nil)
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("Entries (-want +got):\n%s", diff)
	}

	c := filepath.Join(env.Home, ".config", "crush", "crush.json")
	os.WriteFile(c, []byte(`{"mcp": {"api": {"type": "http", "url": "`+url+`", "headers": {"Authorization": "Bearer $('/opt/b/broker' token --profile data)"}}}}`), 0o600)
	got, _ = Entries(env, nil)
	found := false
	for _, e := range got {
		if e.Client == "crush" {
			found = e.Helper == "'/opt/b/broker' token --profile data" && e.Authorization == ""
			if !found {
				t.Errorf("crush helper entry: %+v", e)
			}
		}
	}
	if !found {
		t.Errorf("no crush helper entry in %+v", got)
	}
}
