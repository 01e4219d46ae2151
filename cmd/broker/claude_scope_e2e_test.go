package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// fakeModel plays the model of a `claude -p` session over the Messages
// API: while the MCP tool mcp__demo__echo is offered and not yet called,
// it calls it; then it ends the turn.
type fakeModel struct{}

func (fakeModel) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if r.Method != http.MethodPost || r.URL.Path != "/v1/messages" {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"input_tokens":10}`) // count_tokens and the like
		return
	}
	var req struct {
		Tools    []struct{ Name string } `json:"tools"`
		Messages []json.RawMessage       `json:"messages"`
	}
	json.Unmarshal(body, &req)
	offered := false
	for _, t := range req.Tools {
		offered = offered || t.Name == "mcp__demo__echo"
	}
	answered := len(req.Messages) > 0 && strings.Contains(string(req.Messages[len(req.Messages)-1]), `"tool_result"`)
	block := map[string]any{"type": "text", "text": ""}
	delta := map[string]any{"type": "text_delta", "text": "done"}
	stop := "end_turn"
	if offered && !answered {
		block = map[string]any{"type": "tool_use", "id": "toolu_1", "name": "mcp__demo__echo", "input": map[string]any{}}
		delta = map[string]any{"type": "input_json_delta", "partial_json": `{"text":"through the helper"}`}
		stop = "tool_use"
	}
	w.Header().Set("Content-Type", "text/event-stream")
	for _, ev := range []map[string]any{
		{"type": "message_start", "message": map[string]any{"id": "msg_1", "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
			"content": []any{}, "usage": map[string]any{"input_tokens": 10, "output_tokens": 1}}},
		{"type": "content_block_start", "index": 0, "content_block": block},
		{"type": "content_block_delta", "index": 0, "delta": delta},
		{"type": "content_block_stop", "index": 0},
		{"type": "message_delta", "delta": map[string]any{"stop_reason": stop}, "usage": map[string]any{"output_tokens": 5}},
		{"type": "message_stop"},
	} {
		b, _ := json.Marshal(ev)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", ev["type"], b)
	}
}

// claudeToolResult runs one `claude -p` session in e's home against the
// fake model and returns the result of its one call of the echo tool.
func claudeToolResult(t *testing.T, e *bridgeEnv, claude, model string) (text string, isError bool) {
	t.Helper()
	cmd := exec.Command(claude, "-p", "call the echo tool", "--output-format", "stream-json", "--verbose", "--allowedTools", "mcp__demo__echo")
	cmd.Dir = e.home
	cmd.Env = append(append([]string(nil), e.env...), "ANTHROPIC_BASE_URL="+model, "ANTHROPIC_API_KEY=sk-ant-test", "ANTHROPIC_AUTH_TOKEN=",
		"NODE_EXTRA_CA_CERTS="+e.ca, "DISABLE_AUTOUPDATER=1", "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1", "ENABLE_TOOL_SEARCH=false", "NO_COLOR=1")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	timer := time.AfterFunc(90*time.Second, func() { cmd.Process.Kill() })
	defer timer.Stop()
	found := false
	sc := bufio.NewScanner(out)
	sc.Buffer(nil, 1<<22)
	for sc.Scan() {
		var line struct {
			Type    string `json:"type"`
			Message struct {
				Content []struct {
					Type    string          `json:"type"`
					Content json.RawMessage `json:"content"`
					IsError bool            `json:"is_error"`
				} `json:"content"`
			} `json:"message"`
		}
		if json.Unmarshal(sc.Bytes(), &line) != nil || line.Type != "user" {
			continue
		}
		for _, c := range line.Message.Content {
			if c.Type == "tool_result" {
				found, text, isError = true, string(c.Content), c.IsError
			}
		}
	}
	cmd.Wait()
	if !found {
		t.Fatal("the claude session made no tool call")
	}
	return text, isError
}

// TestScopeChallengeThroughClaudeCodeHelper: what Claude Code (the real
// CLI, its helper pointing at the broker) does with a 403
// insufficient_scope. The helper never hears of it: Claude Code starts
// its own OAuth step-up, which fails against Entra (no dynamic client
// registration), and the tool call fails; the broker's profile stays as
// it was. Once the profile asks for the scope (here a bridge of the same
// profile met the challenge and `broker login` consented), the helper's
// token carries it and the next session's call succeeds.
func TestScopeChallengeThroughClaudeCodeHelper(t *testing.T) {
	t.Parallel()
	nm, _ := filepath.Abs(filepath.Join("..", "..", ".cache", "npm", "node_modules"))
	claude := filepath.Join(nm, ".bin", "claude")
	if _, err := os.Stat(claude); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("claude is not installed (scripts/test-deps)")
		}
		t.Skip("claude is not installed (scripts/test-deps)")
	}
	e := newBridgeEnv(t)
	namedScopes(t, e.home, e.sim)
	if err := os.WriteFile(filepath.Join(e.home, ".claude.json"), []byte(`{"hasCompletedOnboarding": true}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e.login(t)
	startBridgeDaemon(t, e)
	connect := exec.Command(e.bin, "connect", "claude", "--server", "demo", "--url", e.sim.MCPURL())
	connect.Env = e.env
	if out, err := connect.CombinedOutput(); err != nil {
		t.Fatalf("broker connect claude: %v\n%s", err, out)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: fakeModel{}}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	model := "http://" + ln.Addr().String()

	e.sim.RequireScope("Tools.Write")
	text, isErr := claudeToolResult(t, e, claude, model)
	if !isErr || !strings.Contains(text, "dynamic client registration") {
		t.Errorf("the tool call through the helper: error %v, %s; want Claude Code's own step-up failing for want of DCR", isErr, text)
	}
	var refused int
	for _, c := range e.sim.MCPCalls() {
		if c.Method == "tools/call" && c.Reason == "scope Tools.Write required" {
			refused++
		}
	}
	if refused != 1 {
		t.Errorf("the endpoint refused %d tool calls, want 1 (Claude Code does not retry with the helper)", refused)
	}
	if st := e.profileStatus(t); st.State != "ok" || len(st.AddedScopes) != 0 {
		t.Errorf("the broker heard of the 403 through the helper: %+v", st)
	}

	// A bridge of the same profile meets the challenge: sign-in required;
	// the sign-in consents; the helper's token now carries the scope.
	p := e.session(t, "demo")
	p.send(`{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hi"}}}`)
	if a := p.recv(); a.Error == nil || !strings.Contains(a.Error.Message, "needs scope") {
		t.Fatalf("the bridge's call: %+v, want sign-in required naming the scope", a)
	}
	e.login(t)
	text, isErr = claudeToolResult(t, e, claude, model)
	if isErr || !strings.Contains(text, "through the helper") {
		t.Errorf("the tool call through the helper after the sign-in: error %v, %s", isErr, text)
	}
}
