//go:build linux

package desktoptest

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Xvfb starts a virtual X server on a free display and returns its name,
// e.g. ":3". The screen is width×height with 24-bit colour. The server is
// killed at the test's cleanup. It does not change the environment.
//
// Xvfb missing: t.Fatal when $CI is set, t.Skip otherwise.
func Xvfb(t testing.TB, width, height int) string {
	t.Helper()
	bin := lookTool(t, "Xvfb", "xvfb")
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatalf("xvfb: %v", err)
	}
	defer r.Close()
	// -displayfd: Xvfb picks a free display and writes its number to fd 3.
	cmd := exec.Command(bin, "-displayfd", "3", "-screen", "0", fmt.Sprintf("%dx%dx24", width, height),
		"-nolisten", "tcp", "-noreset")
	cmd.ExtraFiles = []*os.File{w}
	cmd.Env = withoutVars(os.Environ(), "DISPLAY")
	cmd.Stderr = &prefixWriter{t: t, prefix: "Xvfb: "}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		w.Close()
		t.Fatalf("xvfb: starting %s: %v", bin, err)
	}
	w.Close()
	stop := stopper(cmd)
	t.Cleanup(stop)

	numCh := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(r).ReadString('\n')
		numCh <- strings.TrimSpace(line)
	}()
	select {
	case n := <-numCh:
		if n == "" {
			stop()
			t.Fatalf("xvfb: exited without naming its display (%v)", cmd.ProcessState)
		}
		return ":" + n
	case <-time.After(15 * time.Second):
		stop()
		t.Fatal("xvfb: no display within 15s")
		return ""
	}
}

// Screenshot saves the whole screen of display as a PNG at path, with
// ImageMagick's import.
//
// import missing: t.Fatal when $CI is set, t.Skip otherwise.
func Screenshot(t testing.TB, display, path string) {
	t.Helper()
	bin := lookTool(t, "import", "imagemagick")
	cmd := exec.Command(bin, "-display", display, "-window", "root", path)
	cmd.Env = append(withoutVars(os.Environ(), "DISPLAY"), "DISPLAY="+display)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("screenshot: %v: %s", err, out)
	}
}

// X runs an X client (xdotool, xclip…) on display and returns its standard
// output; it fails the test when the command fails.
//
// The program missing: t.Fatal when $CI is set, t.Skip otherwise.
func X(t testing.TB, display, pkg, name string, args ...string) string {
	t.Helper()
	bin := lookTool(t, name, pkg)
	cmd := exec.Command(bin, args...)
	cmd.Env = append(withoutVars(os.Environ(), "DISPLAY"), "DISPLAY="+display)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v: %s", name, strings.Join(args, " "), err, stderr.String())
	}
	return string(out)
}

// Need returns the path of a program a test runs itself; when it is missing
// the test fails under CI and is skipped elsewhere. pkg is its Debian
// package, for the message.
func Need(t testing.TB, name, pkg string) string {
	t.Helper()
	return lookTool(t, name, pkg)
}
