package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// TestMain lets scripts run `browse URL`: a $BROWSER stand-in that does
// what a browser does with the simulator's sign-in page (this test binary,
// re-executed).
func TestMain(m *testing.M) {
	if os.Getenv(squatEnv) != "" {
		os.Exit(squatMain())
	}
	testscript.Main(cleanupM{m}, map[string]func(){
		"browse": func() { os.Exit(browseMain()) },
	})
}

// cleanupM removes the binary buildBroker built once the tests are done
// (testscript.Main exits by itself).
type cleanupM struct{ m *testing.M }

func (c cleanupM) Run() int {
	code := c.m.Run()
	if brokerBin != "" {
		os.RemoveAll(filepath.Dir(brokerBin))
	}
	return code
}

// browseMain is the $BROWSER command: it trusts SSL_CERT_FILE (the
// simulator's CA), like the broker.
func browseMain() int {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: browse URL")
		return 2
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := entrasim.Browse(ctx, &http.Client{Timeout: 10 * time.Second}, os.Args[1]); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

var (
	buildOnce sync.Once
	brokerBin string
	buildErr  error
)

// buildBroker builds the real broker binary once per test run.
func buildBroker(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "broker-e2e-bin")
		if err != nil {
			buildErr = err
			return
		}
		bin := filepath.Join(dir, "broker")
		cmd := exec.Command("go", "build", "-o", bin, ".")
		out, err := cmd.CombinedOutput()
		if err != nil {
			os.RemoveAll(dir)
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
			return
		}
		brokerBin = bin // TestMain removes it at the end
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return brokerBin
}

type simKey struct{}

// TestSignInScripts runs testdata/signin/*.txtar against the real binary
// in a temporary HOME, with a simulator per script, for an API that
// issues v2 tokens (aud its application ID) and for one that issues v1.
func TestSignInScripts(t *testing.T) {
	bin := buildBroker(t)
	for _, version := range tokenVersions {
		t.Run(fmt.Sprintf("v%d", version), func(t *testing.T) {
			testscript.Run(t, testscript.Params{
				Dir:                 "testdata/signin",
				RequireExplicitExec: true,
				Setup: func(env *testscript.Env) error {
					s, err := simScriptSetup(env, bin, entrasim.Options{AutoApproveDevice: true, DeviceInterval: time.Second, TokenVersion: version})
					if err != nil {
						return err
					}
					return writeSimConfig(s, env.Getenv("HOME"), "data")
				},
				Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
					"sim":  cmdSim,
					"code": cmdCode,
				},
			})
		})
	}
}

// tokenVersions are the shapes of access token the end-to-end suites run
// with: Entra's registration of the API chooses (requestedAccessTokenVersion).
var tokenVersions = []int{2, 1}

// simScriptSetup gives a script a simulator of its own and a sandbox: a
// temporary HOME, the simulator's CA trusted, no admin config, a session
// bus that does not exist (no keyring, never an autolaunched one), the
// `browse` stand-in as $BROWSER and the built broker first on PATH. The
// scripts read SIM_URL, SIM_USER, SIM_TENANT, SIM_CLIENT, SIM_AUD,
// SIM_ISS, SIM_TOKEN_VERSION and STATE.
func simScriptSetup(env *testscript.Env, bin string, o entrasim.Options) (*entrasim.Server, error) {
	s, err := entrasim.Start(o)
	if err != nil {
		return nil, err
	}
	env.Defer(func() { s.Close() })
	env.Values[simKey{}] = s
	work := env.WorkDir
	home := filepath.Join(work, "home")
	ca := filepath.Join(work, "sim-ca.pem")
	if err := s.WriteCA(ca); err != nil {
		return nil, err
	}
	env.Setenv("HOME", home)
	env.Setenv("XDG_RUNTIME_DIR", filepath.Join(work, "run"))
	env.Setenv("SSL_CERT_FILE", ca)
	env.Setenv("NODE_EXTRA_CA_CERTS", ca)
	env.Setenv("BROKER_ADMIN_CONFIG", filepath.Join(work, "no-admin.toml"))
	env.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(work, "no-bus"))
	env.Setenv("BROWSER", "browse")
	env.Setenv("PATH", filepath.Dir(bin)+string(os.PathListSeparator)+env.Getenv("PATH"))
	env.Setenv("STATE", filepath.Join(home, ".local", "state", "mcp-token-broker"))
	env.Setenv("SIM_URL", s.URL())
	env.Setenv("SIM_USER", s.Username())
	env.Setenv("SIM_TENANT", s.TenantID())
	env.Setenv("SIM_CLIENT", s.ClientID())
	env.Setenv("SIM_TOKEN_VERSION", strconv.Itoa(s.TokenVersion()))
	env.Setenv("SIM_AUD", s.TokenAudience())
	env.Setenv("SIM_ISS", s.TokenIssuer())
	return s, nil
}

// isolatedEnv is this process's environment without what points at the
// user's own files, folders, bus, display or CA (a test's broker and
// clients must see only its sandbox), and then extra.
func isolatedEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		switch strings.SplitN(kv, "=", 2)[0] {
		case "HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "XDG_RUNTIME_DIR", "XDG_DATA_HOME", "BROKER_CONFIG",
			"SSL_CERT_FILE", "BROWSER", "DBUS_SESSION_BUS_ADDRESS", "DISPLAY", "COPILOT_HOME", "CLAUDE_CONFIG_DIR":
			continue
		}
		env = append(env, kv)
	}
	return append(env, extra...)
}

// writeSimConfig writes the user's config with one profile per name, all
// against the simulator.
func writeSimConfig(s *entrasim.Server, home string, names ...string) error {
	var b strings.Builder
	for _, n := range names {
		fmt.Fprintf(&b, "[profiles.%s]\ntenant = %q\nclient_id = %q\nscopes = [%q]\nauthority = %q\n\n",
			n, s.TenantID(), s.ClientID(), s.Scope(), s.URL())
	}
	dir := filepath.Join(home, ".config", "mcp-token-broker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "config.toml"), []byte(b.String()), 0o600)
}

// cmdCode runs a command and checks its exit code: code N prog args...
func cmdCode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: code N command [args...]")
	}
	want, err := strconv.Atoi(args[0])
	if err != nil {
		ts.Fatalf("code: %v", err)
	}
	err = ts.Exec(args[1], args[2:]...)
	got := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		got = ee.ExitCode()
	case err != nil:
		ts.Fatalf("code: %v", err)
	}
	if got != want {
		ts.Fatalf("%s exited %d, want %d", args[1], got, want)
	}
}

// cmdSim drives the script's simulator:
//
//	sim reset                 forget the request log
//	sim requests N            exactly N requests reached the authority
//	sim grants G1,G2|none     the token grants since the last reset
//	sim revoke                revoke every refresh token
//	sim outage on|off         503 on every authority endpoint
//	sim lifetime DUR          access-token lifetime
//	sim delay DUR             slow every authority answer
//	sim queue CODE OAUTHERR   queue an AADSTS error
//	sim stop                  close the simulator (authority unreachable)
//	sim config NAME...        rewrite the config with these profiles
//	sim append-config FILE    append FILE to the config
func cmdSim(ts *testscript.TestScript, neg bool, args []string) {
	s := ts.Value(simKey{}).(*entrasim.Server)
	if len(args) == 0 {
		ts.Fatalf("usage: sim VERB ...")
	}
	switch args[0] {
	case "reset":
		s.ResetLog()
	case "requests":
		n, _ := strconv.Atoi(args[1])
		if got := len(s.Requests()); (got == n) == neg {
			ts.Fatalf("the authority saw %d requests, want %d: %+v", got, n, s.Requests())
		}
	case "grants":
		var g []string
		for _, r := range s.Requests() {
			if r.GrantType != "" {
				g = append(g, r.GrantType)
			}
		}
		got := strings.Join(g, ",")
		if got == "" {
			got = "none"
		}
		if (got == args[1]) == neg {
			ts.Fatalf("grants = %s, want %s", got, args[1])
		}
	case "revoke":
		s.RevokeRefreshTokens()
	case "outage":
		s.SetOutage(args[1] == "on", http.StatusServiceUnavailable)
	case "delay":
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		s.SetDelay(d)
	case "lifetime":
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		s.SetLifetime(d)
	case "queue":
		code, err := strconv.Atoi(args[1])
		ts.Check(err)
		s.QueueError(code, args[2], "")
	case "stop":
		ts.Check(s.Close())
	case "config":
		ts.Check(writeSimConfig(s, ts.Getenv("HOME"), args[1:]...))
	case "append-config":
		cfg := filepath.Join(ts.Getenv("HOME"), ".config", "mcp-token-broker", "config.toml")
		f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
		ts.Check(err)
		_, err = f.WriteString("\n" + ts.ReadFile(args[1]))
		ts.Check(err)
		ts.Check(f.Close())
	default:
		ts.Fatalf("sim: unknown verb %q", args[0])
	}
}
