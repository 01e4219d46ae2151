package integrations

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// A header the user wrote by hand is not the broker's: helper mode and
// Remove leave it; the header the broker wrote goes.
func TestOnlyTheOwnersValuesGo(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	path := filepath.Join(env.Home, ".claude.json")
	mine := `{"mcpServers": {"mine": {"type": "http", "url": "https://x/mcp", "headers": {"Authorization": "Bearer eyJmy.own.token"}}, "api": {"type": "http", "url": "https://x/mcp"}}}`
	os.WriteFile(path, []byte(mine), 0o600)
	ctx := context.Background()
	own := &memOwner{}

	// The user's own server, in header mode then helper mode.
	header, _ := New(config.Target{Client: "claude", Server: "api", Mode: "header"}, env)
	helper, _ := New(config.Target{Client: "claude", Server: "api", Profile: "data"}, env)
	userHelper, _ := New(config.Target{Client: "claude", Server: "mine", Profile: "data"}, env)
	if _, err := header.Apply(ctx, testToken, own); err != nil {
		t.Fatal(err)
	}
	if _, err := helper.Apply(ctx, token.Token{}, own); err != nil {
		t.Fatal(err)
	}
	if _, err := userHelper.Apply(ctx, token.Token{}, own); err != nil {
		t.Fatal(err)
	}
	got := readFile(t, path)
	if strings.Contains(got, testToken.Value.Reveal()) {
		t.Errorf("helper mode left the broker's header:\n%s", got)
	}
	if !strings.Contains(got, "Bearer eyJmy.own.token") {
		t.Errorf("helper mode deleted the user's own header:\n%s", got)
	}
	if strings.Count(got, "headersHelper") != 2 {
		t.Errorf("want two helper lines:\n%s", got)
	}
	if _, err := userHelper.Remove(ctx, own); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, path); !strings.Contains(got, "Bearer eyJmy.own.token") {
		t.Errorf("Remove deleted the user's own header:\n%s", got)
	}
	for _, ps := range own.placed {
		for _, p := range ps {
			if strings.Contains(p.Place+p.SHA256, testToken.Value.Reveal()) {
				t.Fatalf("a place or sum holds the token: %+v", p)
			}
		}
	}
}

// Unwire removes an entry the broker created, and only the broker's
// values from the user's own entry.
func TestUnwire(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	path := filepath.Join(env.Home, ".copilot", "mcp-config.json")
	os.MkdirAll(filepath.Dir(path), 0o700)
	in := "{\n  // mine\n  \"mcpServers\": {\n    \"mine\": {\"type\": \"http\", \"url\": \"https://x/mcp\", \"tools\": [\"*\"]}\n  }\n}\n"
	os.WriteFile(path, []byte(in), 0o600)
	ctx := context.Background()
	own := &memOwner{}
	created, _ := New(config.Target{Client: "copilot", Server: "new", URL: "https://x/new", Mode: "header"}, env)
	users, _ := New(config.Target{Client: "copilot", Server: "mine"}, env)
	for _, tg := range []*Target{created, users} {
		if _, err := tg.Apply(ctx, testToken, own); err != nil {
			t.Fatal(err)
		}
	}
	for _, tg := range []*Target{created, users} {
		o, err := tg.Unwire(ctx, own)
		if err != nil || !o.Changed {
			t.Fatalf("Unwire = %+v, %v", o, err)
		}
	}
	want := "{\n  // mine\n  \"mcpServers\": {\n    \"mine\": {\"type\": \"http\", \"url\": \"https://x/mcp\", \"tools\": [\"*\"], \"headers\": {}}\n  }\n}\n"
	if got := readFile(t, path); got != want {
		t.Errorf("after Unwire:\n%s\nwant the user's entry without the broker's values:\n%s", got, want)
	}
	if got := readFile(t, path); strings.Contains(got, "\"new\"") || strings.Contains(got, "Bearer") {
		t.Errorf("after Unwire:\n%s", got)
	}
}

// In a project's .mcp.json (shared through git) the helper line names
// `broker` as every teammate's shell finds it, not this machine's path.
func TestSharedProjectHelperLine(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	env.BrokerPath = "/home/alice/go/bin/broker"
	mcp := filepath.Join(env.Home, "src", "app", ".mcp.json")
	ctx := context.Background()
	shared, _ := New(config.Target{Client: "claude", Server: "api", URL: "https://x/mcp", Profile: "data", Path: mcp}, env)
	if _, err := shared.Apply(ctx, token.Token{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, mcp); !strings.Contains(got, `"headersHelper": "broker headers --profile data"`) {
		t.Errorf(".mcp.json:\n%s", got)
	}
	user, _ := New(config.Target{Client: "claude", Server: "api", URL: "https://x/mcp", Profile: "data"}, env)
	if _, err := user.Apply(ctx, token.Token{}, nil); err != nil {
		t.Fatal(err)
	}
	if got := readFile(t, user.Path()); !strings.Contains(got, `"headersHelper": "/home/alice/go/bin/broker headers --profile data"`) {
		t.Errorf("~/.claude.json:\n%s", got)
	}
}

// A client file that is a link into a git work tree (a dotfiles
// repository) is a file git tracks: no token is written through it.
func TestGitTrackedThroughSymlinkRefused(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is missing")
		}
		t.Skip("git is missing")
	}
	env := testEnv(t, nil)
	repo := filepath.Join(env.Home, "dotfiles")
	os.MkdirAll(repo, 0o700)
	if out, err := exec.Command("git", "init", "-q", repo).CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	real := filepath.Join(repo, "mcp-config.json")
	in := `{"mcpServers": {"api": {"type": "http", "url": "https://x/mcp"}}}`
	os.WriteFile(real, []byte(in), 0o600)
	link := filepath.Join(env.Home, ".copilot", "mcp-config.json")
	os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	tg, _ := New(config.Target{Client: "copilot", Server: "api"}, env)
	_, err := tg.Apply(context.Background(), testToken, nil)
	if err == nil || !strings.Contains(err.Error(), "git tracks it or would commit it") || !strings.Contains(err.Error(), real) {
		t.Fatalf("err = %v, want a refusal naming %s", err, real)
	}
	if got := readFile(t, real); got != in {
		t.Errorf("the file in the repository was written:\n%s", got)
	}
}

// A token that cannot be removed (the file is read-only) is an error
// that names the file, the line and the column of the value.
func TestRemoveReadOnlyNamesTheLine(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	path := filepath.Join(env.Home, ".cursor", "mcp.json")
	os.MkdirAll(filepath.Dir(path), 0o700)
	os.WriteFile(path, []byte("{\n  \"mcpServers\": {\n    \"api\": {\n      \"url\": \"https://x/mcp\",\n      \"headers\": {\n        \"Authorization\": \"Bearer old\"\n      }\n    }\n  }\n}\n"), 0o600)
	ctx := context.Background()
	own := &memOwner{}
	tg, _ := New(config.Target{Client: "cursor", Server: "api"}, env)
	if _, err := tg.Apply(ctx, testToken, own); err != nil {
		t.Fatal(err)
	}
	os.Chmod(path, 0o400)
	_, err := tg.Remove(ctx, own)
	var fe *FileError
	if !errors.As(err, &fe) || fe.Path != path || fe.Line != 6 || fe.Col != 27 || !strings.Contains(fe.Msg, "read-only") || fe.HintText() == "" {
		t.Fatalf("Remove of a read-only file: %#v", err)
	}
	if !strings.HasPrefix(err.Error(), path+":6:27: ") {
		t.Errorf("error %q, want PATH:6:27: …", err)
	}
}

// Unwiring a Codex server the broker created leaves no token and no
// helper line behind.
func TestUnwireCodex(t *testing.T) {
	t.Parallel()
	env := testEnv(t, nil)
	ctx := context.Background()
	own := &memOwner{}
	for _, mode := range []string{"header", "helper"} {
		tg, _ := New(config.Target{Client: "codex", Server: "api", URL: "https://x/mcp", Mode: mode, Profile: "data"}, env)
		if _, err := tg.Apply(ctx, testToken, own); err != nil {
			t.Fatal(err)
		}
		if _, err := tg.Unwire(ctx, own); err != nil {
			t.Fatal(err)
		}
		got := readFile(t, tg.Path())
		if strings.Contains(got, "Bearer") || strings.Contains(got, "http_headers_helper") {
			t.Errorf("%s: after Unwire:\n%s", mode, got)
		}
	}
}
