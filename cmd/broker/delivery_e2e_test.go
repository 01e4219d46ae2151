package main

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// TestDeliveryScripts runs testdata/delivery/*.txtar: connect and sync
// with the real binary, a simulator, and the real client CLIs from
// scripts/test-deps (their node_modules/.bin is on PATH).
func TestDeliveryScripts(t *testing.T) {
	bin := buildBroker(t)
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	nmBin := filepath.Join(root, ".cache", "npm", "node_modules", ".bin")
	if _, err := os.Stat(filepath.Join(nmBin, "claude")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the npm client CLIs are missing: run scripts/test-deps")
		}
		t.Skip("the npm client CLIs are missing: run scripts/test-deps")
	}
	for _, version := range tokenVersions {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			testscript.Run(t, testscript.Params{
				Dir:                 "testdata/delivery",
				RequireExplicitExec: true,
				Setup: func(env *testscript.Env) error {
					s, err := simScriptSetup(env, bin, entrasim.Options{TokenVersion: version})
					if err != nil {
						return err
					}
					env.Setenv("DISABLE_AUTOUPDATER", "1")
					env.Setenv("CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC", "1")
					// The npm CLIs before any on the system (the broker stays first).
					env.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+nmBin+string(os.PathListSeparator)+env.Getenv("PATH"))
					return writeSimConfig(s, env.Getenv("HOME"), "data")
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"sim":      cmdSim,
					"code":     cmdCode,
					"cmptoken": cmdCmpToken,
					"sleep": func(ts *testscript.TestScript, neg bool, args []string) {
						d, err := time.ParseDuration(args[0])
						ts.Check(err)
						time.Sleep(d)
					},
					"eventually": cmdEventually,
				},
			})
		})
	}
}

// cmdEventually runs a program again until it exits 0, for at most DUR:
// eventually DUR prog args... (for what a running daemon does by itself).
func cmdEventually(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: eventually DUR command [args...]")
	}
	d, err := time.ParseDuration(args[0])
	ts.Check(err)
	deadline := time.Now().Add(d)
	for {
		err := ts.Exec(args[1], args[2:]...)
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("%s did not succeed within %s: %v", strings.Join(args[1:], " "), d, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

var jwtRE = regexp.MustCompile(`eyJ[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*\.[A-Za-z0-9_-]*`)

// cmdCmpToken compares a file with a wanted one where every JWT in the
// file stands as TOKEN: cmptoken FILE WANT.
func cmdCmpToken(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: cmptoken FILE WANT")
	}
	got := jwtRE.ReplaceAllString(ts.ReadFile(args[0]), "TOKEN")
	want := ts.ReadFile(args[1])
	if (got == want) == neg {
		ts.Fatalf("%s differs from %s (tokens as TOKEN):\n%s", args[0], args[1], got)
	}
}
