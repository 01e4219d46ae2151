package demo

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/tailscale/hujson"

	"github.com/mcp-token-broker/mcp-token-broker/broker/doctor"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

// clientInfo is one of the demo's clients: its config name, its name for
// people, its file, and how the client itself would find the token and
// the server's URL in that file.
type clientInfo struct {
	key   string // the target's client: claude, vscode, copilot, envfile
	label string // Claude Code
	file  string
	// how says in a few words how the client gets the token.
	how string
	// readBack finds the URL and the token as the client would.
	readBack func(ctx context.Context, r *run) (url, tok, from string, err error)

	target *observedTarget // set when the daemon builds the target
}

// helperTimeout is how long Claude Code lets a headersHelper run.
const helperTimeout = 10 * time.Second

// clients returns the demo's four clients, in the order they are shown.
func (r *run) newClients() []*clientInfo {
	sb := r.sb
	return []*clientInfo{
		{key: "claude", label: "Claude Code", file: sb.claudeFile(),
			how: "headersHelper runs `broker headers` at each connect",
			readBack: func(ctx context.Context, r *run) (string, string, string, error) {
				entry, err := jsonEntry(sb.claudeFile(), "mcpServers", serverName)
				if err != nil {
					return "", "", "", err
				}
				helper, _ := entry["headersHelper"].(string)
				if helper == "" {
					return "", "", "", fmt.Errorf("mcpServers.%s has no headersHelper", serverName)
				}
				url, _ := entry["url"].(string)
				calls := r.api.n.Load()
				auth, err := r.runHelper(ctx, helper)
				if err != nil {
					return url, "", "", err
				}
				from := "headersHelper (from the token cache)"
				switch {
				case r.api.n.Load() > calls:
					from = "headersHelper (answered by the daemon)"
				case daemonMemo(sb.stateDir()):
					// The hot path read the daemon's current token
					// through the daemon's memo, without asking it.
					from = "headersHelper (the daemon's token, no round trip)"
				}
				return url, auth, from, nil
			}},
		{key: "vscode", label: "VS Code", file: sb.vscodeFile(),
			how: "Authorization header; JSONC comments stay",
			readBack: func(ctx context.Context, r *run) (string, string, string, error) {
				return headerEntry(sb.vscodeFile(), "servers")
			}},
		{key: "copilot", label: "Copilot CLI", file: sb.copilotFile(),
			how: "Authorization header",
			readBack: func(ctx context.Context, r *run) (string, string, string, error) {
				return headerEntry(sb.copilotFile(), "mcpServers")
			}},
		{key: "envfile", label: "env file", file: sb.envFile(),
			how: envHow(goos()),
			readBack: func(ctx context.Context, r *run) (string, string, string, error) {
				vars, err := readEnvFile(sb.envFile())
				if err != nil {
					return "", "", "", err
				}
				if vars["MCP_TOKEN"] == "" {
					return vars["MCP_URL"], "", "", errors.New("MCP_TOKEN is not set")
				}
				return vars["MCP_URL"], "Bearer " + vars["MCP_TOKEN"], "$MCP_TOKEN at $MCP_URL", nil
			}},
	}
}

// envHow says what the env file holds.
func envHow(goos string) string {
	if goos == "windows" {
		return "$env:MCP_TOKEN = '…' for PowerShell scripts"
	}
	return "export MCP_TOKEN='…' for scripts"
}

// jsonEntry reads a JSON or JSONC file and returns the object at keys.
func jsonEntry(path string, keys ...string) (map[string]any, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	std, err := hujson.Standardize(data)
	if err != nil {
		return nil, fmt.Errorf("%s does not parse: %w", path, err)
	}
	var v any
	if err := json.Unmarshal(std, &v); err != nil {
		return nil, fmt.Errorf("%s does not parse: %w", path, err)
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%s has no %s", path, strings.Join(keys, "."))
		}
		v = m[k]
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("%s has no %s", path, strings.Join(keys, "."))
	}
	return m, nil
}

// headerEntry reads servers.NAME.url and .headers.Authorization.
func headerEntry(path, servers string) (url, auth, from string, err error) {
	entry, err := jsonEntry(path, servers, serverName)
	if err != nil {
		return "", "", "", err
	}
	url, _ = entry["url"].(string)
	headers, _ := entry["headers"].(map[string]any)
	auth, _ = headers["Authorization"].(string)
	if auth == "" {
		return url, "", "", fmt.Errorf("%s.%s.headers has no Authorization", servers, serverName)
	}
	return url, auth, servers + "." + serverName + ".headers", nil
}

// readEnvFile reads `export NAME='value'` lines as a POSIX shell would
// (single quotes; a quote inside is closed, escaped and reopened).
func readEnvFile(path string) (map[string]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	vars := map[string]string{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		unquote := shUnquote
		if rest, ok := strings.CutPrefix(line, "$env:"); ok {
			line, unquote = rest, psUnquote
		}
		line = strings.TrimPrefix(line, "export ")
		name, val, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		v, err := unquote(strings.TrimSpace(val))
		if err != nil {
			return nil, fmt.Errorf("%s: %s: %w", path, name, err)
		}
		vars[strings.TrimSpace(name)] = v
	}
	return vars, sc.Err()
}

// psUnquote undoes PowerShell single quoting (” is a quote), as
// integrations writes it.
func psUnquote(s string) (string, error) {
	if len(s) < 2 || s[0] != '\'' || s[len(s)-1] != '\'' {
		return "", errors.New("not a single-quoted PowerShell string")
	}
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'"), nil
}

// shUnquote undoes POSIX single quoting, as integrations writes it.
func shUnquote(s string) (string, error) {
	var b strings.Builder
	for len(s) > 0 {
		switch {
		case s[0] == '\'':
			end := strings.IndexByte(s[1:], '\'')
			if end < 0 {
				return "", errors.New("unterminated quote")
			}
			b.WriteString(s[1 : 1+end])
			s = s[end+2:]
		case strings.HasPrefix(s, `\'`):
			b.WriteByte('\'')
			s = s[2:]
		default:
			b.WriteByte(s[0])
			s = s[1:]
		}
	}
	return b.String(), nil
}

// runHelper runs a headersHelper command as Claude Code does: through
// the shell (shellCommand), in the sandbox's environment, with 10 s to print one JSON
// object of strings. It returns the Authorization header.
func (r *run) runHelper(ctx context.Context, command string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, helperTimeout)
	defer cancel()
	cmd := shellCommand(ctx, command)
	r.asking.Add(1)
	defer r.asking.Add(-1)
	cmd.Env = r.sb.environ()
	cmd.Dir = r.sb.root
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		msg := strings.TrimSpace(stderr.String())
		if msg == "" {
			msg = err.Error()
		}
		return "", fmt.Errorf("headersHelper failed: %s", maskAll(firstLine(msg)))
	}
	var headers map[string]string
	if err := json.Unmarshal(stdout.Bytes(), &headers); err != nil {
		return "", fmt.Errorf("headersHelper printed no JSON object of strings: %w", err)
	}
	if headers["Authorization"] == "" {
		return "", errors.New("headersHelper printed no Authorization header")
	}
	return headers["Authorization"], nil
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// checkResult is what the protected MCP endpoint made of one client's
// token.
type checkResult struct {
	c       *clientInfo
	ok      bool
	from    string // where the token was found
	tools   int
	server  string
	current bool // the token is the daemon's current one
	problem string
}

// check reads the URL and token back from the client's file and calls
// the MCP server with them (initialize and tools/list, MCP Go SDK).
func (r *run) check(ctx context.Context, c *clientInfo, current token.Token) checkResult {
	res := checkResult{c: c}
	url, auth, from, err := c.readBack(ctx, r)
	res.from = from
	if err != nil {
		res.problem = err.Error()
		return res
	}
	if url == "" {
		res.problem = "no URL for the server"
		return res
	}
	scheme, raw, _ := strings.Cut(auth, " ")
	if !strings.EqualFold(scheme, "Bearer") || raw == "" {
		res.problem = "the Authorization value is not a bearer token"
		return res
	}
	res.current = raw == current.Value.Reveal()
	p := doctor.Probe(ctx, r.sim.HTTPClient(), url, token.Secret(raw))
	if p.Err == nil {
		res.ok, res.tools, res.server = true, p.Tools, p.ServerName
		return res
	}
	res.problem = r.explain(p, raw)
	return res
}

// explain says why the server refused: its status and, from the
// simulator's log, what it found wrong with the token.
func (r *run) explain(p doctor.ProbeResult, raw string) string {
	if p.Status == 0 {
		return firstLine(p.Err.Error())
	}
	msg := fmt.Sprintf("%d", p.Status)
	if p.Status == 401 {
		msg = "401 Unauthorized"
	}
	fp := entrasim.Fingerprint(raw)
	calls := r.sim.MCPCalls()
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Token == fp && !calls[i].Authorized {
			msg += ": " + calls[i].Reason
			if calls[i].Audience != "" && calls[i].Reason == "wrong audience" {
				aud := calls[i].Audience
				if aud == graphAudience {
					aud += " (Microsoft Graph)"
				}
				msg += ", aud " + aud
			}
			break
		}
	}
	return msg
}

// daemonMemo reports whether the running daemon left its memo for the
// demo's profile, from which the hot path answers with the daemon's token.
func daemonMemo(stateDir string) bool {
	_, err := os.Stat(filepath.Join(stateDir, hotpath.DaemonMemoFile(profileName)))
	return err == nil
}
