package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// bridgeEnv is a temporary HOME with the simulator as the authority and a
// target "demo" bridged to its MCP endpoint.
type bridgeEnv struct {
	bin  string
	sim  *entrasim.Server
	home string
	ca   string
	env  []string
}

func newBridgeEnv(t *testing.T) *bridgeEnv {
	t.Helper()
	bin := buildBroker(t)
	sim, err := entrasim.Start(entrasim.Options{AutoApproveDevice: true, DeviceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	work := t.TempDir()
	home := filepath.Join(work, "home")
	ca := filepath.Join(work, "sim-ca.pem")
	if err := sim.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	if err := writeSimConfig(sim, home, "data"); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(home, ".config", "mcp-token-broker", "config.toml")
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(f, "[[profiles.data.targets]]\nclient = \"claude-desktop\"\nserver = \"demo\"\nurl = %q\nmode = \"bridge\"\n", sim.MCPURL())
	f.Close()
	e := &bridgeEnv{bin: bin, sim: sim, home: home, ca: ca}
	e.env = isolatedEnv(
		"HOME="+home,
		"XDG_RUNTIME_DIR="+filepath.Join(work, "run"),
		"SSL_CERT_FILE="+ca,
		"BROKER_ADMIN_CONFIG="+filepath.Join(work, "no-admin.toml"),
		"DBUS_SESSION_BUS_ADDRESS=",
	)
	return e
}

// login signs in with the device code, which the simulator approves.
func (e *bridgeEnv) login(t *testing.T) {
	t.Helper()
	cmd := exec.Command(e.bin, "login", "--device-code", "--profile", "data")
	cmd.Env = e.env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("broker login: %v\n%s", err, out)
	}
}

// bridgeProc is a running `broker bridge`.
type bridgeProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	lines  chan []byte
	stdout bytes.Buffer // every byte written to stdout
	stderr bytes.Buffer
	done   chan struct{}
}

func (e *bridgeEnv) start(t *testing.T, args ...string) *bridgeProc {
	t.Helper()
	return e.startArgv(t, e.bin, append([]string{"bridge"}, args...)...)
}

// session starts the bridge with args and opens an MCP session through it
// (initialize, then notifications/initialized).
func (e *bridgeEnv) session(t *testing.T, args ...string) *bridgeProc {
	t.Helper()
	p := e.start(t, args...)
	p.send(e2eInit)
	if a := p.recv(); a.Error != nil {
		t.Fatalf("initialize: %+v", a.Error)
	}
	p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	return p
}

// rawToken is what `broker token --format raw` prints in the bridge's
// environment.
func (e *bridgeEnv) rawToken(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(e.bin, "token", "--format", "raw")
	cmd.Env = e.env
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}

func (e *bridgeEnv) startArgv(t *testing.T, name string, args ...string) *bridgeProc {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = e.env
	p := &bridgeProc{t: t, cmd: cmd, lines: make(chan []byte, 16), done: make(chan struct{})}
	cmd.Stderr = &p.stderr
	var err error
	if p.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(p.done)
		r := bufio.NewReader(out)
		for {
			line, err := r.ReadBytes('\n')
			p.stdout.Write(line)
			if len(line) > 0 {
				p.lines <- line
			}
			if err != nil {
				close(p.lines)
				return
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill() })
	return p
}

func (p *bridgeProc) send(line string) {
	p.t.Helper()
	if _, err := io.WriteString(p.stdin, line+"\n"); err != nil {
		p.t.Fatal(err)
	}
}

type answer struct {
	ID     json.RawMessage `json:"id"`
	Result json.RawMessage `json:"result"`
	Error  *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error"`
}

func (p *bridgeProc) recv() answer {
	p.t.Helper()
	select {
	case line, ok := <-p.lines:
		if !ok {
			p.t.Fatalf("the bridge closed stdout; stderr:\n%s", p.stderr.String())
		}
		var a answer
		if err := json.Unmarshal(line, &a); err != nil {
			p.t.Fatalf("stdout line %q: %v", line, err)
		}
		return a
	case <-time.After(15 * time.Second):
		p.t.Fatalf("no answer from the bridge; stderr:\n%s", p.stderr.String())
	}
	return answer{}
}

// finish closes stdin and returns the exit code.
func (p *bridgeProc) finish() int {
	p.t.Helper()
	p.stdin.Close()
	for range p.lines {
	}
	<-p.done
	exited := make(chan error, 1)
	go func() { exited <- p.cmd.Wait() }()
	select {
	case err := <-exited:
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			return ee.ExitCode()
		}
		if err != nil {
			p.t.Fatal(err)
		}
		return 0
	case <-time.After(10 * time.Second):
		p.t.Fatal("the bridge did not exit after stdin closed")
		return -1
	}
}

// memKB reads the process's memory figures (kB) from /proc: VmRSS,
// RssAnon, RssFile from status and Pss from smaps_rollup.
func memKB(pid int) (map[string]int, error) {
	m := map[string]int{}
	for _, f := range []string{"status", "smaps_rollup"} {
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/%s", pid, f))
		if err != nil {
			return nil, err
		}
		for _, line := range strings.Split(string(data), "\n") {
			k, v, ok := strings.Cut(line, ":")
			if !ok || !strings.HasSuffix(v, " kB") {
				continue
			}
			if n, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(v, " kB"))); err == nil {
				m[k] = n
			}
		}
	}
	if m["VmRSS"] == 0 {
		return nil, errors.New("no VmRSS in /proc")
	}
	return m, nil
}

// checkProtocolOnly parses every line the bridge wrote to stdout.
func checkProtocolOnly(t *testing.T, out string) {
	t.Helper()
	if out == "" || !strings.HasSuffix(out, "\n") {
		t.Fatalf("stdout = %q", out)
	}
	for i, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var m map[string]json.RawMessage
		if err := json.Unmarshal([]byte(line), &m); err != nil || string(m["jsonrpc"]) != `"2.0"` {
			t.Errorf("stdout line %d is not a JSON-RPC message: %q", i+1, line)
		}
		for k := range m {
			switch k {
			case "jsonrpc", "id", "method", "params", "result", "error":
			default:
				t.Errorf("stdout line %d has a member %q: %q", i+1, k, line)
			}
		}
	}
}

const e2eInit = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"e2e","version":"1"}}}`

// TestBridgeBinary runs the real binary over real stdin/stdout, with the
// token from the cache that `broker login` filled.
func TestBridgeBinary(t *testing.T) {
	e := newBridgeEnv(t)

	t.Run("sign-in required, then signed in while running", func(t *testing.T) {
		p := e.start(t, "demo")
		p.send(e2eInit)
		a := p.recv()
		if a.Error == nil || a.Error.Code != -32001 || !strings.Contains(a.Error.Message, "broker login --profile data") {
			t.Fatalf("initialize before sign-in: %+v", a.Error)
		}
		// The user follows the message; the client retries, no restart.
		e.login(t)
		p.send(strings.Replace(e2eInit, `"id":1`, `"id":2`, 1))
		if a := p.recv(); a.Error != nil || string(a.ID) != "2" {
			t.Fatalf("initialize after sign-in: %s %+v", a.ID, a.Error)
		}
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d after stdin closed, want 0; stderr:\n%s", code, p.stderr.String())
		}
		checkProtocolOnly(t, p.stdout.String())
	})

	t.Run("session", func(t *testing.T) {
		e.sim.ResetLog()
		start := time.Now()
		p := e.start(t, "demo")
		p.send(e2eInit)
		if a := p.recv(); a.Error != nil || !bytes.Contains(a.Result, []byte("entrasim-mcp")) {
			t.Fatalf("initialize: %+v %s", a.Error, a.Result)
		}
		t.Logf("from exec to the initialize answer (token from the cache): %v", time.Since(start).Round(time.Millisecond))
		p.send(`{"jsonrpc":"2.0","method":"notifications/initialized"}`)
		p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		if a := p.recv(); a.Error != nil || !bytes.Contains(a.Result, []byte(`"whoami"`)) {
			t.Fatalf("tools/list: %+v %s", a.Error, a.Result)
		}
		p.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"whoami","arguments":{}}}`)
		a := p.recv()
		if a.Error != nil || !bytes.Contains(a.Result, []byte(e.sim.Username())) {
			t.Fatalf("tools/call: %+v %s", a.Error, a.Result)
		}
		mem, err := memKB(p.cmd.Process.Pid)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("bridge memory during the session: VmRSS %d kB (RssAnon %d kB, RssFile %d kB), Pss %d kB", mem["VmRSS"], mem["RssAnon"], mem["RssFile"], mem["Pss"])
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d after stdin closed, want 0; stderr:\n%s", code, p.stderr.String())
		}
		checkProtocolOnly(t, p.stdout.String())
		if !strings.Contains(p.stderr.String(), "bridge started") {
			t.Errorf("stderr has no log: %q", p.stderr.String())
		}
		var methods []string
		for _, c := range e.sim.MCPCalls() {
			if !c.Authorized {
				t.Errorf("refused: %+v", c)
			}
			methods = append(methods, c.HTTPMethod+" "+c.Method)
		}
		if got := methods[len(methods)-1]; got != "DELETE " {
			t.Errorf("last request %q, want the session's DELETE (all: %q)", got, methods)
		}
		log, err := os.ReadFile(filepath.Join(e.home, ".local", "state", "mcp-token-broker", "broker.log"))
		if err != nil || !bytes.Contains(log, []byte("component=bridge")) {
			t.Errorf("broker log: %v %q", err, log)
		}
	})

	t.Run("token from the running daemon", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		daemon := exec.CommandContext(ctx, e.bin, "run", "--no-tray")
		daemon.Env = e.env
		var dlog bytes.Buffer
		daemon.Stdout, daemon.Stderr = &dlog, &dlog
		daemon.Cancel = func() error { return daemon.Process.Signal(os.Interrupt) }
		daemon.WaitDelay = 5 * time.Second
		if err := daemon.Start(); err != nil {
			t.Fatal(err)
		}
		defer func() {
			cancel()
			daemon.Wait()
		}()
		for deadline := time.Now().Add(15 * time.Second); ; {
			st := exec.Command(e.bin, "status", "--json")
			st.Env = e.env
			out, _ := st.Output()
			if bytes.Contains(out, []byte(`"running": true`)) || bytes.Contains(out, []byte(`"running":true`)) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the daemon did not start: %s\n%s", out, dlog.String())
			}
			time.Sleep(100 * time.Millisecond)
		}
		p := e.start(t, "demo")
		p.send(e2eInit)
		if a := p.recv(); a.Error != nil {
			t.Fatalf("initialize: %+v", a.Error)
		}
		p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"via daemon"}}}`)
		if a := p.recv(); a.Error != nil || !bytes.Contains(a.Result, []byte("via daemon")) {
			t.Fatalf("tools/call: %+v %s", a.Error, a.Result)
		}
		if mem, err := memKB(p.cmd.Process.Pid); err == nil {
			t.Logf("bridge memory with the daemon's token: VmRSS %d kB (RssAnon %d kB, RssFile %d kB), Pss %d kB", mem["VmRSS"], mem["RssAnon"], mem["RssFile"], mem["Pss"])
		}
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
		}
		if !strings.Contains(p.stderr.String(), "source=daemon") {
			t.Errorf("the bridge did not take its token from the daemon; stderr:\n%s", p.stderr.String())
		}
		checkProtocolOnly(t, p.stdout.String())
	})

	t.Run("SIGTERM ends the session cleanly", func(t *testing.T) {
		e.sim.ResetLog()
		p := e.start(t, "demo")
		p.send(e2eInit)
		if a := p.recv(); a.Error != nil {
			t.Fatalf("initialize: %+v", a.Error)
		}
		if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d after SIGTERM, want 0; stderr:\n%s", code, p.stderr.String())
		}
		// Calls are recorded when they end: the session's GET stream
		// may end (because of the DELETE) after it, so look for the
		// DELETE rather than take the last call.
		var deleted bool
		for _, c := range e.sim.MCPCalls() {
			deleted = deleted || (c.HTTPMethod == http.MethodDelete && c.Status == http.StatusNoContent)
		}
		if !deleted {
			t.Errorf("no DELETE of the session in %+v", e.sim.MCPCalls())
		}
		checkProtocolOnly(t, p.stdout.String())
	})

	t.Run("--url without a target", func(t *testing.T) {
		p := e.start(t, "--url", e.sim.MCPURL())
		p.send(e2eInit)
		if a := p.recv(); a.Error != nil || !bytes.Contains(a.Result, []byte("entrasim-mcp")) {
			t.Fatalf("initialize: %+v %s", a.Error, a.Result)
		}
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
		}
		checkProtocolOnly(t, p.stdout.String())
	})

	t.Run("unknown server", func(t *testing.T) {
		cmd := exec.Command(e.bin, "bridge", "nope")
		cmd.Env = e.env
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 2 {
			t.Errorf("exit: %v, want code 2", err)
		}
		if stdout.Len() != 0 || !strings.Contains(stderr.String(), `no target has the server name "nope"`) || !strings.Contains(stderr.String(), "hint: known servers: demo") {
			t.Errorf("stdout %q stderr %q", stdout.String(), stderr.String())
		}
	})

	t.Run("connect --bridge wires claude-desktop", func(t *testing.T) {
		cmd := exec.Command(e.bin, "connect", "claude-desktop", "--server", "demo", "--bridge")
		cmd.Env = e.env
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("broker connect: %v\n%s", err, out)
		}
		data, err := os.ReadFile(filepath.Join(e.home, ".config", "Claude", "claude_desktop_config.json"))
		if err != nil {
			t.Fatal(err)
		}
		var desktop struct {
			MCPServers map[string]struct {
				Command string   `json:"command"`
				Args    []string `json:"args"`
			} `json:"mcpServers"`
		}
		if err := json.Unmarshal(data, &desktop); err != nil {
			t.Fatalf("%v: %s", err, data)
		}
		entry := desktop.MCPServers["demo"]
		if entry.Command != e.bin || len(entry.Args) < 2 || entry.Args[0] != "bridge" || entry.Args[1] != "demo" {
			t.Fatalf("claude_desktop_config.json entry = %+v, want %s bridge demo …", entry, e.bin)
		}
		// Start it the way Claude Desktop does: the entry's command and args.
		p := e.startArgv(t, entry.Command, entry.Args...)
		p.send(e2eInit)
		if a := p.recv(); a.Error != nil {
			t.Fatalf("initialize through the wired entry: %+v", a.Error)
		}
		p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
		if a := p.recv(); a.Error != nil || !bytes.Contains(a.Result, []byte(`"echo"`)) {
			t.Fatalf("tools/list through the wired entry: %+v %s", a.Error, a.Result)
		}
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
		}
		checkProtocolOnly(t, p.stdout.String())
	})

	t.Run("connect --bridge wires copilot", func(t *testing.T) {
		loader, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules", "@github", "copilot", "npm-loader.js"))
		if _, err := os.Stat(loader); err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("Copilot CLI is not installed (scripts/test-deps): %v", err)
			}
			t.Skipf("Copilot CLI is not installed (scripts/test-deps): %v", err)
		}
		node, err := exec.LookPath("node")
		if err != nil {
			t.Fatal(err)
		}
		connect := exec.Command(e.bin, "connect", "copilot", "--server", "demo", "--bridge")
		connect.Env = e.env
		if out, err := connect.CombinedOutput(); err != nil {
			t.Fatalf("broker connect: %v\n%s", err, out)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		get := exec.CommandContext(ctx, node, loader, "mcp", "get", "demo", "--json")
		get.Env = e.env
		get.Dir = e.home
		out, err := get.Output()
		if err != nil {
			t.Fatalf("copilot mcp get: %v\n%s", err, out)
		}
		// Copilot's own parse of the entry: a local (stdio) server that
		// runs the bridge; then run it as Copilot would.
		var parsed map[string]struct {
			Type    string   `json:"type"`
			Command string   `json:"command"`
			Args    []string `json:"args"`
		}
		if err := json.Unmarshal(out, &parsed); err != nil {
			t.Fatalf("copilot mcp get --json: %v: %s", err, out)
		}
		entry := parsed["demo"]
		if entry.Type != "local" || entry.Command != e.bin || len(entry.Args) < 2 || entry.Args[0] != "bridge" {
			t.Fatalf("Copilot reads the entry as %+v", entry)
		}
		p := e.startArgv(t, entry.Command, entry.Args...)
		p.send(e2eInit)
		if a := p.recv(); a.Error != nil {
			t.Fatalf("initialize through Copilot's entry: %+v", a.Error)
		}
		if code := p.finish(); code != 0 {
			t.Errorf("exit code %d; stderr:\n%s", code, p.stderr.String())
		}
	})

	t.Run("claude code lists it connected", func(t *testing.T) {
		// Claude Code 2.1.x ships a native executable; older ones cli.js.
		pkg, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules", "@anthropic-ai", "claude-code"))
		var argv []string
		if _, err := os.Stat(filepath.Join(pkg, "bin", "claude.exe")); err == nil {
			argv = []string{filepath.Join(pkg, "bin", "claude.exe")}
		} else if _, err := os.Stat(filepath.Join(pkg, "cli.js")); err == nil {
			node, err := exec.LookPath("node")
			if err != nil {
				t.Fatal(err)
			}
			argv = []string{node, filepath.Join(pkg, "cli.js")}
		} else {
			if os.Getenv("CI") != "" {
				t.Fatalf("Claude Code is not installed in %s (scripts/test-deps)", pkg)
			}
			t.Skipf("Claude Code is not installed in %s (scripts/test-deps)", pkg)
		}
		// The entry as `broker connect claude --server demo --bridge`
		// writes it: {"type": "stdio", "command": broker, "args": [...]}.
		connect := exec.Command(e.bin, "connect", "claude", "--server", "demo", "--bridge")
		connect.Env = e.env
		if out, err := connect.CombinedOutput(); err != nil {
			t.Fatalf("broker connect: %v\n%s", err, out)
		}
		written, err := os.ReadFile(filepath.Join(e.home, ".claude.json"))
		if err != nil || !bytes.Contains(written, []byte(`"stdio"`)) || !bytes.Contains(written, []byte(`"bridge"`)) {
			t.Fatalf("~/.claude.json after connect --bridge: %v %s", err, written)
		}
		e.sim.ResetLog()
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, argv[0], append(argv[1:], "mcp", "list")...)
		cmd.Env = append(e.env, "NODE_EXTRA_CA_CERTS="+e.ca, "CLAUDE_CONFIG_DIR=", "DISABLE_AUTOUPDATER=1")
		cmd.Dir = e.home
		out, err := cmd.CombinedOutput()
		t.Logf("claude mcp list:\n%s", out)
		if err != nil {
			t.Fatalf("claude mcp list: %v", err)
		}
		if !regexpConnected(string(out), "demo") {
			t.Errorf("claude mcp list does not say demo is connected")
		}
		var sawInit bool
		for _, c := range e.sim.MCPCalls() {
			sawInit = sawInit || (c.Method == "initialize" && c.Authorized)
		}
		if !sawInit {
			t.Error("the MCP server saw no authorized initialize from Claude Code's bridge")
		}
	})
}

func regexpConnected(out, name string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, name+":") && strings.Contains(line, "Connected") {
			return true
		}
	}
	return false
}
