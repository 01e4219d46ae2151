package localapi

import (
	"context"
	"errors"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// socketPair returns both ends of a connected Unix socket pair.
func socketPair(t *testing.T) (net.Conn, net.Conn) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	var conns [2]net.Conn
	for i, fd := range fds {
		f := os.NewFile(uintptr(fd), "pair")
		c, err := net.FileConn(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		conns[i] = c
	}
	return conns[0], conns[1]
}

func TestCheckPeer(t *testing.T) {
	t.Parallel()
	a, _ := socketPair(t)
	uid, err := peerUID(a)
	if err != nil || uid != os.Getuid() {
		t.Fatalf("peerUID = %d, %v; want %d", uid, err, os.Getuid())
	}
	if err := checkPeer(a, os.Getuid()); err != nil {
		t.Errorf("own uid refused: %v", err)
	}
	if err := checkPeer(a, os.Getuid()+1); err == nil || !strings.Contains(err.Error(), "peer runs as uid") {
		t.Errorf("another uid accepted: %v", err)
	}
	// A connection without a socket underneath is refused, not waved through.
	p1, _ := net.Pipe()
	defer p1.Close()
	if err := checkPeer(p1, os.Getuid()); err == nil {
		t.Error("a non-socket connection passed the check")
	}
}

// TestHelperClient is not a test: it is the client that
// TestOtherUserIsRefused runs as nobody.
func TestHelperClient(t *testing.T) {
	path := os.Getenv("LOCALAPI_HELPER_DIAL")
	if path == "" {
		t.Skip("helper process only")
	}
	c, err := DialAddress(context.Background(), path)
	if err != nil {
		os.Stdout.WriteString("DIAL-FAILED " + err.Error() + "\n")
		return
	}
	if _, err := c.Status(context.Background()); err != nil {
		os.Stdout.WriteString("REQUEST-FAILED " + err.Error() + "\n")
		return
	}
	os.Stdout.WriteString("ANSWERED\n")
}

func TestOtherUserIsRefused(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test runs a client as nobody and needs root")
		}
		t.Skip("needs root to run a client as nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	// The test binary, where nobody can run it.
	bin := filepath.Join(shortDir(t), "client.test")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	os.Chmod(filepath.Dir(bin), 0o755)

	path := serve(t, &fakeBackend{})
	run := func() string {
		cmd := exec.Command(bin, "-test.run=^TestHelperClient$")
		cmd.Env = append(os.Environ(), "LOCALAPI_HELPER_DIAL="+path)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
		out, err := cmd.CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("running the client as nobody: %v\n%s", err, out)
		}
		return string(out)
	}
	// With the folder's and socket's modes as Listen sets them, nobody
	// cannot even connect (the folder above is open to all).
	os.Chmod(filepath.Dir(filepath.Dir(path)), 0o755)
	if out := run(); !strings.Contains(out, "DIAL-FAILED") || !strings.Contains(out, "permission denied") {
		t.Errorf("nobody, default modes:\n%s", out)
	}
	// Open the modes: the peer check alone must refuse the connection.
	os.Chmod(filepath.Dir(path), 0o755)
	os.Chmod(path, 0o666)
	out := run()
	if strings.Contains(out, "ANSWERED") || !strings.Contains(out, "REQUEST-FAILED") {
		t.Errorf("nobody, open modes: the daemon answered\n%s", out)
	}
	t.Logf("nobody's client: %s", strings.TrimSpace(out))
}
