package localapi

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
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
// TestOtherUserIsRefused runs as nobody. With LOCALAPI_HELPER_RAW it
// connects without the client's own checks, to reach the server's.
func TestHelperClient(t *testing.T) {
	path := os.Getenv("LOCALAPI_HELPER_DIAL")
	if path == "" {
		t.Skip("helper process only")
	}
	if os.Getenv("LOCALAPI_HELPER_RAW") != "" {
		hc := &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
		resp, err := hc.Get("http://broker/v1/status")
		if err != nil {
			os.Stdout.WriteString("REQUEST-FAILED " + err.Error() + "\n")
			return
		}
		resp.Body.Close()
		os.Stdout.WriteString("ANSWERED\n")
		return
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

// TestHelperSquatter is not a test: it is another user's fake daemon,
// run as nobody. It listens at LOCALAPI_HELPER_SQUAT (creating its folder
// 0777 in the shared parent, as a squatter would) and answers every
// request with its own token and an injected header.
func TestHelperSquatter(t *testing.T) {
	path := os.Getenv("LOCALAPI_HELPER_SQUAT")
	if path == "" {
		t.Skip("helper process only")
	}
	os.Mkdir(filepath.Dir(path), 0o777)
	os.Chmod(filepath.Dir(path), 0o777)
	l, err := net.Listen("unix", path)
	if err != nil {
		os.Stdout.WriteString("LISTEN-FAILED " + err.Error() + "\n")
		return
	}
	os.Chmod(path, 0o777)
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/headers":
			w.Write([]byte(`{"Authorization":"Bearer ` + squatToken + `","X-Injected":"evil"}`))
		case "/v1/token":
			w.Write([]byte(`{"access_token":"` + squatToken + `","expires_on":1900000000}`))
		default:
			w.Write([]byte(`{"daemon":{"running":true,"pid":1},"profiles":[]}`))
		}
	}))
	os.Stdout.WriteString("LISTENING\n")
	io.Copy(io.Discard, os.Stdin) // until the test closes stdin
}

// squatToken is the squatter's token.
const squatToken = "eyJhbGciOiJub25lIn0.eyJzcXVhdHRlciI6dHJ1ZX0.c3F1YXQ"

// asNobody returns nobody's uid and gid and a copy of the test binary
// that nobody can run. It fails (never skips) under CI, which runs as root.
func asNobody(t *testing.T) (uid, gid int, bin string) {
	t.Helper()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test runs a process as nobody and needs root")
		}
		t.Skip("needs root to run a process as nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ = strconv.Atoi(nobody.Uid)
	gid, _ = strconv.Atoi(nobody.Gid)
	bin = filepath.Join(shortDir(t), "helper.test")
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// A hard link, not a copy: a copy's write descriptor, inherited by a
	// child that a parallel test forks at that moment, makes exec fail
	// with "text file busy" until that child execs.
	if err := os.Link(self, bin); err != nil {
		data, err := os.ReadFile(self)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(bin, data, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	os.Chmod(filepath.Dir(bin), 0o755)
	return uid, gid, bin
}

// nobodyCmd is the test binary running one helper test as nobody.
func nobodyCmd(t *testing.T, uid, gid int, bin, helper string, env ...string) *exec.Cmd {
	cmd := exec.Command(bin, "-test.run=^"+helper+"$")
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	return cmd
}

// startSquatter runs TestHelperSquatter as nobody at path and waits until
// it listens.
func startSquatter(t *testing.T, uid, gid int, bin, path string) {
	t.Helper()
	cmd := nobodyCmd(t, uid, gid, bin, "TestHelperSquatter", "LOCALAPI_HELPER_SQUAT="+path)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); cmd.Process.Kill(); cmd.Wait() })
	line, _ := bufio.NewReader(out).ReadString('\n')
	if !strings.HasPrefix(line, "LISTENING") {
		t.Fatalf("the squatter did not start: %q", line)
	}
}

func TestOtherUserIsRefused(t *testing.T) {
	t.Parallel()
	uid, gid, bin := asNobody(t)
	path := serve(t, &fakeBackend{})
	run := func(raw bool) string {
		env := []string{"LOCALAPI_HELPER_DIAL=" + path}
		if raw {
			env = append(env, "LOCALAPI_HELPER_RAW=1")
		}
		out, err := nobodyCmd(t, uid, gid, bin, "TestHelperClient", env...).CombinedOutput()
		var ee *exec.ExitError
		if err != nil && !errors.As(err, &ee) {
			t.Fatalf("running the client as nobody: %v\n%s", err, out)
		}
		return string(out)
	}
	// With the folder's and socket's modes as Listen sets them, nobody
	// cannot even connect (the folder above is open to all).
	os.Chmod(filepath.Dir(filepath.Dir(path)), 0o755)
	if out := run(true); !strings.Contains(out, "REQUEST-FAILED") || !strings.Contains(out, "permission denied") {
		t.Errorf("nobody, default modes:\n%s", out)
	}
	// Open the modes: the peer check alone must refuse the connection.
	os.Chmod(filepath.Dir(path), 0o755)
	os.Chmod(path, 0o666)
	out := run(true)
	if strings.Contains(out, "ANSWERED") || !strings.Contains(out, "REQUEST-FAILED") {
		t.Errorf("nobody, open modes: the daemon answered\n%s", out)
	}
	t.Logf("nobody's client: %s", strings.TrimSpace(out))
	// nobody's own client refuses a folder that is not nobody's.
	if out := run(false); !strings.Contains(out, "DIAL-FAILED") || !strings.Contains(out, "belongs to uid 0") {
		t.Errorf("nobody's client asked root's folder:\n%s", out)
	}
}

// A folder that another user made first in a shared temporary directory
// holds their socket: the client does not ask it, whatever it answers.
func TestSquattedFolderIsNotAsked(t *testing.T) {
	t.Parallel()
	uid, gid, bin := asNobody(t)
	shared := shortDir(t)
	os.Chmod(shared, 0o1777)
	path := filepath.Join(shared, "mcp-token-broker-0", "broker.sock")
	startSquatter(t, uid, gid, bin, path)

	_, err := DialAddress(t.Context(), path)
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "belongs to uid") {
		t.Fatalf("dial to the squatter's socket: %v; want a refusal naming the owner", err)
	}
	// Even with the folder's modes closed, and through a record in our
	// own state folder that points there (a daemon that died, a squatter
	// that took its place).
	os.Chmod(filepath.Dir(path), 0o700)
	state := t.TempDir()
	if err := Publish(state, Record{PID: 7, Address: path}); err != nil {
		t.Fatal(err)
	}
	r, err := ReadRecord(state)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := dialAddress(t.Context(), r.Address, r.PID); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("dial through the record: %v", err)
	}
}

// A socket in a folder of ours whose listener runs as another user is not
// our daemon: the client checks the peer's uid too.
func TestServerOfAnotherUserIsNotAsked(t *testing.T) {
	t.Parallel()
	uid, gid, bin := asNobody(t)
	shared := shortDir(t)
	os.Chmod(shared, 0o1777)
	squat := filepath.Join(shared, "sq", "broker.sock")
	startSquatter(t, uid, gid, bin, squat)
	// Move nobody's socket into a private folder of ours: connect() finds
	// the same listener there.
	mine := filepath.Join(shortDir(t), "rt")
	if err := os.Mkdir(mine, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(mine, "broker.sock")
	if err := os.Rename(squat, path); err != nil {
		t.Fatal(err)
	}
	_, err := DialAddress(t.Context(), path)
	if !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "peer runs as uid "+strconv.Itoa(uid)) {
		t.Fatalf("dial to nobody's listener: %v; want the peer check's refusal", err)
	}
}

// The daemon refuses a socket folder that another user made, before it
// creates anything in it, and never follows a link there.
func TestListenRefusesAFolderOfAnotherUser(t *testing.T) {
	t.Parallel()
	uid, gid, _ := asNobody(t)
	dir := filepath.Join(shortDir(t), "rt")
	if err := os.Mkdir(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(dir, uid, gid); err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o777)
	if _, err := Listen(filepath.Join(dir, "broker.sock"), nil); !errors.Is(err, ErrNotPrivate) {
		t.Fatalf("Listen in nobody's folder: %v", err)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("Listen created %v in nobody's folder", ents)
	}
	if fi, _ := os.Stat(dir); fi.Mode().Perm() != 0o777 {
		t.Errorf("Listen changed the mode of nobody's folder to %v", fi.Mode().Perm())
	}
	// A link to a folder of ours is refused too.
	target := t.TempDir()
	link := filepath.Join(shortDir(t), "rt")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(filepath.Join(link, "broker.sock"), nil); !errors.Is(err, ErrNotPrivate) {
		t.Fatalf("Listen through a link: %v", err)
	}
}
