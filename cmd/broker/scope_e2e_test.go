package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// TestScopeChallengeThroughTheBridge: a tool of the server needs a scope
// the token lacks (403 insufficient_scope). Without consent, the bridge
// cannot get it silently: the client's call fails naming the scope and
// `broker login`, the profile is "sign-in required" naming the server and
// the scope, the scope is kept for the profile; the next `broker login`
// asks for it with consent, and the same call through the same bridge
// succeeds.
func TestScopeChallengeThroughTheBridge(t *testing.T) {
	t.Parallel()
	for _, withDaemon := range []bool{false, true} {
		name := "from the cache"
		if withDaemon {
			name = "through the daemon"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newBridgeEnv(t)
			namedScopes(t, e.home, e.sim)
			e.login(t)
			if withDaemon {
				startBridgeDaemon(t, e)
			}
			p := e.session(t, "demo")

			write := e.sim.APIScope("Tools.Write")
			e.sim.RequireScope("Tools.Write")
			p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
			a := p.recv()
			if a.Error == nil || !strings.Contains(a.Error.Message, "broker login") || !strings.Contains(a.Error.Message, "demo needs scope "+write) {
				t.Fatalf("a tool call that needs Tools.Write: %+v, want an error naming the scope and broker login", a)
			}
			if why, ok := e.lastCall(t); ok || why != "scope Tools.Write required" {
				t.Errorf("the endpoint's last call: %q authorized %v", why, ok)
			}
			if withDaemon {
				st := e.profileStatus(t)
				if st.State != state.SignInRequired || !strings.Contains(st.LastError, "demo needs scope "+write) || st.ChallengedBy != "demo" {
					t.Errorf("status: %s %q by %q, want sign-in required naming the server and the scope", st.State, st.LastError, st.ChallengedBy)
				}
			}
			if st := e.profileStatus(t); !slices.Contains(st.AddedScopes, write) {
				t.Errorf("status: added scopes %v, want %s", st.AddedScopes, write)
			}
			text := exec.Command(e.bin, "status")
			text.Env = e.env
			if out, _ := text.Output(); !strings.Contains(string(out), "added_scopes: "+write) {
				t.Errorf("status does not show the added scope:\n%s", out)
			}
			scopesFile := filepath.Join(e.home, ".local", "state", "mcp-token-broker", "scopes-data.json")
			if b, err := os.ReadFile(scopesFile); err != nil || !strings.Contains(string(b), write) {
				t.Errorf("the scopes kept for the profile: %q %v", b, err)
			}

			e.login(t) // device code; the simulator approves it, which consents
			p.send(`{"jsonrpc":"2.0","id":3,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
			if a := p.recv(); a.Error != nil {
				t.Fatalf("the tool call after the sign-in: %+v\n%s", a.Error, p.stderr.String())
			}
			if _, ok := e.lastCall(t); !ok {
				t.Error("the endpoint refused the token of the new sign-in")
			}
			var loginAsked bool
			for _, r := range e.sim.Requests() {
				if strings.HasSuffix(r.Path, "/devicecode") && strings.Contains(r.Scope, write) {
					loginAsked = true
				}
			}
			if !loginAsked {
				t.Error("the sign-in did not ask for the scope")
			}
			if strings.Contains(p.stderr.String(), "eyJ") {
				t.Error("the bridge logged a token")
			}
		})
	}
}

// TestScopeChallengeSilentThroughTheBridge: an admin consented to the
// scope after the token was issued: the bridge gets a token with it
// silently (through the daemon, which every client then shares) and the
// client sees only the tool's answer. The profile asks for .default: the
// new .default token carries the granted scope.
func TestScopeChallengeSilentThroughTheBridge(t *testing.T) {
	t.Parallel()
	e := newBridgeEnv(t)
	e.login(t)
	startBridgeDaemon(t, e)
	p := e.session(t, "demo")
	if err := e.sim.GrantConsent("Tools.Write"); err != nil {
		t.Fatal(err)
	}
	e.sim.RequireScope("Tools.Write")
	p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	if a := p.recv(); a.Error != nil {
		t.Fatalf("a tool call with a consented scope: %+v\n%s", a.Error, p.stderr.String())
	}
	var refused, accepted bool
	for _, c := range e.sim.MCPCalls() {
		if c.Reason == "scope Tools.Write required" {
			refused = true
		}
		if refused && c.Authorized && c.Method == "tools/call" {
			accepted = true
		}
	}
	if !refused || !accepted {
		t.Errorf("the endpoint refused the old token: %v, then took a new one: %v", refused, accepted)
	}
	if c, err := token.ParseClaims(e.rawToken(t)); err != nil || !slices.Contains(c.Scp, "Tools.Write") {
		t.Errorf("broker token after the challenge: scp %v %v, want Tools.Write", c.Scp, err)
	}
	if st := e.profileStatus(t); st.State != state.OK || st.ChallengedBy != "" {
		t.Errorf("status after the challenge: %+v", st)
	}
}

// TestScopeChallengeOfAnotherAPI: a server that names a scope of another
// API gets nothing from the broker: the client's error says so, the
// profile stays as it was.
func TestScopeChallengeOfAnotherAPI(t *testing.T) {
	t.Parallel()
	e := newBridgeEnv(t)
	e.login(t)
	startBridgeDaemon(t, e)
	p := e.session(t, "demo")
	e.sim.RequireScope("api://other-api/Files.Read")
	p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	a := p.recv()
	if a.Error == nil || !strings.Contains(a.Error.Message, "demo asks for scope api://other-api/Files.Read, of another API") {
		t.Fatalf("a scope of another API: %+v, want an error saying so", a)
	}
	if st := e.profileStatus(t); st.State != state.OK {
		t.Errorf("status: %+v, want ok", st)
	}
}

// namedScopes makes the profile in home's config ask for the simulator's
// access_as_user instead of .default (the union with a server's scope
// needs named scopes: Entra does not mix .default with them).
func namedScopes(t *testing.T, home string, sim *entrasim.Server) {
	t.Helper()
	cfg := filepath.Join(home, ".config", "mcp-token-broker", "config.toml")
	b, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	named := strings.Replace(string(b), fmt.Sprintf("%q", sim.Scope()), fmt.Sprintf("%q", sim.APIScope("access_as_user")), 1)
	if named == string(b) {
		t.Fatalf("no .default scope in %s", cfg)
	}
	if err := os.WriteFile(cfg, []byte(named), 0o600); err != nil {
		t.Fatal(err)
	}
}
