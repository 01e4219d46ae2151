//go:build unix

package integrations

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// TestCodexRerunsHelperAfter401: the real Codex runs the helper line the
// broker wrote (a broker path with a space in it), sends its header to the
// simulator's protected MCP endpoint, and when the endpoint refuses the
// token (expired) runs the helper again and retries with the new one: so
// a token that rotates is never seen by Codex.
func TestCodexRerunsHelperAfter401(t *testing.T) {
	t.Parallel()
	nm := nodeModules(t, "@openai/codex")
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer sim.Close()
	env := testEnv(t, nil)
	ca := filepath.Join(env.Home, "ca.pem")
	os.WriteFile(ca, sim.CACertPEM(), 0o600)
	expired := sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: -time.Hour})
	fresh := sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour})
	dir := filepath.Join(env.Home, "bin dir")
	os.MkdirAll(dir, 0o700)
	for name, tok := range map[string]string{"first": expired, "next": fresh} {
		b, _ := json.Marshal(map[string]string{"Authorization": "Bearer " + tok})
		os.WriteFile(filepath.Join(dir, name+".json"), b, 0o600)
	}
	// A stand-in for `broker headers`: the expired token first, then a
	// fresh one, as a token cache that is refreshed behind Codex's back.
	helper := filepath.Join(dir, "broker")
	script := "#!/bin/sh\n[ \"$1 $2 $3\" = \"headers --profile data\" ] || exit 9\nd=$(dirname \"$0\")\n" +
		"echo run >> \"$d/runs\"\nif [ $(wc -l < \"$d/runs\") -eq 1 ]; then cat \"$d/first.json\"; else cat \"$d/next.json\"; fi\n"
	os.WriteFile(helper, []byte(script), 0o700)
	env.BrokerPath = helper
	tg, err := New(config.Target{Client: "codex", Server: "api", URL: sim.MCPURL(), Profile: "data"}, env)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tg.Apply(context.Background(), token.Token{}, nil); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(nm, ".bin", "codex"), "exec", "--skip-git-repo-check", "say hi")
	cmd.Env = isolated(env.Home, "CODEX_HOME="+filepath.Join(env.Home, ".codex"), "SSL_CERT_FILE="+ca)
	cmd.Dir = env.Home
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	// Its own process group: the npm wrapper starts the native binary,
	// and both must go.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	// Codex then tries to reach its model, which is not there: wait for
	// the MCP calls, not for Codex to end.
	refused, accepted := false, false
	for ctx.Err() == nil && !accepted {
		for _, c := range sim.MCPCalls() {
			switch {
			case !c.Authorized && c.Token == entrasim.Fingerprint(expired) && c.Reason == "expired":
				refused = true
			case c.Authorized && c.Token == entrasim.Fingerprint(fresh) && refused:
				accepted = true
			}
		}
		time.Sleep(100 * time.Millisecond)
	}
	runs, _ := os.ReadFile(filepath.Join(dir, "runs"))
	if !refused || !accepted || strings.Count(string(runs), "run") < 2 {
		t.Fatalf("refused %v, accepted after %v, helper runs %d; calls %+v\ncodex:\n%s", refused, accepted, strings.Count(string(runs), "run"), sim.MCPCalls(), out.String())
	}
}
