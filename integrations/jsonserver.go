package integrations

import (
	"bytes"
	"encoding/json"
	"net/url"
	"path/filepath"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// jsonServers is the shared behaviour of the clients whose file is JSON
// (or JSONC) with one object of server entries: claude, vscode, copilot,
// gemini, cursor, windsurf and claude-desktop. Each client's own file
// fills in where the entries live and what a new entry looks like.
type jsonServers struct {
	// servers is the path of the object that holds the entries.
	servers func(t *Target) []string
	// newEntry is the entry created (with url) when it is missing,
	// before the header or helper is added.
	newEntry func(t *Target) []byte
	// bridgeEntry is the stdio entry that runs `broker bridge`.
	bridgeEntry func(t *Target) []byte
	// urlKeys are the entry's keys that hold a remote URL (removed when
	// the entry becomes a bridge).
	urlKeys []string
	// stdioType is the entry's "type" for a stdio server ("" when the
	// client's entries have none).
	stdioType string
	// remoteType is the entry's "type" for a Streamable HTTP server when
	// the proxy makes it one ("" for "http" where stdioType is set, else
	// none).
	remoteType string
	// inner are the keys between the entry and its fields (Cline keeps
	// them in the entry's "transport").
	inner []string
	// helperValue, when set, is helper mode's Authorization value: a
	// command the client runs itself (Crush's $(…) expansion) instead of
	// a headersHelper key.
	helperValue func(t *Target) string
	// commandArray: the stdio entry's "command" is the whole command
	// line as an array, with no "args" (opencode, Kilo Code).
	commandArray bool
}

// emptyFile is what a file created by the broker starts from.
var emptyFile = []byte("{\n}\n")

func (j jsonServers) entry(t *Target) []string {
	return append(append([]string{}, j.servers(t)...), t.cfg.Server)
}

func (j jsonServers) under(t *Target, keys ...string) []string {
	return append(append(j.entry(t), j.inner...), keys...)
}

func (j jsonServers) apply(t *Target, old []byte, exists bool, tok token.Token) ([]byte, error) {
	if exists && isBlank(old) {
		return nil, emptyFileError("write {} into it, or delete it")
	}
	if !exists {
		old = emptyFile
	}
	var ops []jsonedit.Op
	if t.mode == ModeBridge {
		ops = append(ops, jsonedit.SetDefault(j.entry(t), j.bridgeEntry(t)))
		if j.commandArray {
			ops = append(ops,
				jsonedit.Set(j.under(t, "command"), mustJSON(append([]string{brokerCommand(t)}, bridgeArgs(t)...))),
				jsonedit.Delete(j.under(t, "args")))
		} else {
			ops = append(ops,
				jsonedit.Set(j.under(t, "command"), jsonedit.String(brokerCommand(t))),
				jsonedit.Set(j.under(t, "args"), mustJSON(bridgeArgs(t))))
		}
		if j.stdioType != "" {
			ops = append(ops, jsonedit.Set(j.under(t, "type"), jsonedit.String(j.stdioType)))
		}
		for _, k := range j.urlKeys {
			ops = append(ops, jsonedit.Delete(j.under(t, k)))
		}
		return jsonedit.Edit(old, ops...)
	}
	if t.cfg.URL != "" {
		ops = append(ops, jsonedit.SetDefault(j.entry(t), j.newEntry(t)))
		// Leaving proxy mode: the entry gets the server's own URL back.
		if len(j.urlKeys) > 0 && t.mode != ModeProxy {
			if raw, ok, _ := jsonedit.Get(old, j.under(t, j.urlKeys[0])); ok && isProxyURL(t, raw) {
				ops = append(ops, jsonedit.Set(j.under(t, j.urlKeys[0]), jsonedit.String(t.cfg.URL)))
			}
		}
	} else {
		ops = append(ops, jsonedit.Require(j.entry(t)))
	}
	switch t.mode {
	case ModeProxy:
		return j.applyProxy(t, old, ops)
	case ModeHelper:
		if j.helperValue != nil {
			ops = append(ops, jsonedit.Set(j.under(t, "headers", "Authorization"), jsonedit.String(j.helperValue(t))))
			break
		}
		ops = append(ops, jsonedit.Set(j.under(t, "headersHelper"), jsonedit.String(helperCommand(t))))
	default:
		ops = append(ops, jsonedit.Set(j.under(t, "headers", "Authorization"), jsonedit.String(bearer(tok))))
	}
	return jsonedit.Edit(old, ops...)
}

// applyProxy points the entry at the loopback proxy: its URL key holds the
// proxy's URL (other URL keys and a broker bridge or helper go), its
// Authorization header the local credential.
func (j jsonServers) applyProxy(t *Target, old []byte, ops []jsonedit.Op) ([]byte, error) {
	u, cred, err := t.env.Proxy.Endpoint(t.cfg)
	if err != nil {
		return nil, err
	}
	isHelper := func(raw []byte) bool {
		var s string
		return json.Unmarshal(raw, &s) == nil && s == helperCommand(t)
	}
	for i, k := range j.urlKeys {
		if i == 0 {
			ops = append(ops, jsonedit.Set(j.under(t, k), jsonedit.String(u)))
		} else {
			ops = append(ops, jsonedit.Delete(j.under(t, k)))
		}
	}
	// An entry that was the broker's bridge stops being a stdio one.
	if raw, ok, _ := jsonedit.Get(old, j.under(t, "command")); ok && j.isBrokerCommand(t, raw) {
		ops = append(ops, jsonedit.Delete(j.under(t, "command")), jsonedit.Delete(j.under(t, "args")))
	}
	switch {
	case j.remoteType != "":
		ops = append(ops, jsonedit.Set(j.under(t, "type"), jsonedit.String(j.remoteType)))
	case j.stdioType != "":
		// Copilot CLI: the proxy speaks Streamable HTTP.
		ops = append(ops, jsonedit.Set(j.under(t, "type"), jsonedit.String("http")))
	}
	ops = append(ops,
		jsonedit.DeleteIf(j.under(t, "headersHelper"), isHelper),
		jsonedit.Set(j.under(t, "headers", "Authorization"), jsonedit.String("Bearer "+cred)))
	return jsonedit.Edit(old, ops...)
}

// isProxyURL reports whether a raw JSON string is the loopback proxy's URL
// for t (http://127.0.0.1:PORT/PROFILE/CLIENT/SERVER, any port).
func isProxyURL(t *Target, raw []byte) bool {
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return false
	}
	u, err := url.Parse(s)
	return err == nil && u.Scheme == "http" && u.Hostname() == "127.0.0.1" &&
		strings.HasSuffix(u.EscapedPath(), "/"+url.PathEscape(t.cfg.Client)+"/"+url.PathEscape(t.cfg.Server))
}

// isBrokerCommand reports whether a raw "command" runs the broker: its
// path, or (commandArray) an array that starts with it.
func (j jsonServers) isBrokerCommand(t *Target, raw []byte) bool {
	cmd := brokerCommand(t)
	if string(raw) == string(jsonedit.String(t.env.BrokerPath)) || string(raw) == string(jsonedit.String(cmd)) {
		return true
	}
	var argv []string
	return j.commandArray && json.Unmarshal(raw, &argv) == nil && len(argv) > 0 && (argv[0] == t.env.BrokerPath || argv[0] == cmd)
}

func (j jsonServers) entryIn(t *Target, data []byte) (bool, error) {
	_, ok, err := jsonedit.Get(data, j.entry(t))
	return ok, err
}

// helperCommand is the headersHelper line: the broker's absolute path,
// quoted for the shell that runs it when needed, and `headers --profile P`.
// In a project's .mcp.json, which git shares with the whole team, it is
// the bare `broker`: Claude Code runs the line through a shell, which
// finds broker on each teammate's PATH, wherever it is installed.
func helperCommand(t *Target) string {
	q := shellQuote
	if t.env.GOOS == "windows" {
		q = cmdQuote
	}
	exe := q(t.env.BrokerPath)
	if sharedProjectFile(t) {
		exe = "broker"
	}
	cmd := exe + " headers"
	if t.cfg.Profile != "" {
		cmd += " --profile " + q(t.cfg.Profile)
	}
	return cmd
}

// brokerCommand is the bridge entry's command: the broker's absolute
// path, or in a shared .mcp.json the bare `broker`, which Claude Code
// finds on each teammate's PATH.
func brokerCommand(t *Target) string {
	if sharedProjectFile(t) {
		return "broker"
	}
	return t.env.BrokerPath
}

// sharedProjectFile reports whether t writes a Claude Code project-scope
// .mcp.json (usually committed to git).
func sharedProjectFile(t *Target) bool {
	return t.cfg.Client == "claude" && filepath.Base(t.path) == ".mcp.json"
}

func bridgeArgs(t *Target) []string {
	args := []string{"bridge", t.cfg.Server}
	if t.cfg.Profile != "" {
		args = append(args, "--profile", t.cfg.Profile)
	}
	return args
}

// shellQuote quotes s for a POSIX shell when it holds anything but plain
// characters.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, plainChars) == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

const plainChars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+:@%=,"

// cmdQuote quotes s for the shells that run a helper line on Windows.
// Claude Code spawns it with Node's shell: true, which is
// `cmd.exe /d /s /c "LINE"`; Git Bash users' tools use bash -c. Double
// quotes work in both for a Windows path (which cannot hold a double
// quote); single quotes work in neither cmd.exe nor for a backslash-free
// reading in bash, and a bare backslash is an escape in bash, so only a
// word of plain characters without a backslash stays bare.
func cmdQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_./-+:@") == "" {
		return s
	}
	return `"` + s + `"`
}

// kv is one member of an ordered JSON object.
type kv struct {
	k string
	v any
}

// object encodes members in order (encoding/json sorts map keys).
func object(members ...kv) []byte {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range members {
		if i > 0 {
			b.WriteByte(',')
		}
		b.Write(jsonedit.String(m.k))
		b.WriteByte(':')
		if raw, ok := m.v.([]byte); ok {
			b.Write(raw)
		} else {
			b.Write(mustJSON(m.v))
		}
	}
	b.WriteByte('}')
	return b.Bytes()
}

func mustJSON(v any) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// stdioEntry is the usual bridge entry: {"command": broker, "args": [...]}.
func stdioEntry(t *Target, before ...kv) []byte {
	return object(append(before, kv{"command", brokerCommand(t)}, kv{"args", bridgeArgs(t)})...)
}

// jsonServerClient is a client over jsonServers.
type jsonServerClient struct {
	jsonServers
	path     func(t *Target) (string, error)
	modeList []string
}

func (c jsonServerClient) defaultPath(t *Target) (string, error) { return c.path(t) }
func (c jsonServerClient) modes() []string                       { return c.modeList }
func (c jsonServerClient) entry(t *Target, data []byte) (bool, error) {
	return c.entryIn(t, data)
}

// userConfigDir is the OS's per-user config folder (Linux honours
// XDG_CONFIG_HOME; macOS Library/Application Support; Windows %APPDATA%),
// as broker/paths finds it. Without APPDATA on Windows it is the usual
// AppData\Roaming in the home folder.
func userConfigDir(env Env) string {
	d, err := env.paths().UserConfigDir()
	if err != nil && env.GOOS == "windows" {
		return filepath.Join(env.Home, "AppData", "Roaming")
	}
	return d
}

// inHome is a default path under the home folder.
func inHome(parts ...string) func(t *Target) (string, error) {
	return func(t *Target) (string, error) {
		return filepath.Join(append([]string{t.env.Home}, parts...)...), nil
	}
}
