package installer_test

import (
	"context"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

// TestLaunchAgentPlutil: macOS's own plist linter accepts the LaunchAgent,
// including for a path full of XML's special characters. Runs on the macOS
// CI runner.
func TestLaunchAgentPlutil(t *testing.T) {
	for _, exe := range []string{"/Users/alice/.local/bin/broker", `/Users/alice/A & B <x> "y" 'z' ]]>/broker`} {
		content, err := installer.RenderLaunchAgent(exe)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(t.TempDir(), "agent.plist")
		os.WriteFile(p, content, 0o644)
		if out, err := exec.Command("plutil", "-lint", p).CombinedOutput(); err != nil || !strings.HasSuffix(strings.TrimSpace(string(out)), "OK") {
			t.Errorf("plutil -lint for %q: %v\n%s\n%s", exe, err, out, content)
		}
		out, err := exec.Command("plutil", "-extract", "RunAtLoad", "raw", p).Output()
		if err != nil || strings.TrimSpace(string(out)) != "true" {
			t.Errorf("RunAtLoad: %q, %v", out, err)
		}
		if out, err = exec.Command("plutil", "-extract", "KeepAlive", "raw", p).Output(); err != nil || strings.TrimSpace(string(out)) != "false" {
			t.Errorf("KeepAlive: %q, %v", out, err)
		}
	}
}

// TestLaunchAgentRefusesForeignHome: with $HOME elsewhere than the
// account's home, kardianos would write the plist into the account's
// folder while status reads $HOME's: install refuses and writes nothing.
func TestLaunchAgentRefusesForeignHome(t *testing.T) {
	u, err := user.Current()
	if err != nil {
		t.Fatal(err)
	}
	home := t.TempDir()
	t.Setenv("HOME", home)
	env := installer.Env{GOOS: "darwin", Home: home, Getenv: os.Getenv, Executable: "/usr/local/bin/broker"}
	before, _ := os.ReadFile(filepath.Join(u.HomeDir, "Library", "LaunchAgents", installer.LaunchdLabel+".plist"))
	_, err = installer.Install(context.Background(), env, installer.Options{})
	if err == nil || !strings.Contains(err.Error(), "is not your account's home folder") {
		t.Fatalf("install with a foreign HOME: %v", err)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("a refused install left %v in HOME", entries)
	}
	after, _ := os.ReadFile(filepath.Join(u.HomeDir, "Library", "LaunchAgents", installer.LaunchdLabel+".plist"))
	if string(before) != string(after) {
		t.Error("a refused install changed the account's LaunchAgent")
	}
}
