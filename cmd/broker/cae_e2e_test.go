package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// startBridgeDaemon runs `broker run --no-tray` in e until the test ends.
func startBridgeDaemon(t *testing.T, e *bridgeEnv) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	d := exec.CommandContext(ctx, e.bin, "run", "--no-tray")
	d.Env = e.env
	var dlog bytes.Buffer
	d.Stdout, d.Stderr = &dlog, &dlog
	d.Cancel = func() error { return d.Process.Signal(os.Interrupt) }
	d.WaitDelay = 5 * time.Second
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cancel(); d.Wait() })
	for deadline := time.Now().Add(15 * time.Second); !strings.Contains(e.statusJSON(t), `"running": true`); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the daemon did not start:\n%s", dlog.String())
		}
	}
}

func (e *bridgeEnv) statusJSON(t *testing.T) string {
	t.Helper()
	cmd := exec.Command(e.bin, "status", "--json")
	cmd.Env = e.env
	out, _ := cmd.Output()
	return string(out)
}

func (e *bridgeEnv) profileStatus(t *testing.T) state.Profile {
	t.Helper()
	var st state.Status
	if err := json.Unmarshal([]byte(e.statusJSON(t)), &st); err != nil || len(st.Profiles) != 1 {
		t.Fatalf("status --json: %v %+v", err, st)
	}
	return st.Profiles[0]
}

// acrsOf is the acrs claim of the token the simulator saw last.
func (e *bridgeEnv) lastCall(t *testing.T) (reason string, authorized bool) {
	t.Helper()
	calls := e.sim.MCPCalls()
	if len(calls) == 0 {
		t.Fatal("the MCP endpoint saw no call")
	}
	c := calls[len(calls)-1]
	return c.Reason, c.Authorized
}

// TestClaimsChallengeThroughTheBridge: an API that starts to demand a
// Conditional Access authentication context refuses the valid token with
// an insufficient_claims challenge. The bridge cannot meet it silently
// (the step-up needs the user): the client's call fails naming `broker
// login`, and the profile is "sign-in required" naming the server. The
// next `broker login` carries the claims, and the next call succeeds with
// a token that holds them, without a new bridge.
func TestClaimsChallengeThroughTheBridge(t *testing.T) {
	t.Parallel()
	for _, withDaemon := range []bool{false, true} {
		name := "from the cache"
		if withDaemon {
			name = "through the daemon"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newBridgeEnv(t)
			e.login(t)
			if withDaemon {
				startBridgeDaemon(t, e)
			}
			p := e.session(t, "demo")

			e.sim.RequireAuthContext("c1")
			p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
			a := p.recv()
			if a.Error == nil || !strings.Contains(a.Error.Message, "broker login") {
				t.Fatalf("tools/list under the new policy: %+v, want an error naming broker login", a)
			}
			if why, ok := e.lastCall(t); ok || why != "authentication context c1 required" {
				t.Errorf("the endpoint's last call: %q authorized %v", why, ok)
			}
			claimsFile := filepath.Join(e.home, ".local", "state", "mcp-token-broker", "claims-data.json")
			if withDaemon {
				st := e.profileStatus(t)
				if st.State != state.SignInRequired || !strings.Contains(st.LastError, "your organisation asks you to sign in again for demo") {
					t.Errorf("status: %s %q, want sign-in required naming the server", st.State, st.LastError)
				}
			}
			if b, err := os.ReadFile(claimsFile); err != nil || !strings.Contains(string(b), `"acrs"`) {
				t.Errorf("the claims kept for the next sign-in: %q %v", b, err)
			}

			e.login(t) // device code; the simulator approves it
			if _, err := os.Stat(claimsFile); !os.IsNotExist(err) {
				t.Errorf("the claims are still pending after the sign-in: %v", err)
			}
			p.send(`{"jsonrpc":"2.0","id":3,"method":"tools/list"}`)
			if a := p.recv(); a.Error != nil {
				t.Fatalf("tools/list after the sign-in: %+v\n%s", a.Error, p.stderr.String())
			}
			if _, ok := e.lastCall(t); !ok {
				t.Error("the endpoint refused the token of the new sign-in")
			}
			if strings.Contains(p.stderr.String(), "eyJ") {
				t.Error("the bridge logged a token")
			}
		})
	}
}

// TestCAERevocationThroughTheBridge: after a CAE critical event the API
// challenges the broker's token (it declared cp1) for a newer one, which
// the bridge gets silently through the daemon: the client sees nothing.
func TestCAERevocationThroughTheBridge(t *testing.T) {
	t.Parallel()
	e := newBridgeEnv(t)
	e.login(t)
	startBridgeDaemon(t, e)
	p := e.session(t, "demo")
	before := e.rawToken(t)
	e.sim.RevokeSessions()
	p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/list"}`)
	if a := p.recv(); a.Error != nil {
		t.Fatalf("tools/list after the revocation: %+v\n%s", a.Error, p.stderr.String())
	}
	calls := e.sim.MCPCalls()
	var refused, accepted bool
	for _, c := range calls {
		if c.Reason == "session revoked" {
			refused = true
		}
		if refused && c.Authorized && c.Method == "tools/list" {
			accepted = true
		}
	}
	if !refused || !accepted {
		t.Errorf("the endpoint refused the old token: %v, then took a new one: %v", refused, accepted)
	}
	// The daemon's token is the new one: every other client gets it too.
	after := e.rawToken(t)
	c, err := token.ParseClaims(after)
	if after == before || err != nil || !slices.Contains(c.Caps, "cp1") {
		t.Errorf("broker token after the challenge: the same as before: %v; claims %+v %v (want xms_cc cp1)", after == before, c, err)
	}
	if st := e.profileStatus(t); st.State != state.OK {
		t.Errorf("status after the challenge: %+v", st)
	}
}
