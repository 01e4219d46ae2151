package proxy_test

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

// TestRefusesAnotherUser: on Linux, a process of another user is refused
// even with the right credential (the test runs a curl as nobody, which
// needs root).
func TestRefusesAnotherUser(t *testing.T) {
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("needs root to start a process of another user")
		}
		t.Skip("needs root to start a process of another user")
	}
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Fatal(err)
	}
	h := newHarness(t, sdkServer(false), func(string) bool { return true })
	run := func(uid uint32) string {
		cmd := exec.Command(curl, "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST",
			"-H", "Authorization: Bearer "+h.cred, "-H", "Content-Type: application/json", "-H", "Accept: application/json, text/event-stream",
			"--data", `{"jsonrpc":"2.0","id":1,"method":"ping"}`, h.url)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("curl as uid %d: %v", uid, err)
		}
		return string(out)
	}
	if code := run(65534); code != "403" {
		t.Errorf("another user's curl got %s, want 403", code)
	}
	if n := len(h.up.requests()); n != 0 {
		t.Errorf("the server saw %d requests from another user", n)
	}
	if code := run(0); code == "403" {
		t.Errorf("this user's own curl was refused")
	}
}
