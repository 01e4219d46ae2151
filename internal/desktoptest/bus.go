//go:build linux

package desktoptest

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// busConfig is a minimal session bus: it listens on one socket in a private
// folder, activates no services (nothing starts behind a test's back) and
// lets every connection own any name and talk to anyone.
const busConfig = `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>session</type>
  <keep_umask/>
  <listen>unix:path=%s</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow send_destination="*" eavesdrop="true"/>
    <allow eavesdrop="true"/>
    <allow own="*"/>
  </policy>
</busconfig>
`

// SessionBus starts a private dbus-daemon --session with its own config (no
// service activation, no autolaunch) and returns its address, e.g.
// "unix:path=/tmp/desktoptest-123/bus". The daemon is killed at the test's
// cleanup. It does not change the environment: a test that wants libraries
// (go-keyring, systray) to use the bus sets DBUS_SESSION_BUS_ADDRESS itself
// with t.Setenv.
//
// dbus-daemon missing: t.Fatal when $CI is set, t.Skip otherwise.
func SessionBus(t testing.TB) string {
	t.Helper()
	bin := lookTool(t, "dbus-daemon", "dbus")

	// A unix socket path is limited to about 100 bytes, and t.TempDir()
	// names can be long: use a short folder of our own.
	dir, err := os.MkdirTemp("", "desktoptest-bus-")
	if err != nil {
		t.Fatalf("session bus: %v", err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	sock := filepath.Join(dir, "bus")
	conf := filepath.Join(dir, "session.conf")
	if err := os.WriteFile(conf, fmt.Appendf(nil, busConfig, sock), 0o600); err != nil {
		t.Fatalf("session bus: %v", err)
	}

	cmd := exec.Command(bin, "--config-file="+conf, "--nofork", "--nopidfile", "--print-address=1")
	cmd.Env = withoutVars(os.Environ(), "DBUS_SESSION_BUS_ADDRESS", "DISPLAY")
	cmd.Stderr = &prefixWriter{t: t, prefix: "dbus-daemon: "}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatalf("session bus: %v", err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("session bus: starting %s: %v", bin, err)
	}
	stop := stopper(cmd)
	t.Cleanup(stop)

	addrCh := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		addrCh <- strings.TrimSpace(line)
	}()
	select {
	case addr := <-addrCh:
		if addr == "" {
			stop()
			t.Fatalf("session bus: dbus-daemon exited without printing its address (%v)", cmd.ProcessState)
		}
		return addr
	case <-time.After(10 * time.Second):
		stop()
		t.Fatal("session bus: dbus-daemon printed no address within 10s")
		return ""
	}
}

// stopper returns a function that kills the process group of cmd and waits
// for it, once.
func stopper(cmd *exec.Cmd) func() {
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	return func() {
		select {
		case <-done:
			return
		default:
		}
		syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
	}
}

// withoutVars returns env without the named variables.
func withoutVars(env []string, names ...string) []string {
	out := env[:0:0]
next:
	for _, kv := range env {
		for _, n := range names {
			if strings.HasPrefix(kv, n+"=") {
				continue next
			}
		}
		out = append(out, kv)
	}
	return out
}

// prefixWriter logs a helper program's output through t.Log, line by line.
// Lines that arrive after the test ended are dropped.
type prefixWriter struct {
	t      testing.TB
	prefix string
	mu     sync.Mutex
	buf    []byte
}

func (w *prefixWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(w.buf[:i])
		w.buf = w.buf[i+1:]
		// dbus-daemon warns when it may not raise its fd limit (not root
		// in a container): harmless noise.
		if strings.TrimSpace(line) != "" && !strings.Contains(line, "Failed to set fd limit") {
			logSafe(w.t, w.prefix+line)
		}
	}
}

// logSafe calls t.Log, which panics once the test has finished.
func logSafe(t testing.TB, msg string) {
	defer func() { recover() }()
	t.Log(msg)
}
