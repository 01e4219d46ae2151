package main

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// refusedAsAnotherUser checks that the proxy refuses another user's
// process that presents the right credential (curl as nobody; the tests
// run as root in CI, which can start one).
func refusedAsAnotherUser(t *testing.T, url, cred, body string) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to start a process of another user")
		}
		t.Log("not root: the refusal of another user's process is not checked")
		return
	}
	cmd := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
		"-H", "Authorization: Bearer "+cred, "-H", "Content-Type: application/json", "--data", body, url)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	if out, err := cmd.Output(); err != nil || string(out) != "403" {
		t.Errorf("curl as nobody: %v %s, want 403", err, out)
	}
}
