package demo

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

var (
	buildOnce sync.Once
	brokerBin string
	buildErr  error
)

// buildBroker builds the real broker binary once: Claude Code's
// headersHelper runs it.
func buildBroker(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "broker-demo-bin")
		if err != nil {
			buildErr = err
			return
		}
		brokerBin = filepath.Join(dir, "broker")
		out, err := exec.Command("go", "build", "-o", brokerBin, "github.com/mcp-token-broker/mcp-token-broker/cmd/broker").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return brokerBin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if brokerBin != "" {
		os.RemoveAll(filepath.Dir(brokerBin))
	}
	os.Exit(code)
}

// runOnce runs a --once demo and returns its error and output.
func runOnce(t *testing.T, o Options) (error, string) {
	t.Helper()
	var out bytes.Buffer
	o.Once = true
	o.Out = &out
	o.BrokerPath = buildBroker(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	err := Run(ctx, o)
	t.Logf("output:\n%s", out.String())
	return err, out.String()
}

// A token the server must refuse, put in one client's file, makes the
// demo fail and name that client; the other clients still pass.
func TestWrongTokenInOneFileFails(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sandbox")
	err, out := runOnce(t, Options{Dir: dir, spoil: "vscode"})
	var ce *CheckError
	if !errors.As(err, &ce) {
		t.Fatalf("Run = %v, want a *CheckError", err)
	}
	if diff := cmp.Diff([]string{"VS Code"}, ce.Clients); diff != "" {
		t.Errorf("failing clients (-want +got):\n%s", diff)
	}
	if !strings.Contains(err.Error(), "VS Code") {
		t.Errorf("error %q does not name VS Code", err)
	}
	for _, want := range []string{
		"REFUSED   VS Code",
		"401 Unauthorized: wrong audience, aud 00000003-0000-0000-c000-000000000000 (Microsoft Graph)",
		"accepted  Claude Code",
		"accepted  Copilot CLI",
		"accepted  env file",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q", want)
		}
	}
	// The check read the file: the Graph token is what VS Code's file holds.
	url, auth, _, err := headerEntry(filepath.Join(dir, ".config", "Code", "User", "mcp.json"), "servers")
	if err != nil || url == "" || !strings.HasPrefix(auth, "Bearer ey") {
		t.Fatalf("VS Code's file: url %q, auth %q, err %v", url, mask(auth), err)
	}
}

// With a directory, the sandbox stays with valid files in it; a second run
// reuses it; a folder that is not a sandbox is refused untouched.
func TestDirKeptAndReused(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "sandbox")
	for i := 0; i < 2; i++ {
		if err, _ := runOnce(t, Options{Dir: dir}); err != nil {
			t.Fatalf("run %d: %v", i+1, err)
		}
	}
	cfg, err := config.Load("", filepath.Join(dir, ".config", "mcp-token-broker", "config.toml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every target is current in its file (integrations' own check), with
	// the token the demo wrote last, read back from the env file.
	vars, err := readEnvFile(filepath.Join(dir, ".config", "mcp-token.env"))
	if err != nil {
		t.Fatal(err)
	}
	tok := token.Token{Value: token.Secret(vars["MCP_TOKEN"])}
	env := integrations.Env{Home: dir, Getenv: func(k string) string {
		if k == "XDG_CONFIG_HOME" {
			return filepath.Join(dir, ".config")
		}
		return ""
	}, GOOS: "linux", BrokerPath: buildBroker(t)}
	for _, tc := range cfg.Profiles["demo"].Targets {
		tc.Profile = "demo"
		tg, err := integrations.New(tc, env)
		if err != nil {
			t.Fatal(err)
		}
		c := tg.Check(tok)
		if !c.Exists || !c.Parses || !c.Entry || !c.Current || c.Err != nil {
			t.Errorf("%s: %+v", tg, c)
		}
	}
	vs, err := os.ReadFile(filepath.Join(dir, ".config", "Code", "User", "mcp.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, keep := range []string{"// Contoso's data platform, behind Azure API Management", `"args": ["@playwright/mcp@latest"],`, `"inputs": [],`} {
		if !bytes.Contains(vs, []byte(keep)) {
			t.Errorf("VS Code's file lost %q", keep)
		}
	}

	other := t.TempDir()
	os.WriteFile(filepath.Join(other, ".claude.json"), []byte("{}"), 0o600)
	var out bytes.Buffer
	err = Run(context.Background(), Options{Dir: other, Once: true, Out: &out, BrokerPath: buildBroker(t)})
	if err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("Run in a foreign folder = %v, want a refusal", err)
	}
	if b, _ := os.ReadFile(filepath.Join(other, ".claude.json")); string(b) != "{}" {
		t.Errorf("the foreign folder was touched: %q", b)
	}
}

func TestMask(t *testing.T) {
	t.Parallel()
	tok := "eyJ0eXAiOiJKV1QifQ." + strings.Repeat("a", 100) + ".sig-x9Q"
	if got, want := mask(tok), fmt.Sprintf("eyJ0eXAi…(%d chars)…x9Q", len(tok)); got != want {
		t.Errorf("mask = %q, want %q", got, want)
	}
	line := `"Authorization": "Bearer ` + tok + `",`
	if got := maskAll(line); strings.Contains(got, "aaaa") || !strings.Contains(got, "…x9Q") {
		t.Errorf("maskAll(%q) = %q", line, got)
	}
}

// A token that has expired is said so on its removed line.
func TestChangedLinesExpired(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	jwt := func(exp int64) string {
		p := base64.RawURLEncoding.EncodeToString([]byte(fmt.Sprintf(`{"exp":%d}`, exp)))
		return "eyJhbGciOiJub25lIn0." + p + ".c2lnbmF0dXJlLXZhbHVl"
	}
	old := `"Authorization": "Bearer ` + jwt(now.Add(-20*time.Hour).Unix()) + `"` + "\n"
	new := `"Authorization": "Bearer ` + jwt(now.Add(time.Hour).Unix()) + `"` + "\n"
	rem, _ := changedLines([]byte(old), []byte(new), now)
	if len(rem) != 1 || !strings.HasSuffix(rem[0], "← expired 20 h ago") {
		t.Errorf("removed = %q", rem)
	}
	rem, _ = changedLines([]byte(new), []byte(old), now)
	if len(rem) != 1 || strings.Contains(rem[0], "expired") {
		t.Errorf("removed = %q, but that token is valid", rem)
	}
}

func TestChangedLines(t *testing.T) {
	t.Parallel()
	old := "{\n\t\"a\": {\n\t\t\"x\": \"Bearer eyJold.p.s\",\n\t},\n}\n"
	new := "{\n\t\"a\": {\n\t\t\"x\": \"Bearer eyJnew.p.s\",\n\t\t\"y\": 1,\n\t},\n}\n"
	rem, add := changedLines([]byte(old), []byte(new), time.Now())
	if diff := cmp.Diff([]string{`"x": "Bearer …(10 chars)…",`}, rem); diff != "" {
		t.Errorf("removed (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{`"x": "Bearer …(10 chars)…",`, `"y": 1,`}, add); diff != "" {
		t.Errorf("added (-want +got):\n%s", diff)
	}
}

// The env file is read back as a shell would, whatever the token holds.
func TestReadEnvFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "env")
	os.WriteFile(path, []byte("# c\nexport MCP_URL='https://x/mcp'\n"), 0o600)
	tg, err := integrations.New(config.Target{Client: "envfile", Path: path}, integrations.Env{Home: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	val := `it's a "token"`
	if _, err := tg.Apply(context.Background(), token.Token{Value: token.Secret(val)}, nil); err != nil {
		t.Fatal(err)
	}
	vars, err := readEnvFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(map[string]string{"MCP_URL": "https://x/mcp", "MCP_TOKEN": val}, vars); diff != "" {
		t.Errorf("vars (-want +got):\n%s", diff)
	}
	if sh, err := exec.LookPath("sh"); err == nil {
		out, err := exec.Command(sh, "-c", `. "$1" && printf %s "$MCP_TOKEN"`, "sh", path).Output()
		if err != nil || string(out) != val {
			t.Errorf("sh reads %q (%v), want %q", out, err, val)
		}
	}
}

func TestHuman(t *testing.T) {
	t.Parallel()
	for d, want := range map[time.Duration]string{
		5 * time.Minute: "5 min", 6*time.Minute + 15*time.Second: "6 min 15 s", 40 * time.Second: "40 s",
	} {
		if got := human(d); got != want {
			t.Errorf("human(%s) = %q, want %q", d, got, want)
		}
	}
	now := time.Now()
	for d, want := range map[time.Duration]string{
		6*time.Minute + 15*time.Second: "in 6 min", 58 * time.Second: "in 58 s", -2 * time.Minute: "2 min ago",
	} {
		if got := until(now, now.Add(d)); got != want {
			t.Errorf("until(%s) = %q, want %q", d, got, want)
		}
	}
}
