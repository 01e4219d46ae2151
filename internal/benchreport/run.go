//go:build linux

package main

import (
	"bytes"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// row is one line of the report: the number, the target, met or missed.
type row struct {
	what, value, target, verdict string
}

// section is one numbered item of the report.
type section struct {
	title string
	rows  []row
	notes []string
}

// run holds one benchmark run: the simulator, the HOMEs and the results.
type run struct {
	o       options
	started time.Time
	load    []string // /proc/loadavg at the start, middle and end
	root    string   // temporary folder of everything
	self    string   // this binary (the browser stand-in, the rewrite child)
	ca      string
	sim     *entrasim.Server
	a       *home // 3 profiles, 10 targets (memory, idle, latency, bridge)
	f       *home // fan-out: profiles fan10 and fan50
	secs    map[int]*section
	failed  int

	latency      map[string]durations // "daemon headers", "cache token"…
	mcpRemoteRSS int64
	initTotal    time.Duration // package init of `broker version`, median
	initTop      string        // the costliest package inits
	missed       map[int]bool
	vals         map[string]string // numbers the commentary cites
}

func newRun(o options) (*run, error) {
	r := &run{o: o, started: time.Now(), secs: map[int]*section{}, latency: map[string]durations{}, missed: map[int]bool{}, vals: map[string]string{}}
	r.sample("start")
	var err error
	if r.self, err = os.Executable(); err != nil {
		return nil, err
	}
	if _, err := os.Stat(o.broker); err != nil {
		return nil, fmt.Errorf("the broker binary: %w (run make build)", err)
	}
	// Short: unix socket paths are limited to ~100 bytes.
	if r.root, err = os.MkdirTemp("", "bench-"); err != nil {
		return nil, err
	}
	// A fixed lifetime of an hour: no scheduled refresh happens during the
	// run, so the idle window is idle.
	if r.sim, err = entrasim.Start(entrasim.Options{Lifetime: time.Hour}); err != nil {
		return nil, err
	}
	r.ca = filepath.Join(r.root, "ca.pem")
	if err := r.sim.WriteCA(r.ca); err != nil {
		return nil, err
	}
	if r.a, err = newHome(r.root, o.broker, r.self, r.ca, r.sim, "a", r.configA(), []string{"a", "b", "c"}); err != nil {
		return nil, err
	}
	if r.f, err = newHome(r.root, o.broker, r.self, r.ca, r.sim, "f", r.configF(), []string{"fan10", "fan50"}); err != nil {
		return nil, err
	}
	for _, l := range []struct {
		h *home
		p string
	}{{r.a, "a"}, {r.a, "b"}, {r.a, "c"}, {r.f, "fan10"}, {r.f, "fan50"}} {
		if _, err := l.h.run("login", "--profile", l.p); err != nil {
			return nil, err
		}
	}
	return r, nil
}

func (r *run) close() {
	r.sim.Close()
	os.RemoveAll(r.root)
}

// sample records the load average now.
func (r *run) sample(when string) {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) >= 3 {
		r.load = append(r.load, fmt.Sprintf("%s: %s %s %s", when, f[0], f[1], f[2]))
	}
}

// configA is the everyday machine: 3 profiles, 10 targets of 9 clients.
func (r *run) configA() string {
	h := filepath.Join(r.root, "a")
	url := r.sim.MCPURL()
	var b strings.Builder
	b.WriteString("[settings]\nlog_level = \"info\"\n")
	t := func(profile, kv string) {
		fmt.Fprintf(&b, "\n[[profiles.%s.targets]]\n%s\n", profile, kv)
	}
	t("a", fmt.Sprintf("client = \"claude\"\nserver = \"api\"\nurl = %q\nmode = \"header\"\npath = %q", url, filepath.Join(h, ".claude.json")))
	t("a", fmt.Sprintf("client = \"vscode\"\nserver = \"api\"\nurl = %q\npath = %q", url, filepath.Join(h, ".config", "Code", "User", "mcp.json")))
	t("a", fmt.Sprintf("client = \"copilot\"\nserver = \"api\"\nurl = %q\nmode = \"header\"", url))
	t("a", fmt.Sprintf("client = \"claude-desktop\"\nserver = \"demo\"\nurl = %q\nmode = \"bridge\"\npath = %q", url, filepath.Join(h, ".config", "Claude", "claude_desktop_config.json")))
	t("b", fmt.Sprintf("client = \"gemini\"\nserver = \"data\"\nurl = %q\nmode = \"header\"", url))
	t("b", fmt.Sprintf("client = \"cursor\"\nserver = \"data\"\nurl = %q\nmode = \"header\"", url))
	t("b", fmt.Sprintf("client = \"envfile\"\npath = %q", filepath.Join(h, "tok", "b.env")))
	t("c", fmt.Sprintf("client = \"windsurf\"\nserver = \"ops\"\nurl = %q\nmode = \"header\"", url))
	t("c", fmt.Sprintf("client = \"json\"\npath = %q\npointer = \"/mcp/headers/Authorization\"", filepath.Join(h, "tok", "app.json")))
	t("c", fmt.Sprintf("client = \"file\"\npath = %q", filepath.Join(h, "tok", "c.token")))
	os.MkdirAll(filepath.Join(h, "tok"), 0o700)
	os.WriteFile(filepath.Join(h, "tok", "app.json"), []byte("{\n  \"name\": \"app\",\n  \"mcp\": {}\n}\n"), 0o600)
	return b.String()
}

// fanClients are the clients the fan-out targets rotate through; every one
// holds the token itself (no helper mode), each in its own file.
var fanClients = []string{"claude", "vscode", "copilot", "gemini", "cursor", "windsurf", "json", "envfile", "file"}

// configF has profile fan10 with 10 targets and fan50 with 50.
func (r *run) configF() string {
	h := filepath.Join(r.root, "f")
	var b strings.Builder
	b.WriteString("[settings]\nlog_level = \"debug\"\n")
	for _, p := range []struct {
		name string
		n    int
	}{{"fan10", 10}, {"fan50", 50}} {
		for i := range p.n {
			dir := filepath.Join(h, p.name, fmt.Sprintf("t%02d", i))
			os.MkdirAll(dir, 0o700)
			c := fanClients[i%len(fanClients)]
			fmt.Fprintf(&b, "\n[[profiles.%s.targets]]\nclient = %q\n", p.name, c)
			switch c {
			case "json":
				path := filepath.Join(dir, "app.json")
				os.WriteFile(path, []byte("{\n  \"name\": \"app\",\n  \"mcp\": {}\n}\n"), 0o600)
				fmt.Fprintf(&b, "path = %q\npointer = \"/mcp/headers/Authorization\"\n", path)
			case "envfile":
				fmt.Fprintf(&b, "path = %q\n", filepath.Join(dir, "token.env"))
			case "file":
				fmt.Fprintf(&b, "path = %q\n", filepath.Join(dir, "token.txt"))
			default:
				path := filepath.Join(dir, "mcp.json")
				if c == "claude" {
					path = filepath.Join(dir, ".mcp.json")
				}
				b.WriteString("mode = \"header\"\n") // the fan-out writes the token into each file
				os.WriteFile(path, []byte("{\n  \"other\": {\"command\": \"x\"}\n}\n"), 0o600)
				fmt.Fprintf(&b, "server = \"api\"\nurl = %q\npath = %q\n", r.sim.MCPURL(), path)
			}
		}
	}
	return b.String()
}

// add appends a row to section n.
func (r *run) add(n int, title string, rw row) {
	s := r.secs[n]
	if s == nil {
		s = &section{title: title}
		r.secs[n] = s
	}
	s.rows = append(s.rows, rw)
	if strings.Contains(rw.verdict, "missed") {
		r.missed[n] = true
	}
}

func (r *run) note(n int, format string, args ...any) {
	s := r.secs[n]
	if s == nil {
		s = &section{}
		r.secs[n] = s
	}
	s.notes = append(s.notes, fmt.Sprintf(format, args...))
}

// fail records a measurement that could not be made.
func (r *run) fail(n int, title, what string, err error) {
	r.failed++
	slog.Error("measurement failed", "what", what, "err", err)
	r.add(n, title, row{what: what, value: "failed: " + firstLine(err.Error()), verdict: "**failed**"})
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// verdict says whether v ≤ limit.
func verdict(v, limit float64) string {
	if v <= limit {
		return "met"
	}
	return "**missed**"
}

// atLeast says whether v ≥ limit.
func atLeast(v, limit float64) string {
	if v >= limit {
		return "met"
	}
	return "**missed**"
}

// usage is the CPU time and page faults of the timed runs, per run.
type usage struct {
	user, sys time.Duration
	faults    int64
}

func (u usage) String() string {
	return fmt.Sprintf("per run %s user + %s sys CPU, %d page faults", trimUnit(ms(u.user))+" ms", trimUnit(ms(u.sys))+" ms", u.faults)
}

// timeCmd runs name args warm times untimed, then n times timed (whole
// process, fork to exit), and checks each run with ok. It also returns the
// CPU time and minor page faults per timed run (getrusage of the child).
func timeCmd(env []string, warm, n int, ok func(out []byte, err error) error, name string, args ...string) (durations, usage, error) {
	var ds durations
	var u usage
	for i := range warm + n {
		cmd := exec.Command(name, args...)
		cmd.Env = env
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		err := cmd.Run()
		d := time.Since(start)
		if cerr := ok(out.Bytes(), err); cerr != nil {
			return nil, u, fmt.Errorf("%s %s: %w", filepath.Base(name), strings.Join(args, " "), cerr)
		}
		if i >= warm {
			ds = append(ds, d)
			u.user += cmd.ProcessState.UserTime()
			u.sys += cmd.ProcessState.SystemTime()
			if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
				u.faults += ru.Minflt + ru.Majflt
			}
		}
	}
	if n > 0 {
		u.user /= time.Duration(n)
		u.sys /= time.Duration(n)
		u.faults /= int64(n)
	}
	return ds, u, nil
}

// timedCmd is one command of timeRounds.
type timedCmd struct {
	key, what string // the key of its results; what the report calls it
	env       []string
	ok        func(out []byte, err error) error
	argv      []string
	round     func(i int) []string // more variables for round i (nil: none)
}

// timeRounds runs every command once per round: warm rounds untimed, then
// n timed rounds. Each round runs them in a new order (a shuffle with a
// fixed seed), so that no command always follows the same one (a process
// after a heavier one, or the daemon's first request after a pause, costs
// more): starting each round one command further down a fixed list, as
// before, had `headers` with the daemon always run right after `broker
// version`.
// It returns each command's durations and its CPU time and page faults
// per timed run.
func timeRounds(warm, n int, cmds []timedCmd) (map[string]durations, map[string]usage, error) {
	res := map[string]durations{}
	use := map[string]usage{}
	order := make([]int, len(cmds))
	for j := range order {
		order[j] = j
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range warm + n {
		rng.Shuffle(len(order), func(a, b int) { order[a], order[b] = order[b], order[a] })
		for _, j := range order {
			c := cmds[j]
			timed := 0
			if i >= warm {
				timed = 1
			}
			env := c.env
			if c.round != nil {
				env = append(append([]string{}, c.env...), c.round(i)...)
			}
			ds, u, err := timeCmd(env, 1-timed, timed, c.ok, c.argv[0], c.argv[1:]...)
			if err != nil {
				return nil, nil, err
			}
			if timed == 1 {
				res[c.key] = append(res[c.key], ds...)
				t := use[c.key]
				t.user, t.sys, t.faults = t.user+u.user, t.sys+u.sys, t.faults+u.faults
				use[c.key] = t
			}
		}
	}
	for k, u := range use {
		u.user /= time.Duration(n)
		u.sys /= time.Duration(n)
		u.faults /= int64(n)
		use[k] = u
	}
	return res, use, nil
}

func succeeded(out []byte, err error) error {
	if err != nil {
		return fmt.Errorf("%v: %s", err, firstLine(string(out)))
	}
	if len(out) == 0 {
		return fmt.Errorf("printed nothing")
	}
	return nil
}

func step(what string) { slog.Info("bench: " + what) }

// measureAll runs every measurement in an order that keeps them from
// disturbing each other: the idle window runs while nothing else does.
func (r *run) measureAll() {
	r.binary()         // 6
	r.startup()        // 6
	r.latencies()      // 1
	r.keyringLatency() // 1
	r.az()             // 1
	if r.o.onlyLatency {
		r.sample("end")
		return
	}
	r.headlessDaemon() // 2, 5, 7 (bridge process)
	r.sample("middle")
	r.tray()          // 2
	r.fanOut()        // 4
	r.rewrite()       // 3
	r.bridgeGoBench() // 7
	r.proxyGoBench()  // 8
	r.sample("end")
}
