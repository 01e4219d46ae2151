//go:build unix

package store_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
)

// A broker killed mid-write leaves a temporary copy of the whole cache
// beside it: the next write of the cache removes it (one writer for every
// file, files/atomicfile).
func TestCrashLeftoverRemovedOnNextWrite(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := open(t, store.Options{Dir: dir, Storage: "file", Keyring: noKeyring{t}})
	export(t, s, "p", msalBlob("rt-1"))
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	left := filepath.Join(dir, "."+store.PlainFile+".tmp-"+strconv.Itoa(dead.Process.Pid)+"-1")
	if err := os.WriteFile(left, []byte("rt-1"), 0o600); err != nil {
		t.Fatal(err)
	}
	export(t, s, "p", msalBlob("rt-2"))
	if fileExists(left) {
		t.Errorf("the leftover %s is still there", left)
	}
}
