package store_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
)

// The test binary doubles as a second broker process: with STORE_HELPER set,
// TestHelperProcess does one job on the store in STORE_DIR and exits.
//
//	read PROFILE          prints the profile's blob
//	write PROFILE N       exports N successive blobs "PROFILE-0" … "PROFILE-(N-1)"
func TestHelperProcess(t *testing.T) {
	job := os.Getenv("STORE_HELPER")
	if job == "" {
		return
	}
	args := bytes.Fields([]byte(job))
	s, err := store.Open(context.Background(), store.Options{Dir: os.Getenv("STORE_DIR"), Storage: os.Getenv("STORE_STORAGE")})
	if err != nil {
		fmt.Fprintln(os.Stderr, "open:", err)
		os.Exit(1)
	}
	profile := string(args[1])
	switch string(args[0]) {
	case "read":
		var f fakeMSAL
		if err := s.Cache(profile).Replace(context.Background(), &f, cacheReplaceHints); err != nil {
			fmt.Fprintln(os.Stderr, "replace:", err)
			os.Exit(1)
		}
		fmt.Printf("%s\n%s", s.Mode(), f.data)
	case "write":
		n, _ := strconv.Atoi(string(args[2]))
		for i := range n {
			// Like MSAL: load what is there, then export the whole cache.
			c := s.Cache(profile)
			var f fakeMSAL
			if err := c.Replace(context.Background(), &f, cacheReplaceHints); err != nil {
				fmt.Fprintln(os.Stderr, "replace:", err)
				os.Exit(1)
			}
			if err := c.Export(context.Background(), &fakeMSAL{data: msalBlob(fmt.Sprintf("%s-%d", profile, i))}, cacheExportHints); err != nil {
				fmt.Fprintln(os.Stderr, "export:", err)
				os.Exit(1)
			}
		}
	}
	os.Exit(0)
}

// helper runs the test binary as another broker process.
func helper(dir, storage, job string) *exec.Cmd {
	cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
	cmd.Env = append(os.Environ(), "STORE_HELPER="+job, "STORE_DIR="+dir, "STORE_STORAGE="+storage)
	return cmd
}

func TestSecondProcessSeesSignIn(t *testing.T) {
	withKeyring(t)
	dir := t.TempDir()
	s := open(t, store.Options{Dir: dir, Storage: "keyring"})
	blob := msalBlob("signed-in-in-process-1")
	export(t, s, "p", blob)

	out, err := helper(dir, "keyring", "read p").Output()
	if err != nil {
		t.Fatalf("second process: %v\n%s", err, stderrOf(err))
	}
	want := append([]byte("keyring\n"), blob...)
	if !bytes.Equal(out, want) {
		t.Fatalf("second process read %q, want %q", out, want)
	}

	// And the other way round: the first process's Store sees what the
	// second one wrote, without reopening.
	if out, err := helper(dir, "keyring", "write q 1").CombinedOutput(); err != nil {
		t.Fatalf("second process: %v\n%s", err, out)
	}
	if got := replace(t, s, "q"); !bytes.Equal(got, msalBlob("q-0")) {
		t.Fatalf("first process sees %s", got)
	}
}

func TestConcurrentProcessesKeepEachOthersProfiles(t *testing.T) {
	withKeyring(t)
	dir := t.TempDir()
	open(t, store.Options{Dir: dir, Storage: "keyring"}) // create the key once
	const n = 40
	var wg sync.WaitGroup
	errs := make([]error, 3)
	outs := make([][]byte, 3)
	for i, p := range []string{"a", "b", "c"} {
		wg.Go(func() {
			outs[i], errs[i] = helper(dir, "auto", fmt.Sprintf("write %s %d", p, n)).CombinedOutput()
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("writer %d: %v\n%s", i, err, outs[i])
		}
	}
	s := open(t, store.Options{Dir: dir, Storage: "keyring"})
	for _, p := range []string{"a", "b", "c"} {
		if got, want := replace(t, s, p), msalBlob(fmt.Sprintf("%s-%d", p, n-1)); !bytes.Equal(got, want) {
			t.Errorf("profile %s = %s, want its last write %s", p, got, want)
		}
	}
	if w := s.Warning(); w != "" {
		t.Errorf("Warning = %q", w)
	}
}

func stderrOf(err error) []byte {
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.Stderr
	}
	return nil
}
