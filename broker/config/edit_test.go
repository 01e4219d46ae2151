package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

const connectBase = `# my broker config
[settings]
refresh_before = "15m"   # keep

[profiles.data]
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
scopes = ["api://data/.default"]

[[profiles.data.targets]]
client = "vscode"
server = "api"
# a note the user wrote
`

func TestAddTargetKeepsEveryByteAndIsIdempotent(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(p, []byte(connectBase), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	tg := Target{Client: "claude", Server: "api", URL: "https://apim.contoso.com/mcp", Profile: "data"}
	upd, _, err := AddTarget(ctx, p, tg)
	if err != nil || upd {
		t.Fatalf("AddTarget = %v, %v", upd, err)
	}
	want := connectBase + "\n[[profiles.data.targets]]\nclient = \"claude\"\nserver = \"api\"\nurl = \"https://apim.contoso.com/mcp\"\n"
	got, _ := os.ReadFile(p)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// Again, with a mode: the same target is updated, not added.
	tg.Mode = "header"
	if upd, changed, err := AddTarget(ctx, p, tg); err != nil || !upd || !changed {
		t.Fatalf("second AddTarget = %v, %v, %v", upd, changed, err)
	}
	if upd, changed, err := AddTarget(ctx, p, tg); err != nil || !upd || changed {
		t.Fatalf("third AddTarget = %v, %v, %v; want updated and unchanged", upd, changed, err)
	}
	got, _ = os.ReadFile(p)
	want = strings.Replace(want, "mcp\"\n", "mcp\"\nmode = \"header\"\n", 1)
	if diff := cmp.Diff(want, string(got)); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	// Updating the vscode target keeps its comment.
	if upd, _, err := AddTarget(ctx, p, Target{Client: "vscode", Server: "api", Path: "/x/.vscode/mcp.json", Profile: "data"}); err != nil || !upd {
		t.Fatalf("AddTarget vscode = %v, %v", upd, err)
	}
	got, _ = os.ReadFile(p)
	if !strings.Contains(string(got), "server = \"api\"\npath = \"/x/.vscode/mcp.json\"\n# a note the user wrote\n") {
		t.Errorf("vscode target not updated in place:\n%s", got)
	}
	cfg, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(cfg.Profiles["data"].Targets); n != 2 {
		t.Errorf("targets = %d, want 2", n)
	}
}

func TestAddTargetCreatesFileAndRefusesBrokenOne(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	broken := filepath.Join(dir, "broken.toml")
	os.WriteFile(broken, []byte("[profiles.data\n"), 0o600)
	if _, _, err := AddTarget(context.Background(), broken, Target{Client: "claude", Server: "a", Profile: "data"}); err == nil {
		t.Fatal("no error for a broken file")
	}
	if b, _ := os.ReadFile(broken); string(b) != "[profiles.data\n" {
		t.Error("broken file changed")
	}
}

// A target whose template is a multi-line string with "[" at the start of
// a line: the line editor took that line for the end of the block and put
// the new key inside the string. The edit goes by the parser's spans now.
func TestAddTargetMultiLineString(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "config.toml")
	in := connectBase + "\n[[profiles.data.targets]]\nclient = \"json\"\npath = \"/x/t.json\"\npointer = \"/auth\"\ntemplate = \"\"\"\n[v1]\nBearer {token}\"\"\"\n"
	os.WriteFile(p, []byte(in), 0o600)
	upd, changed, err := AddTarget(context.Background(), p, Target{Client: "json", Path: "/x/t.json", Pointer: "/token", Profile: "data"})
	if err != nil || !upd || !changed {
		t.Fatalf("AddTarget = %v, %v, %v", upd, changed, err)
	}
	got, _ := os.ReadFile(p)
	if want := strings.Replace(in, "pointer = \"/auth\"", "pointer = \"/token\"", 1); string(got) != want {
		t.Fatalf("got:\n%s\nwant:\n%s", got, want)
	}
	cfg, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	tg := cfg.Profiles["data"].Targets
	if last := tg[len(tg)-1]; last.Template != "[v1]\nBearer {token}" || last.Pointer != "/token" {
		t.Errorf("target = %+v", last)
	}
}
