package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// initTrace is what GODEBUG=inittrace=1 printed: one line per package
// initialised, in order.
type initTrace struct {
	pkgs   []string
	bytes  int64 // allocated by all package initialisers
	allocs int64
}

func parseInitTrace(stderr string) (initTrace, string) {
	var tr initTrace
	var rest []string
	for _, l := range strings.Split(stderr, "\n") {
		// init PKG @0.12 ms, 0.34 ms clock, 1234 bytes, 5 allocs
		f := strings.Fields(l)
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," {
			if l != "" {
				rest = append(rest, l)
			}
			continue
		}
		b, err1 := strconv.ParseInt(f[7], 10, 64)
		a, err2 := strconv.ParseInt(f[9], 10, 64)
		if err1 != nil || err2 != nil {
			rest = append(rest, l)
			continue
		}
		tr.pkgs = append(tr.pkgs, f[1])
		tr.bytes += b
		tr.allocs += a
	}
	return tr, strings.Join(rest, "\n")
}

// runTraced runs the broker with GODEBUG=inittrace=1 and returns its
// stdout, its stderr without the trace, the trace and the exit code.
func (w *daemonWorld) runTraced(env []string, args ...string) (string, string, initTrace, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = append(append(append([]string{}, w.env...), env...), "GODEBUG=inittrace=1")
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatalf("broker %v: %v", args, err)
	}
	tr, rest := parseInitTrace(errb.String())
	return out.String(), rest, tr, code
}

const hotPathPkg = "github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"

// answeredEarly reports whether the process ended in the hot path's init
// (the trace has a line for each package whose init returned).
func answeredEarly(tr initTrace) bool {
	return len(tr.pkgs) > 0 && !slices.Contains(tr.pkgs, hotPathPkg)
}

// TestHotPath runs `broker headers` and `broker token` against the running
// daemon and checks that the hot path answers them, exactly as the
// command line proper would, before the program's other packages
// initialise; and that it leaves everything else to the command line.
func TestHotPath(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the hot path is Linux's (peer credentials through package syscall)")
	}
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	w.startDaemon()
	c := w.client()
	defer c.Close()
	tok, err := c.Token(context.Background(), "", 5*time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	jwt := tok.Value.Reveal()
	headers := `{"Authorization":"Bearer ` + jwt + `"}` + "\n"

	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"headers"}, headers},
		{[]string{"headers", "--profile", "data"}, headers},
		{[]string{"headers", "-p", "data"}, headers},
		{[]string{"headers", "--profile=data"}, headers},
		{[]string{"token"}, jwt + "\n"},
		{[]string{"token", "-p", "data", "--format", "header"}, "Authorization: Bearer " + jwt + "\n"},
		{[]string{"token", "--format=env", "--min-validity", "10m"}, "export MCP_TOKEN='" + jwt + "'\n"},
		{[]string{"token", "-f", "raw", "--min-validity=1m"}, jwt + "\n"},
	} {
		out, stderr, tr, code := w.runTraced(nil, tc.args...)
		if code != 0 || out != tc.want || stderr != "" {
			t.Errorf("broker %v exited %d, printed %q (%d bytes; want %d) and %q", tc.args, code, redact(out, jwt), len(out), len(tc.want), stderr)
		}
		if !answeredEarly(tr) {
			t.Errorf("broker %v was not answered by the hot path (%d packages initialised)", tc.args, len(tr.pkgs))
		}
		// What runs before the hot path is the runtime and a few packages
		// of the standard library. An import of strings, bytes, fmt,
		// path/filepath or encoding/json there would add dozens of
		// packages (encoding/gob, encoding/xml, unicode's tables…).
		if len(tr.pkgs) > 25 || tr.bytes > 16<<10 {
			t.Errorf("broker %v: %d packages initialised before the hot path answered, %d bytes allocated (budget 25, 16 KiB): %v", tc.args, len(tr.pkgs), tr.bytes, tr.pkgs)
		}
	}

	// The command line proper: the same token, through the daemon.
	out, _, tr, code := w.runTraced(nil, "token", "--format", "json")
	if code != 0 || !strings.Contains(out, `"accessToken": "`+jwt+`"`) || answeredEarly(tr) {
		t.Errorf("token --format json exited %d and printed %s; by the hot path: %v", code, redact(out, jwt), answeredEarly(tr))
	}
	// An error answer is the command line's to report.
	out, stderr, tr, code := w.runTraced(nil, "headers", "--profile", "nosuch")
	if code == 0 || answeredEarly(tr) || !strings.Contains(stderr, "nosuch") {
		t.Errorf("headers --profile nosuch exited %d, printed %q and %q; by the hot path: %v", code, out, stderr, answeredEarly(tr))
	}
	for _, tc := range []struct {
		what string
		env  []string
		args []string
	}{
		{"BROKER_NO_DAEMON", []string{"BROKER_NO_DAEMON=1"}, []string{"headers"}},
		{"--config", nil, []string{"headers", "--config", filepath.Join(w.home, ".config", "mcp-token-broker", "config.toml")}},
		{"an unknown flag", nil, []string{"token", "--format", "raw", "--verbose"}},
		{"a flag without its value", nil, []string{"token", "--profile"}},
	} {
		_, _, tr, _ := w.runTraced(tc.env, tc.args...)
		if answeredEarly(tr) {
			t.Errorf("%s (%v): answered by the hot path", tc.what, tc.args)
		}
	}

	// A socket folder that others can enter is not trusted.
	dir := filepath.Dir(w.sock)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, tr, _ = w.runTraced(nil, "headers")
	if err := os.Chmod(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	if answeredEarly(tr) {
		t.Error("the hot path used a socket in a folder open to others")
	}
}

// redact replaces the token in s, for error messages.
func redact(s, tok string) string { return strings.ReplaceAll(s, tok, "<token>") }

// TestInitBudget keeps what every broker process pays before main small:
// the package initialisers of `broker version`, measured in bytes
// allocated (deterministic, unlike time). The broker's own packages
// compile their regular expressions and templates on first use
// (sync.OnceValue); a package that compiles a few at start again (each a
// few kB to tens of kB) fails this. The total is mostly the dependencies' (jsonschema-go,
// kardianos/service, MSAL's authority package, encoding/gob); a new
// dependency that builds big tables at start fails it too.
func TestInitBudget(t *testing.T) {
	bin := buildBroker(t)
	cmd := exec.Command(bin, "version")
	cmd.Env = append(os.Environ(), "GODEBUG=inittrace=1")
	var errb bytes.Buffer
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("broker version: %v\n%s", err, errb.String())
	}
	const (
		ownPkg   = 8 << 10   // any one package of this module
		own      = 24 << 10  // all of this module's packages
		total    = 400 << 10 // everything linked
		ownPaths = "github.com/mcp-token-broker/mcp-token-broker/"
	)
	var ownSum, sum int64
	for _, l := range strings.Split(errb.String(), "\n") {
		f := strings.Fields(l)
		if len(f) != 11 || f[0] != "init" || f[8] != "bytes," {
			continue
		}
		b, err := strconv.ParseInt(f[7], 10, 64)
		if err != nil {
			t.Fatalf("reading %q: %v", l, err)
		}
		sum += b
		if strings.HasPrefix(f[1], ownPaths) {
			ownSum += b
			if b > ownPkg {
				t.Errorf("%s allocates %d bytes in its initialisers (budget %d): build what it needs on first use (sync.OnceValue)", f[1], b, ownPkg)
			}
		}
	}
	if sum == 0 {
		t.Fatalf("no init trace in:\n%s", errb.String())
	}
	if ownSum > own {
		t.Errorf("this module's packages allocate %d bytes in their initialisers (budget %d)", ownSum, own)
	}
	if sum > total {
		t.Errorf("the package initialisers of broker version allocate %d bytes (budget %d); GODEBUG=inittrace=1 broker version shows which", sum, total)
	}
	t.Logf("package init: %d bytes, %d of them this module's", sum, ownSum)
}
