// The hot path is Linux's (cmd/broker/hotpath).

package main

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

// tracedRun is one run of the real binary.
type tracedRun struct {
	out, stderr string
	code        int
	early       bool // answered by the hot path
}

func (w *daemonWorld) tracedRun(env []string, args ...string) tracedRun {
	w.t.Helper()
	out, stderr, tr, code := w.runTraced(env, args...)
	return tracedRun{out, stderr, code, answeredEarly(tr)}
}

// TestHotPathWithoutTheDaemon compares, on the same state, what the
// command line proper answers (every memo removed) with what the next
// run answers (from the memo the first one wrote, when the hot path can
// vouch for it): the same bytes and exit code, and the hot path only
// where the command line would have taken the cached token.
func TestHotPathWithoutTheDaemon(t *testing.T) {
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	state := filepath.Join(w.home, ".local", "state", "mcp-token-broker")
	config := filepath.Join(w.home, ".config", "mcp-token-broker", "config.toml")
	orig, err := os.ReadFile(config)
	if err != nil {
		t.Fatal(err)
	}
	forget := func() {
		ms, _ := filepath.Glob(filepath.Join(state, "hotpath-*.memo"))
		for _, m := range ms {
			os.Remove(m)
		}
	}
	// A socket that answers nothing, where a bus (and so a keyring) could be.
	bus := filepath.Join(t.TempDir(), "bus")
	l, err := net.Listen("unix", bus)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	for _, tc := range []struct {
		what  string
		env   []string
		args  []string
		env2  []string // the second run's, when not env
		early bool
		// between runs the first and the second (the memo is then there)
		between func(t *testing.T)
		after   func(t *testing.T)
	}{
		{what: "token", args: []string{"token"}, early: true},
		{what: "headers", args: []string{"headers"}, early: true},
		{what: "a named profile", args: []string{"headers", "-p", "data"}, early: true},
		{what: "header format, 10m", args: []string{"token", "--profile=data", "-f", "header", "--min-validity", "10m"}, early: true},
		{what: "env format", args: []string{"token", "--format=env"}, early: true},
		{what: "BROKER_NO_DAEMON", env: []string{"BROKER_NO_DAEMON=1"}, args: []string{"token"}, early: true},
		{what: "54 of the token's 60 minutes asked", args: []string{"token", "--min-validity", "54m"}, early: true},

		// The command line refreshes: more validity than the token has.
		{what: "more validity than left", args: []string{"token", "--min-validity", "59m59s"}},
		// Claude Code names the server: reask's memo decides.
		{what: "a server asks", env: []string{"CLAUDE_CODE_MCP_SERVER_NAME=api"}, args: []string{"headers"}},
		{what: "--config", args: []string{"token", "--config", config}},
		// The same folder, named otherwise: the hot path does not judge.
		{what: "another environment", args: []string{"token"}, env2: []string{"XDG_CONFIG_HOME=" + filepath.Join(w.home, ".config")}},
		{what: "a bus that may hold a keyring", env: []string{"DBUS_SESSION_BUS_ADDRESS=unix:path=" + bus}, args: []string{"token"}},
		{what: "the config edited", args: []string{"token"},
			between: func(t *testing.T) { appendFile(t, config, "\n# edited\n") },
			after:   func(t *testing.T) { writeFile(t, config, orig) }},
		{what: "the config broken", args: []string{"token"},
			between: func(t *testing.T) { appendFile(t, config, "\n[settings\n") },
			after:   func(t *testing.T) { writeFile(t, config, orig) }},
		{what: "an admin config rolled out", args: []string{"token"},
			between: func(t *testing.T) {
				writeFile(t, envValue(w.env, "BROKER_ADMIN_CONFIG"), []byte("[settings]\nstorage = \"keyring\"\n"))
			},
			after: func(t *testing.T) { os.Remove(envValue(w.env, "BROKER_ADMIN_CONFIG")) }},
		{what: "a scope a server added", args: []string{"token"},
			between: func(t *testing.T) {
				writeFile(t, filepath.Join(state, "scopes-data.json"), []byte(`{"scopes": ["`+w.sim.Scope()+`"]}`))
			},
			after: func(t *testing.T) { os.Remove(filepath.Join(state, "scopes-data.json")) }},
		{what: "a daemon's record (a daemon that died)", args: []string{"token"},
			between: func(t *testing.T) {
				if err := localapi.Publish(state, localapi.Record{PID: 1, Address: filepath.Join(w.home, "gone.sock")}); err != nil {
					t.Fatal(err)
				}
			},
			after: func(t *testing.T) { os.Remove(filepath.Join(state, localapi.RecordFile)) }},
		{what: "an encrypted cache beside the plain one", args: []string{"token"},
			between: func(t *testing.T) { writeFile(t, filepath.Join(state, "msal-cache.bin"), []byte("x")) },
			after:   func(t *testing.T) { os.Remove(filepath.Join(state, "msal-cache.bin")) }},
		{what: "signed out", args: []string{"headers"},
			between: func(t *testing.T) {
				if out, code := w.broker("logout"); code != 0 {
					t.Fatalf("logout exited %d: %s", code, out)
				}
			},
			after: func(t *testing.T) {
				if out, code := w.broker("login"); code != 0 {
					t.Fatalf("login exited %d: %s", code, out)
				}
			}},
	} {
		t.Run(tc.what, func(t *testing.T) {
			w.t = t
			defer func() { w.t = w.root }()
			forget()
			slow := w.tracedRun(tc.env, tc.args...)
			if slow.early {
				t.Fatalf("answered by the hot path without a memo")
			}
			if tc.between != nil {
				tc.between(t)
			}
			env := tc.env
			if tc.env2 != nil {
				env = tc.env2
			}
			// The command line proper on the state the second run sees.
			want := slow
			if tc.between != nil || tc.env2 != nil {
				saved := saveMemos(t, state)
				forget()
				want = w.tracedRun(env, tc.args...)
				forget()
				restoreMemos(t, saved)
			}
			got := w.tracedRun(env, tc.args...)
			if tc.after != nil {
				tc.after(t)
			}
			if got.early != tc.early {
				t.Errorf("answered by the hot path: %v, want %v", got.early, tc.early)
			}
			if got.code != want.code || got.stderr != want.stderr {
				t.Errorf("exit %d and stderr %q; the command line proper: %d and %q", got.code, got.stderr, want.code, want.stderr)
			}
			if tc.early && got.out != want.out {
				t.Errorf("printed %q; the command line proper %q", got.out, want.out)
			}
			if got.code == 0 && !strings.Contains(got.out, "eyJ") {
				t.Errorf("printed no token: %q", got.out)
			}
		})
	}
}

// TestHotPathInsideMSALsWindow: a token with less than MSAL's 5 minutes
// left is one the command line refreshes, every time; the hot path never
// answers it.
func TestHotPathInsideMSALsWindow(t *testing.T) {
	w := newDaemonWorld(t, hotpath.MSALWindow-time.Minute, "5m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	seen := map[string]bool{}
	for i := range 3 {
		r := w.tracedRun(nil, "token", "--min-validity", "0s")
		if r.code != 0 || r.early || seen[r.out] {
			t.Errorf("run %d: exit %d, by the hot path %v, a token seen before %v", i, r.code, r.early, seen[r.out])
		}
		seen[r.out] = true
	}
}

// saveMemos and restoreMemos keep the memos of the state folder aside
// while the command line proper runs alone.
func saveMemos(t *testing.T, state string) map[string][]byte {
	t.Helper()
	saved := map[string][]byte{}
	ms, _ := filepath.Glob(filepath.Join(state, "hotpath-*.memo"))
	for _, m := range ms {
		b, err := os.ReadFile(m)
		if err != nil {
			t.Fatal(err)
		}
		saved[m] = b
	}
	return saved
}

func restoreMemos(t *testing.T, saved map[string][]byte) {
	t.Helper()
	for m, b := range saved {
		writeFile(t, m, b)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func appendFile(t *testing.T, path, s string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, path, append(b, s...))
}

func envValue(env []string, k string) string {
	v := ""
	for _, kv := range env {
		if after, ok := strings.CutPrefix(kv, k+"="); ok {
			v = after
		}
	}
	return v
}

// TestHotPathFromTheDaemonsMemo: with the daemon running, a named
// profile's `headers` and `token` are answered from the daemon's memo of
// its current token: the daemon's own answer (asked over the local API on
// the same state), also while the daemon cannot run (stopped), and not
// once the daemon dropped the token, asks for more validity than it has,
// or is gone.
func TestHotPathFromTheDaemonsMemo(t *testing.T) {
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	d := w.startDaemon()
	state := filepath.Join(w.home, ".local", "state", "mcp-token-broker")
	memoFile := filepath.Join(state, hotpath.DaemonMemoFile("data"))
	c := w.client()
	defer c.Close()
	daemons := func(minValidity time.Duration) string {
		t.Helper()
		tok, err := c.Token(t.Context(), "data", minValidity)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Value.Reveal()
	}
	jwt := daemons(5 * time.Minute)
	b, err := os.ReadFile(memoFile)
	if err != nil {
		t.Fatalf("the daemon wrote no memo: %v", err)
	}
	start, _ := hotpath.ProcessStart(d.Process.Pid)
	if want := "daemon " + strconv.Itoa(d.Process.Pid) + " " + start + "\ntoken " + hotpath.Sum([]byte(jwt)) + " "; !strings.Contains(string(b), want) || strings.Contains(string(b), jwt) {
		t.Fatalf("the memo %q does not name the daemon and its token's hash (%q), or holds the token", redact(string(b), jwt), want)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"headers", "-p", "data"}, `{"Authorization":"Bearer ` + jwt + `"}` + "\n"},
		{[]string{"token", "--profile=data"}, jwt + "\n"},
		{[]string{"token", "-p", "data", "-f", "env", "--min-validity", "50m"}, "export MCP_TOKEN='" + jwt + "'\n"},
	} {
		r := w.tracedRun(nil, tc.args...)
		if !r.early || r.code != 0 || r.out != tc.want || r.stderr != "" {
			t.Errorf("%v: early %v, exit %d, printed %q and %q", tc.args, r.early, r.code, redact(r.out, jwt), r.stderr)
		}
	}
	// Stopped, the daemon answers nothing: the memo does.
	if err := d.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	r := w.tracedRun(nil, "token", "-p", "data")
	d.Process.Signal(syscall.SIGCONT)
	if !r.early || r.out != jwt+"\n" {
		t.Errorf("with the daemon stopped: early %v, printed %q", r.early, redact(r.out, jwt))
	}

	// More than the token has: the daemon refreshes; not the memo's. (The
	// token is an hour's, seconds old: wait until it has less than 59m58s
	// left, as a fresh one has more.)
	time.Sleep(2 * time.Second)
	r = w.tracedRun(nil, "token", "-p", "data", "--min-validity", "59m58s")
	if r.code != 0 || r.out == jwt+"\n" {
		t.Errorf("--min-validity 59m58s: exit %d, the old token: %v", r.code, r.out == jwt+"\n")
	}
	// That refresh is the daemon's new token, and its memo says so.
	jwt = daemons(5 * time.Minute)
	if r := w.tracedRun(nil, "token", "-p", "data"); !r.early || r.out != jwt+"\n" {
		t.Errorf("after the refresh: early %v, the daemon's new token %v", r.early, r.out == jwt+"\n")
	}
	// A server named: its first ask is the memo's too
	// (TestHotPathAServersFirstAsk).
	if r := w.tracedRun([]string{"CLAUDE_CODE_MCP_SERVER_NAME=api"}, "headers", "-p", "data"); !r.early || r.code != 0 || r.out != `{"Authorization":"Bearer `+jwt+`"}`+"\n" {
		t.Errorf("a named server: early %v, exit %d, the daemon's token %v", r.early, r.code, r.out == `{"Authorization":"Bearer `+jwt+`"}`+"\n")
	}

	// Signed out through the daemon: no memo, the daemon's answer.
	if out, code := w.broker("logout"); code != 0 {
		t.Fatalf("logout exited %d: %s", code, out)
	}
	if _, err := os.Stat(memoFile); !os.IsNotExist(err) {
		t.Errorf("a memo after the sign-out: %v", err)
	}
	if r := w.tracedRun(nil, "token", "-p", "data"); r.early || r.code != 3 {
		t.Errorf("signed out: early %v, exit %d (want 3)", r.early, r.code)
	}
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d: %s", code, out)
	}
	jwt = daemons(5 * time.Minute)
	if r := w.tracedRun(nil, "token", "-p", "data"); !r.early || r.out != jwt+"\n" {
		t.Errorf("signed in again: early %v, the daemon's token %v", r.early, r.out == jwt+"\n")
	}

	// A daemon killed leaves its record and memo: neither is used.
	d.Process.Kill()
	d.Wait()
	r = w.tracedRun(nil, "token", "-p", "data")
	if r.early || r.code != 0 || r.out != jwt+"\n" {
		t.Errorf("the daemon killed: early %v, exit %d, the cached token %v", r.early, r.code, r.out == jwt+"\n")
	}
	// Stopped properly, it removes its memo.
	d = w.startDaemon()
	daemons(5 * time.Minute)
	if _, err := os.Stat(memoFile); err != nil {
		t.Fatalf("no memo from the new daemon: %v", err)
	}
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
	if _, err := os.Stat(memoFile); !os.IsNotExist(err) {
		t.Errorf("a memo after the daemon stopped: %v", err)
	}
}

// TestHotPathAServersFirstAsk: with the daemon running, a named server's
// first ask (Claude Code's headersHelper names it, at every connection)
// is answered from the daemon's memo (also while the daemon cannot run)
// once the server has an ask record (the daemon writes it at the
// server's first ask ever), and recorded there for the daemon to judge
// the next: a second ask within the window gets a freshly redeemed token
// (one refresh), a third the same one (no refresh loop), as
// TestServerAsksAgainAfterRefusal has the daemon answer them. A new
// daemon knows nothing of the old one's asks: their records count for
// none.
func TestHotPathAServersFirstAsk(t *testing.T) {
	w := newDaemonWorld(t, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	state := filepath.Join(w.home, ".local", "state", "mcp-token-broker")
	daemons := func() string {
		t.Helper()
		c := w.client()
		defer c.Close()
		tok, err := c.Token(t.Context(), "data", 5*time.Minute)
		if err != nil {
			t.Fatal(err)
		}
		return tok.Value.Reveal()
	}
	refreshes := func(since time.Time) int {
		n := 0
		for _, r := range w.tokenRequests(since) {
			if r.GrantType == "refresh_token" {
				n++
			}
		}
		return n
	}
	claude := func(server string) []string {
		return []string{"CLAUDE_CODE_MCP_SERVER_NAME=" + server, "CLAUDE_CODE_MCP_SERVER_URL=" + w.sim.MCPURL()}
	}
	headers := func(tok string) string { return `{"Authorization":"Bearer ` + tok + `"}` + "\n" }
	record := func(server string) string {
		return filepath.Join(state, hotpath.AskFile(hotpath.AskKey("data", server, w.sim.MCPURL())))
	}
	checkRecord := func(server string, pid int, tok string) {
		t.Helper()
		fi, err := os.Stat(record(server))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("the ask record of %s: %v, %v", server, fi, err)
		}
		b, _ := os.ReadFile(record(server))
		p, _, at, sum, _, ok := hotpath.ParseAsk(b)
		if !ok || p != pid || sum != hotpath.Sum([]byte(tok)) || time.Since(at) > time.Minute || strings.Contains(string(b), tok) {
			t.Fatalf("the ask record %q does not record %s's ask of the daemon's token, or holds it", redact(string(b), tok), server)
		}
	}

	// Each server's first ask ever: the daemon's, which writes its record.
	d := w.startDaemon()
	jwt := daemons()
	for _, server := range []string{"api", "other"} {
		if r := w.tracedRun(claude(server), "headers", "-p", "data"); r.code != 0 || r.out != headers(jwt) {
			t.Fatalf("%s's first ask ever: exit %d, the daemon's token %v", server, r.code, r.out == headers(jwt))
		}
		checkRecord(server, d.Process.Pid, jwt)
	}
	// The next session, of another daemon here: first asks again.
	d.Process.Signal(syscall.SIGTERM)
	d.Wait()
	d = w.startDaemon()
	defer func() { d.Process.Signal(syscall.SIGTERM); d.Wait() }()
	jwt = daemons()
	// While stopped, the daemon answers nothing: what is answered early
	// is the memo's.
	stopped := func(server string) tracedRun {
		t.Helper()
		if err := d.Process.Signal(syscall.SIGSTOP); err != nil {
			t.Fatal(err)
		}
		defer d.Process.Signal(syscall.SIGCONT)
		return w.tracedRun(claude(server), "headers", "-p", "data")
	}
	since := time.Now()
	if r := stopped("api"); !r.early || r.code != 0 || r.out != headers(jwt) || r.stderr != "" {
		t.Fatalf("the first ask: early %v, exit %d, printed %q and %q", r.early, r.code, redact(r.out, jwt), r.stderr)
	}
	checkRecord("api", d.Process.Pid, jwt)

	// After a 401: a new token, redeemed for it.
	r := w.tracedRun(claude("api"), "headers", "-p", "data")
	second := daemonJWT.FindString(r.out)
	if !r.early || r.code != 0 || r.out != headers(second) || second == jwt || refreshes(since) != 1 {
		t.Fatalf("the second ask: exit %d, a new token %v, %d refreshes, want 1", r.code, second != jwt, refreshes(since))
	}
	if now := daemons(); now != second {
		t.Fatalf("the second ask's token is not the daemon's current one")
	}
	// Refused again: the same token, no refresh loop.
	if r := w.tracedRun(claude("api"), "headers", "-p", "data"); r.code != 0 || r.out != headers(second) || refreshes(since) != 1 {
		t.Fatalf("the third ask: exit %d, the same token %v, %d refreshes, want 1", r.code, r.out == headers(second), refreshes(since))
	}
	// Another server's first ask: the memo's, of the new token,
	if r := stopped("other"); !r.early || r.code != 0 || r.out != headers(second) || refreshes(since) != 1 {
		t.Fatalf("another server's first ask: early %v, exit %d, the current token %v, %d refreshes", r.early, r.code, r.out == headers(second), refreshes(since))
	}
	// and its second within the window: the daemon's again.
	if r := w.tracedRun(claude("other"), "headers", "-p", "data"); r.code != 0 || r.out == headers(second) || refreshes(since) != 2 {
		t.Fatalf("another server's second ask: exit %d, a new token %v, %d refreshes, want 2", r.code, r.out != headers(second), refreshes(since))
	}
}
