//go:build linux

package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// home is a temporary HOME with a config.toml against the simulator, the
// way a user's machine looks to the real broker binary.
type home struct {
	bin  string // the broker binary
	dir  string
	env  []string
	sock string
	log  string
}

// newHome writes cfg (the targets and settings; the profiles named in
// profiles are added) into a new HOME under root.
func newHome(root, bin, self, ca string, sim *entrasim.Server, name, cfg string, profiles []string) (*home, error) {
	dir := filepath.Join(root, name)
	h := &home{
		bin:  bin,
		dir:  dir,
		sock: filepath.Join(dir, "run", "mcp-token-broker", "broker.sock"),
		log:  filepath.Join(dir, ".local", "state", "mcp-token-broker", "broker.log"),
	}
	var b strings.Builder
	b.WriteString(cfg)
	for _, p := range profiles {
		fmt.Fprintf(&b, "\n[profiles.%s]\ntenant = %q\nclient_id = %q\nscopes = [%q]\nauthority = %q\n",
			p, sim.TenantID(), sim.ClientID(), sim.Scope(), sim.URL())
	}
	cdir := filepath.Join(dir, ".config", "mcp-token-broker")
	if err := os.MkdirAll(cdir, 0o700); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cdir, "config.toml"), []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	h.env = cleanEnv(
		"HOME="+dir,
		"XDG_RUNTIME_DIR="+filepath.Join(dir, "run"),
		"SSL_CERT_FILE="+ca,
		"BROKER_ADMIN_CONFIG="+filepath.Join(root, "no-admin.toml"),
		// A bus that does not exist: tokens in the file store, no
		// autolaunched bus, no tray.
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(root, "no-bus"),
		"BROWSER="+self+" browse --ca "+ca,
	)
	return h, nil
}

// cleanEnv is this process's environment without what would leak the
// user's own broker, desktop or proxy settings into a measurement, plus
// extra.
func cleanEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "BROKER_") {
			continue
		}
		switch k {
		case "HOME", "SSL_CERT_FILE", "BROWSER", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "WAYLAND_DISPLAY",
			"NODE_EXTRA_CA_CERTS", "HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// run runs the broker with args and returns stdout; a non-zero exit is an
// error carrying stderr.
func (h *home) run(args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, h.bin, args...)
	cmd.Env = h.env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, fmt.Errorf("broker %s: %w\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return out, nil
}

// daemon is a running `broker run`.
type daemon struct {
	cmd    *exec.Cmd
	out    bytes.Buffer
	exited chan struct{}
}

// startDaemon starts `broker run` with args and extra environment and
// returns once the local API says it is running (the time that took is the
// start-up time).
func (h *home) startDaemon(extraEnv []string, args ...string) (*daemon, time.Duration, error) {
	cmd := exec.Command(h.bin, append([]string{"run"}, args...)...)
	cmd.Env = append(append([]string{}, h.env...), extraEnv...)
	d := &daemon{cmd: cmd, exited: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = &d.out, &d.out
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	go func() { cmd.Wait(); close(d.exited) }()
	for deadline := start.Add(30 * time.Second); ; time.Sleep(time.Millisecond) {
		if st, err := h.status(); err == nil && st.Daemon.Running && st.Daemon.PID == cmd.Process.Pid {
			return d, time.Since(start), nil
		}
		select {
		case <-d.exited:
			return nil, 0, fmt.Errorf("broker run exited: %v\n%s", cmd.ProcessState, d.out.String())
		default:
		}
		if time.Now().After(deadline) {
			d.stop()
			return nil, 0, fmt.Errorf("broker run did not answer within 30s\n%s", d.out.String())
		}
	}
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop sends SIGTERM and waits (SIGKILL after 15 s).
func (d *daemon) stop() error {
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.exited:
	case <-time.After(15 * time.Second):
		d.cmd.Process.Kill()
		<-d.exited
		return fmt.Errorf("broker run did not exit within 15s of SIGTERM")
	}
	return nil
}

// status asks the daemon over the local API.
func (h *home) status() (state.Status, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	c, err := localapi.DialAddress(ctx, h.sock)
	if err != nil {
		return state.Status{}, err
	}
	defer c.Close()
	return c.Status(ctx)
}

// waitSettled waits until every profile has a valid token and every target
// was written.
func (h *home) waitSettled(limit time.Duration) error {
	var last state.Status
	for deadline := time.Now().Add(limit); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := h.status()
		if err != nil {
			continue
		}
		last = st
		if settled(st) {
			return nil
		}
	}
	return fmt.Errorf("the daemon did not write every target within %v: %+v", limit, last.Profiles)
}

func settled(st state.Status) bool {
	for _, p := range st.Profiles {
		if p.State != state.OK {
			return false
		}
		for _, t := range p.Targets {
			if t.State != state.TargetOK {
				return false
			}
		}
	}
	return len(st.Profiles) > 0
}

// procStatus reads fields of /proc/PID/status in kB (VmRSS, VmHWM) or as
// counts (voluntary_ctxt_switches).
func procStatus(pid int) (map[string]int64, error) {
	return procStatusFile(fmt.Sprintf("/proc/%d/status", pid))
}

func procStatusFile(path string) (map[string]int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	m := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		fs := strings.Fields(v)
		if len(fs) == 0 {
			continue
		}
		if n, err := strconv.ParseInt(fs[0], 10, 64); err == nil {
			m[k] = n
		}
	}
	return m, sc.Err()
}

// memory is a process's resident set now and at its peak, in bytes, and
// what the resident set is made of now.
type memory struct{ rss, hwm, anon, file, pss int64 }

// String is "VmRSS (anonymous + file-backed), PSS, VmHWM".
func (m memory) String() string {
	return fmt.Sprintf("%s (%s anon + %s file); PSS %s; peak %s", mb(m.rss), trimMB(mb(m.anon)), trimMB(mb(m.file)), mb(m.pss), mb(m.hwm))
}

func trimMB(s string) string { return strings.TrimSuffix(s, " MB") }

func memOf(pid int) (memory, error) {
	m, err := procStatus(pid)
	if err != nil {
		return memory{}, err
	}
	if m["VmRSS"] == 0 {
		return memory{}, fmt.Errorf("no VmRSS for pid %d", pid)
	}
	mem := memory{rss: m["VmRSS"] << 10, hwm: m["VmHWM"] << 10, anon: m["RssAnon"] << 10, file: m["RssFile"] << 10}
	if r, err := procStatusFile(fmt.Sprintf("/proc/%d/smaps_rollup", pid)); err == nil {
		mem.pss = r["Pss"] << 10
	}
	return mem, nil
}

// cpuSample is what a process used so far, summed over its threads.
type cpuSample struct {
	ticks    int64         // utime+stime from /proc/PID/stat, clock ticks
	onCPU    time.Duration // from /proc/PID/task/*/schedstat (nanoseconds)
	switches int64         // voluntary+nonvoluntary, all threads
	threads  int
}

func cpuOf(pid int) (cpuSample, error) {
	var s cpuSample
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return s, err
	}
	// The fields after the command name (which may hold spaces) in ")".
	rest := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+2:]))
	ut, _ := strconv.ParseInt(rest[11], 10, 64) // field 14
	st, _ := strconv.ParseInt(rest[12], 10, 64) // field 15
	s.ticks = ut + st
	tasks, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*", pid))
	if err != nil {
		return s, err
	}
	for _, t := range tasks {
		m, err := procStatusFile(filepath.Join(t, "status"))
		if err != nil {
			continue // the thread ended
		}
		s.switches += m["voluntary_ctxt_switches"] + m["nonvoluntary_ctxt_switches"]
		if b, err := os.ReadFile(filepath.Join(t, "schedstat")); err == nil {
			if f := strings.Fields(string(b)); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				s.onCPU += time.Duration(n)
			}
		}
		s.threads++
	}
	return s, nil
}
