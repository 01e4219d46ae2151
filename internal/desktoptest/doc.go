// Package desktoptest starts the pieces of a Linux desktop session that the
// broker's tests need, each private to one test and stopped at its cleanup:
// a session bus (SessionBus) and an unlocked gnome-keyring on it (Keyring).
//
// It is a normal package (not a _test.go file) so that the tests of several
// packages share it; nothing outside tests imports it. A helper whose program
// is missing fails the test when the CI environment variable is set, and
// skips it with a message that says what to install otherwise
// (scripts/test-deps installs everything).
package desktoptest

import (
	"os"
	"os/exec"
	"testing"
)

// lookTool returns the path of a program a helper needs. When it is missing
// the test fails under CI and is skipped elsewhere.
func lookTool(t testing.TB, name, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	msg := name + " is not installed (Debian package " + pkg + "; run scripts/test-deps)"
	if os.Getenv("CI") != "" {
		t.Fatal(msg)
	}
	t.Skip(msg)
	return ""
}
