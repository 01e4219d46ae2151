package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestRemoveTarget(t *testing.T) {
	t.Parallel()
	in := `# mine
[profiles.data]
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
scopes = ["api://data/.default"]

[[profiles.data.targets]]
client = "vscode"
server = "api"

[[profiles.data.targets]] # the one to go
client = "claude"
server = "api"
url = "https://x/mcp"

# the next one is the env file
[[profiles.data.targets]]
client = "envfile"
path = "~/mcp.env"
`
	want := `# mine
[profiles.data]
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
scopes = ["api://data/.default"]

[[profiles.data.targets]]
client = "vscode"
server = "api"

# the next one is the env file
[[profiles.data.targets]]
client = "envfile"
path = "~/mcp.env"
`
	path := filepath.Join(t.TempDir(), "config.toml")
	os.WriteFile(path, []byte(in), 0o600)
	ctx := context.Background()
	removed, err := RemoveTarget(ctx, path, Target{Profile: "data", Client: "claude", Server: "api"})
	if err != nil || !removed {
		t.Fatalf("RemoveTarget = %v, %v", removed, err)
	}
	got, _ := os.ReadFile(path)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Errorf("(-want +got):\n%s", diff)
	}
	// Again: nothing to remove, nothing written.
	removed, err = RemoveTarget(ctx, path, Target{Profile: "data", Client: "claude", Server: "api"})
	if err != nil || removed {
		t.Fatalf("second RemoveTarget = %v, %v", removed, err)
	}
	removed, err = RemoveTarget(ctx, path, Target{Profile: "data", Client: "envfile", Path: "~/mcp.env"})
	if err != nil || !removed {
		t.Fatalf("RemoveTarget envfile = %v, %v", removed, err)
	}
	cfg, err := Load("", path)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Profiles["data"].Targets); n != 1 {
		t.Errorf("%d targets left, want 1", n)
	}
}
