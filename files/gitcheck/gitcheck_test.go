package gitcheck

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

func TestTracked(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is missing")
		}
		t.Skip("git is missing")
	}
	repo := t.TempDir()
	git := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
	}
	git("init", "-q")
	write := func(name, s string) string {
		p := filepath.Join(repo, name)
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	write(".gitignore", "*.env\nsecret/\n")
	committed := write(".mcp.json", "{}")
	git("add", ".gitignore", ".mcp.json")
	git("commit", "-q", "-m", "x")
	outside := t.TempDir()
	for _, tc := range []struct {
		path string
		want bool
	}{
		{committed, true},
		{write("new.json", "{}"), true},                  // would be committed
		{filepath.Join(repo, "missing", "x.json"), true}, // not yet written, not ignored
		{write("token.env", "x"), false},
		{filepath.Join(repo, "secret", "t"), false},
		{filepath.Join(outside, "f.json"), false},
	} {
		got, err := Tracked(context.Background(), tc.path)
		if err != nil || got != tc.want {
			t.Errorf("Tracked(%s) = %v, %v; want %v", tc.path, got, err, tc.want)
		}
	}
}

// A client file that is a link into a dotfiles repository, or sits in a
// linked folder (~/.config/Code/User -> the repository), is the
// repository's file: the check follows the links.
func TestTrackedThroughLinks(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("git"); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("git is missing")
		}
		t.Skip("git is missing")
	}
	dots := t.TempDir()
	cmd := exec.Command("git", "init", "-q")
	cmd.Dir = dots
	cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("git init: %v\n%s", err, out)
	}
	os.MkdirAll(filepath.Join(dots, "Code", "User"), 0o700)
	os.WriteFile(filepath.Join(dots, "Code", "User", "mcp.json"), []byte("{}"), 0o600)
	os.WriteFile(filepath.Join(dots, ".gitignore"), []byte("ignored.json\n"), 0o600)
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".config"), 0o700)
	os.MkdirAll(filepath.Join(home, ".copilot"), 0o700)
	if err := os.Symlink(filepath.Join(dots, "Code"), filepath.Join(home, ".config", "Code")); err != nil {
		if runtime.GOOS == "windows" {
			t.Skip("symbolic links need developer mode or admin rights on Windows:", err)
		}
		t.Fatal(err)
	}
	os.Symlink(filepath.Join(dots, "copilot.json"), filepath.Join(home, ".copilot", "mcp-config.json")) // dangling
	os.Symlink(filepath.Join(dots, "ignored.json"), filepath.Join(home, ".copilot", "ignored.json"))
	for p, want := range map[string]bool{
		filepath.Join(home, ".config", "Code", "User", "mcp.json"): true,
		filepath.Join(home, ".copilot", "mcp-config.json"):         true,
		filepath.Join(home, ".copilot", "ignored.json"):            false,
	} {
		got, err := Tracked(context.Background(), p)
		if err != nil || got != want {
			t.Errorf("Tracked(%s) = %v, %v; want %v", p, got, err, want)
		}
	}
}
