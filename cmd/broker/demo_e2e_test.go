package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/tailscale/hujson"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// demoEnv is the environment of a `broker demo` under test: a HOME and a
// TMPDIR of its own, and none of the variables the demo replaces, so that
// the test can tell that the demo touched nothing outside its sandbox.
func demoEnv(t *testing.T) (env []string, home, tmp string) {
	t.Helper()
	work := t.TempDir()
	home, tmp = filepath.Join(work, "home"), filepath.Join(work, "tmp")
	for _, d := range []string{home, tmp} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if k == "HOME" || k == "TMPDIR" || k == "NO_COLOR" || k == "BROWSER" || k == "SSL_CERT_FILE" ||
			k == "DBUS_SESSION_BUS_ADDRESS" || strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "BROKER_") {
			continue
		}
		env = append(env, kv)
	}
	env = append(env, "HOME="+home, "TMPDIR="+tmp)
	return env, home, tmp
}

// emptyDir fails the test when dir holds anything.
func emptyDir(t *testing.T, what, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("%s %s is not empty: %v", what, dir, names)
	}
}

var clientLabels = []string{"Claude Code", "VS Code", "Copilot CLI", "env file"}

// `broker demo --once --dir D` exits 0 after every client's token was
// accepted, names each client, touches nothing outside D, and leaves D
// with files that parse and hold the token.
func TestDemoOnce(t *testing.T) {
	t.Parallel()
	bin := buildBroker(t)
	for _, tc := range []struct {
		version int
		aud     string
	}{{2, entrasim.DefaultAPIAppID}, {1, entrasim.DefaultAPIAudience}} {
		t.Run(fmt.Sprintf("v%d", tc.version), func(t *testing.T) {
			t.Parallel()
			testDemoOnce(t, bin, tc.version, tc.aud)
		})
	}
}

func testDemoOnce(t *testing.T, bin string, version int, aud string) {
	env, home, tmp := demoEnv(t)
	dir := filepath.Join(t.TempDir(), "sandbox")
	cmd := exec.Command(bin, "demo", "--once", "--dir", dir, "--token-version", strconv.Itoa(version))
	cmd.Env = env
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("broker demo --once: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	out := stdout.String()
	t.Logf("output:\n%s", out)
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	for _, c := range clientLabels {
		if !regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d  accepted  ` + regexp.QuoteMeta(c) + ` .*→ tools/list answered: 2 tools$`).MatchString(out) {
			t.Errorf("output lacks the accepted line of %s", c)
		}
	}
	for _, want := range []string{"sign-in   alice@contoso.com signed in; token for api://mcp-demo-api (v" + strconv.Itoa(version) + ".0, aud " + aud + ")", "sandbox kept in " + dir} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Error("colours in output that is not a terminal")
	}
	// No token in the output: only masked ones.
	if m := regexp.MustCompile(`eyJ[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]+`).FindString(out); m != "" {
		t.Errorf("an unmasked token in the output: %.20s…", m)
	}
	emptyDir(t, "HOME", home)
	emptyDir(t, "TMPDIR", tmp)

	// The files stay, parse as their clients parse them, and hold the token.
	vars := map[string]string{}
	envData, err := os.ReadFile(filepath.Join(dir, ".config", "mcp-token.env"))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(envData), "\n") {
		if v, ok := strings.CutPrefix(line, "export MCP_TOKEN='"); ok {
			vars["MCP_TOKEN"] = strings.TrimSuffix(v, "'")
		}
	}
	tok := vars["MCP_TOKEN"]
	if !strings.HasPrefix(tok, "eyJ") {
		t.Fatalf("the env file holds no token:\n%s", envData)
	}
	for _, f := range []struct {
		path, servers string
		jsonc         bool
	}{
		{".claude.json", "mcpServers", false},
		{".config/Code/User/mcp.json", "servers", true},
		{".copilot/mcp-config.json", "mcpServers", false},
	} {
		data, err := os.ReadFile(filepath.Join(dir, f.path))
		if err != nil {
			t.Fatal(err)
		}
		if f.jsonc {
			if !bytes.Contains(data, []byte("// Contoso's data platform")) {
				t.Errorf("%s lost its comments", f.path)
			}
			if data, err = hujson.Standardize(data); err != nil {
				t.Fatalf("%s: %v", f.path, err)
			}
		}
		var doc map[string]json.RawMessage
		var servers map[string]struct {
			URL           string            `json:"url"`
			Headers       map[string]string `json:"headers"`
			HeadersHelper string            `json:"headersHelper"`
		}
		if err := json.Unmarshal(data, &doc); err != nil {
			t.Fatalf("%s does not parse: %v", f.path, err)
		}
		if err := json.Unmarshal(doc[f.servers], &servers); err != nil {
			t.Fatalf("%s: %s: %v", f.path, f.servers, err)
		}
		e, ok := servers["contoso-data"]
		if !ok || !strings.HasPrefix(e.URL, "https://127.0.0.1:") {
			t.Errorf("%s: entry %+v", f.path, e)
		}
		if f.path == ".claude.json" {
			if want := bin + " headers --profile demo"; e.HeadersHelper != want {
				t.Errorf("headersHelper = %q, want %q", e.HeadersHelper, want)
			}
			continue
		}
		if e.Headers["Authorization"] != "Bearer "+tok {
			t.Errorf("%s: Authorization is not the env file's token", f.path)
		}
	}
}

// Ctrl-C ends a live demo within seconds, with exit 0, and removes its
// temporary sandbox.
func TestDemoInterrupt(t *testing.T) {
	t.Parallel()
	bin := buildBroker(t)
	env, home, tmp := demoEnv(t)
	cmd := exec.Command(bin, "demo")
	cmd.Env = env
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var out strings.Builder
	accepted := make(chan struct{})
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(pipe)
		n := 0
		for sc.Scan() {
			mu.Lock()
			out.WriteString(sc.Text() + "\n")
			mu.Unlock()
			if strings.Contains(sc.Text(), "  accepted  ") {
				if n++; n == len(clientLabels) {
					close(accepted)
				}
			}
		}
	}()
	output := func() string { mu.Lock(); defer mu.Unlock(); return out.String() }
	select {
	case <-accepted:
	case <-time.After(60 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("no four accepted lines within 60 s:\n%s\nstderr:\n%s", output(), stderr.String())
	}
	sandbox := regexp.MustCompile(`(?m)^  sandbox    (\S+)`).FindStringSubmatch(output())
	if sandbox == nil {
		t.Fatalf("no sandbox line:\n%s", output())
	}
	if _, err := os.Stat(filepath.Join(sandbox[1], ".claude.json")); err != nil {
		t.Fatalf("the sandbox is not there while the demo runs: %v", err)
	}

	t.Run("real clients read the sandbox", func(t *testing.T) { realClientsInSandbox(t, env, sandbox[1]) })

	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { <-readDone; waited <- cmd.Wait() }()
	select {
	case err := <-waited:
		if err != nil {
			t.Errorf("broker demo after SIGINT: %v\n%s\nstderr:\n%s", err, output(), stderr.String())
		}
	case <-time.After(10 * time.Second):
		cmd.Process.Kill()
		t.Fatalf("broker demo still running 10 s after SIGINT:\n%s", output())
	}
	t.Logf("output:\n%s", output())
	if !strings.Contains(output(), "daemon stopped; sandbox "+sandbox[1]+" removed") {
		t.Errorf("no goodbye line")
	}
	if _, err := os.Stat(sandbox[1]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the sandbox %s is still there: %v", sandbox[1], err)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr: %s", stderr.String())
	}
	emptyDir(t, "HOME", home)
	emptyDir(t, "TMPDIR", tmp)
}

// realClientsInSandbox points the real Claude Code, Copilot CLI and VS
// Code's JSONC parser (npm, scripts/test-deps) at a running demo's sandbox:
// Claude Code connects through the headersHelper, Copilot CLI and VS Code
// parse their files and find the header.
func realClientsInSandbox(t *testing.T, env []string, sb string) {
	root, _ := filepath.Abs(filepath.Join("..", ".."))
	nm := filepath.Join(root, ".cache", "npm", "node_modules")
	if _, err := os.Stat(filepath.Join(nm, ".bin", "claude")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("the npm client CLIs are missing: run scripts/test-deps")
		}
		t.Skip("the npm client CLIs are missing: run scripts/test-deps")
	}
	ca := filepath.Join(sb, ".config", "mcp-token-broker", "entrasim-ca.pem")
	env = append(env[:len(env):len(env)],
		"HOME="+sb,
		"XDG_CONFIG_HOME="+filepath.Join(sb, ".config"),
		"XDG_STATE_HOME="+filepath.Join(sb, ".local", "state"),
		"XDG_RUNTIME_DIR="+filepath.Join(sb, "run"),
		"BROKER_CONFIG="+filepath.Join(sb, ".config", "mcp-token-broker", "config.toml"),
		"BROKER_ADMIN_CONFIG="+filepath.Join(sb, "no-admin.toml"),
		"SSL_CERT_FILE="+ca,
		"NODE_EXTRA_CA_CERTS="+ca,
		"DISABLE_AUTOUPDATER=1",
		"CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1",
		"TMPDIR="+t.TempDir(), // node's compile cache is not the demo's doing
	)
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, name, args...)
		cmd.Env, cmd.Dir = env, sb
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", filepath.Base(name), args, err, out)
		}
		return string(out)
	}

	if out := run(filepath.Join(nm, ".bin", "claude"), "mcp", "get", "contoso-data"); !strings.Contains(out, "Connected") {
		t.Errorf("claude mcp get contoso-data:\n%s", out)
	}

	var cp map[string]struct {
		URL     string            `json:"url"`
		Headers map[string]string `json:"headers"`
	}
	out := run(filepath.Join(nm, ".bin", "copilot"), "mcp", "get", "contoso-data", "--json")
	if err := json.Unmarshal([]byte(out), &cp); err != nil {
		t.Fatalf("copilot mcp get --json: %v\n%.300s", err, out)
	}
	if e := cp["contoso-data"]; !strings.HasPrefix(e.URL, "https://127.0.0.1:") || !strings.HasPrefix(e.Headers["Authorization"], "Bearer eyJ") {
		t.Errorf("copilot sees url %q and no bearer token", e.URL)
	}

	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal(err)
	}
	script := `const {parse} = require(process.argv[1]); const errors = [];
const v = parse(require("fs").readFileSync(process.argv[2], "utf8"), errors, {allowTrailingComma: true});
const e = ((v || {}).servers || {})["contoso-data"] || {};
console.log(JSON.stringify({errors: errors.length, url: e.url, bearer: /^Bearer eyJ/.test((e.headers || {}).Authorization)}));`
	out = run(node, "-e", script, filepath.Join(nm, "jsonc-parser"), filepath.Join(sb, ".config", "Code", "User", "mcp.json"))
	var vs struct {
		Errors int    `json:"errors"`
		URL    string `json:"url"`
		Bearer bool   `json:"bearer"`
	}
	if err := json.Unmarshal([]byte(out), &vs); err != nil || vs.Errors != 0 || vs.URL == "" || !vs.Bearer {
		t.Errorf("VS Code's parser on mcp.json: %s (%v)", out, err)
	}
}
