package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

var (
	simOnce sync.Once
	simBin  string
	simErr  error
)

// buildEntrasim builds cmd/entrasim, whose `browse` is the daemon's $BROWSER.
func buildEntrasim(t testing.TB) string {
	t.Helper()
	simOnce.Do(func() {
		dir, err := os.MkdirTemp("", "entrasim-bin")
		if err != nil {
			simErr = err
			return
		}
		simBin = filepath.Join(dir, "entrasim")
		out, err := exec.Command("go", "build", "-o", simBin, "../entrasim").CombinedOutput()
		if err != nil {
			simErr = fmt.Errorf("go build entrasim: %v\n%s", err, out)
		}
	})
	if simErr != nil {
		t.Fatal(simErr)
	}
	return simBin
}

// daemonWorld is a temporary HOME with a simulator, a config with three
// targets, and the real broker binary.
type daemonWorld struct {
	t       testing.TB // the (sub)test being run
	root    testing.TB // the test that owns the world
	bin     string
	sim     *entrasim.Server
	env     []string
	home    string
	sock    string
	logFile string
	targets map[string]string // kind → path

	mu     sync.Mutex
	pause  bool            // the test itself writes a target: do not check
	tokens map[string]bool // every token seen in a target
	bad    []string        // expired tokens seen in a target
	outs   bytes.Buffer    // everything the CLI printed but tokens it was asked for
}

func newDaemonWorld(t testing.TB, lifetime time.Duration, refreshBefore string) *daemonWorld {
	t.Helper()
	bin := buildBroker(t)
	simb := buildEntrasim(t)
	s, err := entrasim.Start(entrasim.Options{Lifetime: lifetime})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	ca := filepath.Join(dir, "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	run := filepath.Join(dir, "run")
	w := &daemonWorld{t: t, root: t, bin: bin, sim: s, home: home, tokens: map[string]bool{},
		sock:    filepath.Join(run, "mcp-token-broker", "broker.sock"),
		logFile: filepath.Join(home, ".local", "state", "mcp-token-broker", "broker.log"),
		targets: map[string]string{
			"file":    filepath.Join(home, "tok", "token.txt"),
			"envfile": filepath.Join(home, "tok", "token.env"),
			"json":    filepath.Join(home, "tok", "app.json"),
		},
	}
	w.env = append(os.Environ(),
		"HOME="+home,
		"XDG_RUNTIME_DIR="+run,
		"XDG_CONFIG_HOME=", "XDG_STATE_HOME=", "BROKER_CONFIG=", "BROKER_NO_DAEMON=",
		"SSL_CERT_FILE="+ca,
		"BROKER_ADMIN_CONFIG="+filepath.Join(dir, "no-admin.toml"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(dir, "no-bus"),
		"DISPLAY=",
		"BROWSER="+simb+" browse --ca "+ca,
	)
	cfg := fmt.Sprintf(`[settings]
refresh_before = %q
log_level = "debug"

[profiles.data]
tenant = %q
client_id = %q
scopes = [%q]
authority = %q

[[profiles.data.targets]]
client = "file"
path = %q

[[profiles.data.targets]]
client = "envfile"
path = %q

[[profiles.data.targets]]
client = "json"
path = %q
pointer = "/mcp/headers/Authorization"
`, refreshBefore, s.TenantID(), s.ClientID(), s.Scope(), s.URL(), w.targets["file"], w.targets["envfile"], w.targets["json"])
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(w.logFile)
			t.Logf("daemon log:\n%s", b)
		}
	})
	cdir := filepath.Join(home, ".config", "mcp-token-broker")
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(home, "tok"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(cdir, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return w
}

// broker runs the CLI and returns its output and exit code. Output that
// holds a token (token, headers) is not kept for the leak check.
func (w *daemonWorld) broker(args ...string) (string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		w.t.Fatalf("broker %v: %v", args, err)
	}
	if args[0] != "token" && args[0] != "headers" {
		w.mu.Lock()
		w.outs.Write(out.Bytes())
		w.mu.Unlock()
	}
	return out.String(), code
}

// startDaemon starts `broker run --no-tray` and waits until it answers.
func (w *daemonWorld) startDaemon() *exec.Cmd {
	w.t.Helper()
	cmd := exec.Command(w.bin, "run", "--no-tray")
	cmd.Env = w.env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		w.t.Fatal(err)
	}
	w.root.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	w.waitFor("the daemon to answer", 15*time.Second, func() bool {
		c, err := localapi.DialAddress(context.Background(), w.sock)
		if err != nil {
			return false
		}
		defer c.Close()
		st, err := c.Status(context.Background())
		return err == nil && st.Daemon.Running && st.Daemon.PID == cmd.Process.Pid
	})
	return cmd
}

func (w *daemonWorld) client() *localapi.Client {
	w.t.Helper()
	c, err := localapi.DialAddress(context.Background(), w.sock)
	if err != nil {
		w.t.Fatal(err)
	}
	return c
}

func (w *daemonWorld) status() state.Profile {
	w.t.Helper()
	out, code := w.broker("status", "--json")
	if code != 0 {
		w.t.Fatalf("status exited %d: %s", code, out)
	}
	var st state.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Profiles) != 1 {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st.Profiles[0]
}

func (w *daemonWorld) waitFor(what string, limit time.Duration, cond func() bool) {
	w.t.Helper()
	for deadline := time.Now().Add(limit); ; time.Sleep(100 * time.Millisecond) {
		if cond() {
			return
		}
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out after %v waiting for %s", limit, what)
		}
	}
}

var daemonJWT = regexp.MustCompile(`eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+`)

// jwtExp returns a JWT's exp claim.
func jwtExp(tok string) (time.Time, error) {
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		return time.Time{}, fmt.Errorf("not a JWT")
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return time.Time{}, err
	}
	var c struct {
		Exp int64 `json:"exp"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return time.Time{}, err
	}
	return time.Unix(c.Exp, 0), nil
}

// read returns the token each target holds ("" when none) and checks that
// every file is whole: the raw token alone, one export line, valid JSON.
func (w *daemonWorld) read() (map[string]string, error) {
	got := map[string]string{}
	for kind, path := range w.targets {
		b, err := os.ReadFile(path)
		if errors.Is(err, os.ErrNotExist) {
			got[kind] = ""
			continue
		}
		if err != nil {
			return nil, err
		}
		tok := daemonJWT.FindString(string(b))
		switch kind {
		case "file":
			if len(b) > 0 && string(b) != tok {
				return nil, fmt.Errorf("%s is not a whole token (%d bytes)", path, len(b))
			}
		case "envfile":
			if len(b) > 0 && string(b) != "export MCP_TOKEN='"+tok+"'\n" {
				return nil, fmt.Errorf("%s is not one whole export line (%d bytes)", path, len(b))
			}
		case "json":
			var v struct {
				MCP struct {
					Headers map[string]string `json:"headers"`
				} `json:"mcp"`
			}
			if err := json.Unmarshal(b, &v); err != nil {
				return nil, fmt.Errorf("%s does not parse: %v", path, err)
			}
			if h := v.MCP.Headers["Authorization"]; h != "Bearer "+tok {
				return nil, fmt.Errorf("%s holds %d bytes of header, not Bearer and a token", path, len(h))
			}
		}
		got[kind] = tok
	}
	return got, nil
}

// watch reads the targets every 100 ms until ctx ends, recording every
// token and every expired one.
func (w *daemonWorld) watch(ctx context.Context) {
	for {
		got, err := w.read()
		now := time.Now()
		w.mu.Lock()
		if w.pause {
			got, err = nil, nil
		}
		if err != nil {
			w.bad = append(w.bad, err.Error())
		}
		for kind, tok := range got {
			if tok == "" {
				continue
			}
			w.tokens[tok] = true
			if exp, err := jwtExp(tok); err != nil || !exp.After(now) {
				w.bad = append(w.bad, fmt.Sprintf("%s held an expired token (exp %v, now %v)", kind, exp, now))
			}
		}
		w.mu.Unlock()
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// all returns the token every target holds, or "" when they differ.
func (w *daemonWorld) all() string {
	got, err := w.read()
	if err != nil {
		return ""
	}
	first := got["file"]
	for _, tok := range got {
		if tok != first {
			return ""
		}
	}
	return first
}

func (w *daemonWorld) tokenRequests(since time.Time) []entrasim.Request {
	var rs []entrasim.Request
	for _, r := range w.sim.Requests() {
		if r.GrantType != "" && !r.Time.Before(since) {
			rs = append(rs, r)
		}
	}
	return rs
}

// TestDaemonEndToEnd runs the real daemon against the simulator with
// 7-minute tokens and refresh_before = 6m, through automatic refresh, an
// outage, a revoked refresh token, a SIGKILL, a client overwriting a file,
// and checks that no token leaks into the log, status or argv.
func TestDaemonEndToEnd(t *testing.T) {
	t.Parallel() // mostly waiting for the clock
	w := newDaemonWorld(t, 420*time.Second, "6m")
	ctx, cancel := context.WithCancel(context.Background())
	watched := make(chan struct{})
	defer func() { cancel(); <-watched }()

	// Signed in once, by the user, without a daemon.
	if out, code := w.broker("login"); code != 0 {
		t.Fatalf("login exited %d:\n%s", code, out)
	}
	first := w.all()
	if first == "" {
		t.Fatal("login did not write the same token to every target")
	}
	firstExp, _ := jwtExp(first)
	go func() { defer close(watched); w.watch(ctx) }()

	daemon := w.startDaemon()
	// A second daemon says the first is running, and exits 0.
	out, code := w.broker("run", "--no-tray")
	if code != 0 || !strings.Contains(out, fmt.Sprintf("already running (pid %d)", daemon.Process.Pid)) {
		t.Fatalf("second run exited %d: %s", code, out)
	}

	w.sub(t, "refreshes before expiry with no user command", func(t *testing.T) {
		w.waitFor("a new token in every target", 2*time.Minute, func() bool {
			tok := w.all()
			return tok != "" && tok != first
		})
		if !time.Now().Before(firstExp) {
			t.Fatal("the new token came after the first expired")
		}
		if p := w.status(); p.State != state.OK || p.NextRefresh == nil || p.ExpiresOn == nil {
			t.Fatalf("status: %+v", p)
		}
	})

	w.sub(t, "outage: backs off, keeps serving, recovers at once", func(t *testing.T) {
		before := w.all()
		c := w.client()
		defer c.Close()
		start := time.Now()
		w.sim.SetOutage(true, 503)
		if err := c.RefreshNow(ctx, "data"); auth.ClassOf(err) != auth.ClassTemporary {
			t.Fatalf("refresh-now in an outage: %v", err)
		}
		if out, code := w.broker("headers"); code != 0 || !strings.Contains(out, "Bearer ") {
			t.Errorf("headers during the outage exited %d", code)
		}
		if p := w.status(); p.State != state.Degraded || p.LastError == "" {
			t.Errorf("status during the outage: %+v", p)
		}
		time.Sleep(20*time.Second - time.Since(start))
		w.sim.SetOutage(false, 0)
		end := time.Now()
		w.waitFor("a new token after the outage", 40*time.Second, func() bool {
			tok := w.all()
			return tok != "" && tok != before
		})
		reqs := w.tokenRequests(start)
		var failed []time.Time
		for _, r := range reqs {
			if r.Time.Before(end) {
				failed = append(failed, r.Time)
			}
		}
		if len(failed) < 3 || len(failed) > 8 {
			t.Errorf("%d token requests in a 20 s outage, want 3 to 8 (1 s, 2 s, 4 s, … backoff)", len(failed))
		}
		for i := 2; i < len(failed); i++ {
			prev, gap := failed[i-1].Sub(failed[i-2]), failed[i].Sub(failed[i-1])
			if gap < prev-200*time.Millisecond || gap < 900*time.Millisecond {
				t.Errorf("retry gaps do not grow: %v then %v", prev, gap)
			}
		}
		after := reqs[len(failed):]
		if len(after) == 0 || after[0].Status != 200 {
			t.Fatalf("the first request after the outage did not succeed: %+v", after)
		}
		if p := w.status(); p.State != state.OK || p.LastError != "" {
			t.Errorf("status after the outage: %+v", p)
		}
		t.Logf("%d failed requests at %v; recovered %v after the outage", len(failed), failed, after[0].Time.Sub(end))
	})

	w.sub(t, "revoked refresh token: sign-in required, no loop, login resumes", func(t *testing.T) {
		before := w.all()
		c := w.client()
		defer c.Close()
		w.sim.RevokeRefreshTokens()
		start := time.Now()
		if err := c.RefreshNow(ctx, "data"); !errors.Is(err, auth.ErrSignInRequired) {
			t.Fatalf("refresh-now with a revoked refresh token: %v", err)
		}
		if p := w.status(); p.State != state.SignInRequired {
			t.Fatalf("status: %+v", p)
		}
		if n := len(w.tokenRequests(start)); n != 1 {
			t.Errorf("%d token requests before sign-in required, want 1", n)
		}
		if out, code := w.broker("token", "--min-validity", "10m"); code != 3 {
			t.Errorf("token exited %d, want 3:\n%s", code, out)
		}
		time.Sleep(time.Minute - time.Since(start))
		n := 0
		for _, r := range w.sim.Requests() {
			if !r.Time.Before(start) {
				n++
			}
		}
		if n > 3 {
			t.Errorf("%d requests to the simulator in the minute after the revocation, want at most 3", n)
		}
		if out, code := w.broker("login"); code != 0 {
			t.Fatalf("login through the daemon exited %d:\n%s", code, out)
		}
		w.waitFor("a new token after login", 20*time.Second, func() bool {
			tok := w.all()
			return tok != "" && tok != before
		})
		if p := w.status(); p.State != state.OK {
			t.Errorf("status after login: %+v", p)
		}
	})

	w.sub(t, "a client overwriting a file gets the token back", func(t *testing.T) {
		path := w.targets["json"]
		w.mu.Lock()
		w.pause = true
		w.mu.Unlock()
		defer func() {
			w.mu.Lock()
			w.pause = false
			w.mu.Unlock()
		}()
		if err := os.WriteFile(path+".tmp", []byte(`{"mcp": {"headers": {"Authorization": "Bearer stale"}, "keep": 1}}`), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
		w.waitFor("the watcher to re-apply", 10*time.Second, func() bool {
			b, _ := os.ReadFile(path)
			return daemonJWT.Match(b) && bytes.Contains(b, []byte(`"keep": 1`))
		})
	})

	w.sub(t, "SIGKILL and restart: resumes and re-applies", func(t *testing.T) {
		daemon.Process.Signal(syscall.SIGKILL)
		daemon.Wait()
		if _, err := w.read(); err != nil {
			t.Fatalf("after SIGKILL: %v", err)
		}
		ents, _ := os.ReadDir(filepath.Dir(w.targets["file"]))
		if len(ents) != 3 {
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			t.Errorf("files left beside the targets: %v", names)
		}
		// While no daemon runs, a client empties a target.
		if err := os.WriteFile(w.targets["file"], nil, 0o600); err != nil {
			t.Fatal(err)
		}
		daemon = w.startDaemon()
		w.waitFor("the token re-applied at start", 10*time.Second, func() bool { return w.all() != "" })
		if p := w.status(); p.State != state.OK {
			t.Errorf("status after restart: %+v", p)
		}
	})

	w.sub(t, "no token in the log, status or any argv", func(t *testing.T) {
		// Every process's command line, while the daemon runs.
		procs, _ := filepath.Glob("/proc/[0-9]*/cmdline")
		var argv bytes.Buffer
		for _, p := range procs {
			b, _ := os.ReadFile(p)
			argv.Write(b)
			argv.WriteByte('\n')
		}
		// A clean shutdown on SIGTERM.
		daemon.Process.Signal(syscall.SIGTERM)
		if err := daemon.Wait(); err != nil {
			t.Errorf("daemon after SIGTERM: %v", err)
		}
		logb, err := os.ReadFile(w.logFile)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(logb, []byte("daemon stopped")) {
			t.Error("no clean shutdown in the log")
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		if len(w.tokens) < 4 {
			t.Errorf("only %d tokens seen", len(w.tokens))
		}
		for name, hay := range map[string][]byte{"log file": logb, "CLI output": w.outs.Bytes(), "argv": argv.Bytes()} {
			if m := daemonJWT.Find(hay); m != nil {
				t.Errorf("a JWT in the %s", name)
			}
			for tok := range w.tokens {
				if bytes.Contains(hay, []byte(tok)) || bytes.Contains(hay, []byte(strings.Split(tok, ".")[2])) {
					t.Errorf("a delivered token in the %s", name)
				}
			}
		}
	})

	cancel()
	<-watched
	watched = make(chan struct{})
	close(watched)
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, b := range w.bad {
		t.Errorf("target check: %s", b)
	}
}

// sub runs a subtest with w reporting to it.
func (w *daemonWorld) sub(parent *testing.T, name string, f func(t *testing.T)) {
	parent.Run(name, func(t *testing.T) {
		w.t = t
		defer func() { w.t = parent }()
		f(t)
	})
}
