package installer_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

// mapRunKey is a RunKey in memory.
type mapRunKey map[string]string

func (m mapRunKey) Get(name string) (string, bool, error) { v, ok := m[name]; return v, ok, nil }
func (m mapRunKey) Set(name, value string) error          { m[name] = value; return nil }
func (m mapRunKey) Delete(name string) error              { delete(m, name); return nil }

// commandLineToArgv splits a command line as Windows' CommandLineToArgvW
// does (the program name: up to the closing quote or the first blank; the
// rest: blanks separate, quotes group, 2n backslashes before a quote are n).
func commandLineToArgv(s string) []string {
	var args []string
	i := 0
	var prog strings.Builder
	if strings.HasPrefix(s, `"`) {
		j := strings.IndexByte(s[1:], '"')
		if j < 0 {
			return []string{s[1:]}
		}
		prog.WriteString(s[1 : j+1])
		i = j + 2
	} else {
		for i < len(s) && s[i] != ' ' && s[i] != '\t' {
			prog.WriteByte(s[i])
			i++
		}
	}
	args = append(args, prog.String())
	for {
		for i < len(s) && (s[i] == ' ' || s[i] == '\t') {
			i++
		}
		if i >= len(s) {
			return args
		}
		var b strings.Builder
		inQuote := false
		for i < len(s) && (inQuote || (s[i] != ' ' && s[i] != '\t')) {
			n := 0
			for i < len(s) && s[i] == '\\' {
				n++
				i++
			}
			if i < len(s) && s[i] == '"' {
				b.WriteString(strings.Repeat(`\`, n/2))
				if n%2 == 1 {
					b.WriteByte('"')
				} else {
					inQuote = !inQuote
				}
				i++
				continue
			}
			b.WriteString(strings.Repeat(`\`, n))
			if i < len(s) && (inQuote || (s[i] != ' ' && s[i] != '\t')) {
				b.WriteByte(s[i])
				i++
			}
		}
		args = append(args, b.String())
	}
}

func TestWindowsRunValueQuoting(t *testing.T) {
	t.Parallel()
	for _, exe := range []string{
		`C:\Users\alice\AppData\Local\Programs\mcp-token-broker\broker.exe`,
		`C:\Program Files\mcp token broker\broker.exe`,
		`C:\Users\O'Brien & Co (x)\%APPDATA%\broker.exe`,
		`\\server\share\tools dir\broker.exe`,
	} {
		v, err := installer.RenderRunValue(exe)
		if err != nil {
			t.Fatalf("%s: %v", exe, err)
		}
		if got := commandLineToArgv(v); len(got) != 2 || got[0] != exe || got[1] != "run" {
			t.Errorf("Run value %s starts %q, want [%s run]", v, got, exe)
		}
	}
	for _, bad := range []string{`C:\a"b\broker.exe`, "C:\\a\nb\\broker.exe"} {
		if v, err := installer.RenderRunValue(bad); err == nil {
			t.Errorf("RenderRunValue(%q) = %s, want an error", bad, v)
		}
	}
}

func TestWindowsInstallTwiceUninstallTwice(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	key := mapRunKey{"OneDrive": `"C:\Program Files\Microsoft OneDrive\OneDrive.exe" /background`}
	env := installer.Env{GOOS: "windows", Home: `C:\Users\alice`, Getenv: func(string) string { return "" },
		Executable: `C:\Program Files\mcp token broker\broker.exe`, RunKey: key}

	if r, err := installer.Install(ctx, env, installer.Options{}); err != nil || !r.Changed || r.Kind != installer.KindWindowsRun {
		t.Fatalf("first install: %+v, %v", r, err)
	}
	if got, want := key["mcp-token-broker"], `"C:\Program Files\mcp token broker\broker.exe" run`; got != want {
		t.Errorf("Run value %s, want %s", got, want)
	}
	if r, err := installer.Install(ctx, env, installer.Options{}); err != nil || r.Changed {
		t.Fatalf("second install: %+v, %v", r, err)
	}
	st, err := installer.Status(env)
	if err != nil || !st.Installed || !st.Current || st.Path != installer.RunKeyPath+`\mcp-token-broker` {
		t.Errorf("status: %+v, %v", st, err)
	}
	// Another binary: status says which.
	other := env
	other.Executable = `D:\new\broker.exe`
	if st, _ := installer.Status(other); st.Current || !strings.Contains(st.Problem, `C:\Program Files\mcp token broker\broker.exe`) {
		t.Errorf("status for another binary: %+v", st)
	}
	for i := range 2 {
		r, err := installer.Uninstall(ctx, env)
		if err != nil || r.Changed != (i == 0) {
			t.Fatalf("uninstall %d: %+v, %v", i+1, r, err)
		}
	}
	if len(key) != 1 || key["OneDrive"] == "" {
		t.Errorf("the Run key is not as it was: %v", key)
	}
}

// TestWindowsPrefersGUIBinary: with brokerw.exe beside broker.exe the Run
// key starts brokerw.exe (no console window at login).
func TestWindowsPrefersGUIBinary(t *testing.T) {
	t.Parallel()
	key := mapRunKey{}
	env := installer.Env{GOOS: "windows", Executable: `C:\Tools\broker.exe`, GUIExecutable: `C:\Tools\brokerw.exe`, RunKey: key}
	if _, err := installer.Install(context.Background(), env, installer.Options{}); err != nil {
		t.Fatal(err)
	}
	if got, want := key["mcp-token-broker"], `"C:\Tools\brokerw.exe" run`; got != want {
		t.Errorf("Run value %s, want %s", got, want)
	}
	if st, _ := installer.Status(env); !st.Current {
		t.Errorf("status: %+v", st)
	}
	console := env
	console.GUIExecutable = ""
	if st, _ := installer.Status(console); st.Current || !strings.Contains(st.Problem, "brokerw.exe") {
		t.Errorf("status without brokerw.exe: %+v", st)
	}
}

func TestWindowsWithoutRegistry(t *testing.T) {
	t.Parallel()
	env := installer.Env{GOOS: "windows", Executable: `C:\broker.exe`}
	if _, err := installer.Status(env); err == nil {
		t.Error("status without a Run key seam outside Windows did not fail")
	}
}

// TestLaunchAgentStatus: on macOS kardianos/service writes the plist; here
// the plist is put where it would write it, and Status reads it back.
func TestLaunchAgentStatus(t *testing.T) {
	t.Parallel()
	home := t.TempDir()
	env := installer.Env{GOOS: "darwin", Home: home, Getenv: func(string) string { return "" }, Executable: "/Users/alice/bin/broker"}
	st, err := installer.Status(env)
	want := filepath.Join(home, "Library", "LaunchAgents", "mcp-token-broker.plist")
	if err != nil || st.Installed || st.Kind != installer.KindLaunchAgent || st.Path != want {
		t.Fatalf("status before: %+v, %v", st, err)
	}
	content, err := installer.RenderLaunchAgent(env.Executable)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Dir(want), 0o700)
	os.WriteFile(want, content, 0o644)
	if st, err := installer.Status(env); err != nil || !st.Installed || !st.Current {
		t.Errorf("status with the plist: %+v, %v", st, err)
	}
	moved := env
	moved.Executable = "/opt/broker"
	if st, _ := installer.Status(moved); st.Current || st.Problem == "" {
		t.Errorf("status for another binary: %+v", st)
	}
	// Installing needs launchd (kardianos' darwin code): refused elsewhere,
	// leaving the existing plist alone; Uninstall removes the file anywhere.
	if _, err := installer.Install(context.Background(), moved, installer.Options{}); err == nil {
		t.Error("installed a LaunchAgent without launchd")
	}
	if got, _ := os.ReadFile(want); string(got) != string(content) {
		t.Error("a refused install changed the plist")
	}
	if r, err := installer.Uninstall(context.Background(), env); err != nil || !r.Changed {
		t.Fatalf("uninstall: %+v, %v", r, err)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("HOME not empty after uninstall: %v", entries)
	}
}
