//go:build unix

package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// The local API under faults and attacks, on the real binary: a daemon
// that does not answer, environments without XDG_RUNTIME_DIR, and another
// user's squatting of the socket folder.

// withEnv returns env with key set to val ("" with unset: removed).
func withEnv(env []string, key, val string, unset bool) []string {
	out := make([]string, 0, len(env)+1)
	for _, kv := range env {
		if !strings.HasPrefix(kv, key+"=") {
			out = append(out, kv)
		}
	}
	if !unset {
		out = append(out, key+"="+val)
	}
	return out
}

// run runs the broker with env and gives up (failing the test) after
// limit: the contract plus a margin, not a speed check.
func runWithin(t *testing.T, limit time.Duration, bin string, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), limit)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ctx.Err() != nil {
		t.Fatalf("broker %s did not finish within %v\nstdout: %s\nstderr: %s", strings.Join(args, " "), limit, o.String(), e.String())
	}
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		t.Fatalf("broker %v: %v", args, err)
	}
	return o.String(), e.String(), code
}

// helperLimit is what `token` and `headers` promise (8 s) plus a margin
// for a loaded machine.
const helperLimit = 8*time.Second + 4*time.Second

// A daemon that is stopped (SIGSTOP) accepts connections and never
// answers: every command finishes anyway, token and headers within their
// 8 s from the token cache, and each says the daemon did not answer and
// names its pid; status does not blame a lock nobody holds.
func TestHungDaemon(t *testing.T) {
	t.Parallel()
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	d := w.startDaemon()
	pid := d.Process.Pid
	if err := d.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	stopped := true
	defer func() {
		if stopped {
			d.Process.Signal(syscall.SIGCONT)
		}
	}()
	said := fmt.Sprintf("daemon (pid %d) did not answer", pid)

	for _, args := range [][]string{{"headers"}, {"token"}, {"token", "--format", "json"}} {
		out, errOut, code := runWithin(t, helperLimit, w.bin, w.env, args...)
		if code != 0 || !daemonJWT.MatchString(out) {
			t.Errorf("%v with the daemon stopped: exit %d, %d bytes out; stderr:\n%s", args, code, len(out), errOut)
		}
		if !strings.Contains(errOut, said) || !strings.Contains(errOut, "hint: ") {
			t.Errorf("%v: stderr does not say the daemon did not answer:\n%s", args, errOut)
		}
	}
	out, errOut, code := runWithin(t, helperLimit, w.bin, w.env, "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("daemon: not answering (pid %d)", pid)) || !strings.Contains(out, "profile data: ok") {
		t.Errorf("status with the daemon stopped: exit %d\n%s%s", code, out, errOut)
	}
	if strings.Contains(out+errOut, "lock") {
		t.Errorf("status blames a lock:\n%s%s", out, errOut)
	}
	out, _, code = runWithin(t, helperLimit, w.bin, w.env, "status", "--json")
	var st state.Status
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || !st.Daemon.Running || st.Daemon.PID != pid || !strings.Contains(st.Daemon.Error, "did not answer") {
		t.Errorf("status --json with the daemon stopped: exit %d, %v\n%s", code, err, out)
	}
	out, errOut, code = runWithin(t, 30*time.Second, w.bin, w.env, "sync")
	if code != 0 || !strings.Contains(errOut, said) || !strings.Contains(out, w.targets["file"]) {
		t.Errorf("sync with the daemon stopped: exit %d\n%s%s", code, out, errOut)
	}

	// A sign-in does not wait for the daemon either: it signs in here.
	out, errOut, code = runWithin(t, time.Minute, w.bin, w.env, "login")
	if code != 0 || !strings.Contains(errOut, said) || !strings.Contains(out, "signed in to profile data") {
		t.Errorf("login with the daemon stopped: exit %d\n%s%s", code, out, errOut)
	}

	if err := d.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	stopped = false
	out, errOut, code = runWithin(t, helperLimit, w.bin, w.env, "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("daemon: running (pid %d)", pid)) || errOut != "" {
		t.Errorf("status after SIGCONT: exit %d\n%s%s", code, out, errOut)
	}
}

// SSH and tmux shells, Codex, Gemini CLI and the MCP SDKs start their
// children without XDG_RUNTIME_DIR: they find the daemon all the same, and
// a second `broker run` from there says it is already running.
func TestDaemonFoundWithoutXDGRuntimeDir(t *testing.T) {
	t.Parallel()
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	d := w.startDaemon()
	bare := withEnv(w.env, "XDG_RUNTIME_DIR", "", true)

	logged := func() int {
		b, _ := os.ReadFile(w.logFile)
		return strings.Count(string(b), `msg="local api: token given" endpoint=/v1/headers`)
	}
	before := logged()
	out, errOut, code := runWithin(t, helperLimit, w.bin, bare, "headers")
	if code != 0 || !daemonJWT.MatchString(out) || errOut != "" {
		t.Fatalf("headers without XDG_RUNTIME_DIR: exit %d\n%s", code, errOut)
	}
	w.waitFor("the daemon's log of the answer", 10*time.Second, func() bool { return logged() > before })

	out, _, code = runWithin(t, helperLimit, w.bin, bare, "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("daemon: running (pid %d)", d.Process.Pid)) {
		t.Errorf("status without XDG_RUNTIME_DIR: exit %d\n%s", code, out)
	}
	out, errOut, code = runWithin(t, 15*time.Second, w.bin, bare, "run", "--no-tray")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("already running (pid %d)", d.Process.Pid)) {
		t.Errorf("a second run without XDG_RUNTIME_DIR: exit %d\n%s%s", code, out, errOut)
	}
}

// squatEnv, when set, makes the test binary another user's fake daemon
// (see squatMain).
const squatEnv = "BROKER_TEST_SQUAT"

// squatToken is the squatter's token.
const squatToken = "eyJhbGciOiJub25lIn0.eyJzcXVhdHRlciI6dHJ1ZX0.c3F1YXQ"

// squatMain is another user's fake daemon: in a shared runtime folder, it
// makes the broker's socket folder first (open to all), plants daemon.pid
// and daemon.lock as links to $BROKER_TEST_PLANT (a file of the victim),
// and answers every request with its own token and an injected header,
// until stdin closes.
func squatMain() int {
	path := os.Getenv(squatEnv)
	dir := filepath.Dir(path)
	os.Mkdir(dir, 0o777)
	os.Chmod(dir, 0o777)
	for _, name := range []string{"daemon.pid", "daemon.lock"} {
		if err := os.Symlink(os.Getenv("BROKER_TEST_PLANT"), filepath.Join(dir, name)); err != nil {
			fmt.Println("PLANT-FAILED", err)
			return 1
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		fmt.Println("LISTEN-FAILED", err)
		return 1
	}
	os.Chmod(path, 0o777)
	go http.Serve(l, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/v1/headers":
			io.WriteString(w, `{"Authorization":"Bearer `+squatToken+`","X-Injected":"evil"}`)
		case "/v1/token":
			io.WriteString(w, `{"access_token":"`+squatToken+`","expires_on":1900000000}`)
		default:
			io.WriteString(w, `{"daemon":{"running":true,"pid":1},"profiles":[]}`)
		}
	}))
	fmt.Println("LISTENING")
	io.Copy(io.Discard, os.Stdin)
	return 0
}

// With XDG_RUNTIME_DIR shared (or unset: $TMPDIR), another user can make
// the broker's socket folder first. The victim's headers and token never
// print the squatter's answer, and the victim's daemon writes nothing
// through the links planted there and listens somewhere safe. Run as root
// (CI), with the squatter as nobody; it fails, never skips, under CI.
func TestSquattedSocketFolder(t *testing.T) {
	t.Parallel()
	if os.Getuid() != 0 {
		if os.Getenv("CI") != "" {
			t.Fatal("this test runs a squatter as nobody and needs root")
		}
		t.Skip("needs root to run a squatter as nobody")
	}
	nobody, err := user.Lookup("nobody")
	if err != nil {
		t.Fatal(err)
	}
	uid, _ := strconv.Atoi(nobody.Uid)
	gid, _ := strconv.Atoi(nobody.Gid)

	w := newDaemonWorld(t, time.Hour, "15m")
	shared, err := os.MkdirTemp("", "shared-run")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(shared) })
	os.Chmod(shared, 0o1777)
	env := withEnv(w.env, "XDG_RUNTIME_DIR", shared, false)
	squatSock := filepath.Join(shared, "mcp-token-broker", "broker.sock")

	// The victim's file that the planted links point at.
	bashrc := filepath.Join(w.home, ".bashrc")
	if err := os.MkdirAll(w.home, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bashrc, []byte("# my shell\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	// The squatter: this test binary, copied where nobody can run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	binDir, err := os.MkdirTemp("", "squat-bin")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(binDir) })
	os.Chmod(binDir, 0o755)
	squatBin := filepath.Join(binDir, "squat.test")
	if err := os.WriteFile(squatBin, data, 0o755); err != nil {
		t.Fatal(err)
	}
	sq := exec.Command(squatBin)
	sq.Env = append(os.Environ(), squatEnv+"="+squatSock, "BROKER_TEST_PLANT="+bashrc)
	sq.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}}
	stdin, _ := sq.StdinPipe()
	stdout, _ := sq.StdoutPipe()
	if err := sq.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close(); sq.Process.Kill(); sq.Wait() })
	if line, _ := bufio.NewReader(stdout).ReadString('\n'); !strings.HasPrefix(line, "LISTENING") {
		t.Fatalf("the squatter did not start: %q", line)
	}

	// A record of ours pointing there (a daemon that died, a squatter that
	// took its folder) is not trusted either.
	stateDir := filepath.Dir(w.logFile)
	if err := localapi.Publish(stateDir, localapi.Record{PID: 1, Address: squatSock}); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"headers"}, {"token"}, {"status"}} {
		out, errOut, code := runWithin(t, helperLimit, w.bin, env, args...)
		if strings.Contains(out+errOut, squatToken) || strings.Contains(out+errOut, "evil") {
			t.Errorf("%v printed the squatter's answer (exit %d):\n%s%s", args, code, out, errOut)
		}
		if !strings.Contains(errOut, "belongs to uid "+nobody.Uid) {
			t.Errorf("%v does not say whose the socket folder is:\n%s", args, errOut)
		}
		if args[0] != "status" && code != 3 {
			t.Errorf("%v: exit %d, want 3 (not signed in: the cache answered)\n%s%s", args, code, out, errOut)
		}
	}

	// The victim's daemon starts, writes nothing through the links, and
	// listens in a private folder of its own.
	d := exec.Command(w.bin, "run", "--no-tray")
	d.Env = env
	var dout bytes.Buffer
	d.Stdout, d.Stderr = &dout, &dout
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })
	var rec localapi.Record
	w.waitFor("the daemon's record", 15*time.Second, func() bool {
		r, err := localapi.ReadRecord(stateDir)
		rec = r
		return err == nil && r.PID == d.Process.Pid
	})
	if b, _ := os.ReadFile(bashrc); string(b) != "# my shell\n" {
		t.Errorf("the daemon wrote through a planted link: .bashrc holds %q", b)
	}
	if filepath.Dir(rec.Address) == filepath.Dir(squatSock) {
		t.Errorf("the daemon listens in the squatted folder %s", rec.Address)
	}
	out, errOut, code := runWithin(t, helperLimit, w.bin, env, "status")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("daemon: running (pid %d)", d.Process.Pid)) {
		t.Errorf("status with the victim's daemon: exit %d\n%s%s\ndaemon: %s", code, out, errOut, dout.String())
	}
}
