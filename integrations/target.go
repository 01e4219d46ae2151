// Package integrations delivers the token to the MCP clients: one small
// file per client says where its configuration lives and which value the
// broker manages there; the shared machinery edits that one value
// (jsonedit for JSON and JSONC, tomledit for Codex's TOML), replaces the
// file atomically (atomicfile), refuses to put a secret in a file that git
// would commit (gitcheck), and scrubs it again at logout.
//
// Rules for files that are not the broker's own (DESIGN.md): every byte but
// the managed value stays; a second run with the same token does not write;
// a file that does not parse is left untouched with an error naming line
// and column; another program's concurrent change is never lost.
package integrations

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files"
	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/files/gitcheck"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// Modes of delivery.
const (
	// ModeHelper makes the client run `broker headers` (no secret in the file).
	ModeHelper = "helper"
	// ModeHeader writes the Authorization header's value into the file.
	ModeHeader = "header"
	// ModeBridge makes the client start `broker bridge NAME` over stdio.
	ModeBridge = "bridge"
	// ModeProxy points the client at the daemon's loopback proxy, with a
	// local credential (never an Entra token) in its header.
	ModeProxy = "proxy"
)

// Proxy gives targets in proxy mode their loopback URL and local
// credential (broker/proxy.Endpoints).
type Proxy interface {
	// Endpoint returns t's loopback URL and local credential, making the
	// credential on first use.
	Endpoint(t config.Target) (url, credential string, err error)
	// Revoke forgets t's local credential.
	Revoke(t config.Target) error
}

// Env is what the integrations need from the machine. Tests pass their own.
type Env struct {
	// Home is the user's home folder.
	Home string
	// Getenv reads an environment variable (CLAUDE_CONFIG_DIR, APPDATA…).
	Getenv func(string) string
	// GOOS picks the per-OS default paths.
	GOOS string
	// BrokerPath is the absolute path of the broker binary, written into
	// helper and bridge entries.
	BrokerPath string
	// Written, when set, is told every file content the broker wrote (the
	// watcher uses it to ignore the broker's own writes).
	Written func(path string, data []byte)
	// Proxy serves targets in proxy mode (nil: proxy mode is refused).
	Proxy Proxy
}

// DefaultEnv describes this process's machine.
func DefaultEnv() (Env, error) {
	home, err := os.UserHomeDir()
	if err != nil {
		return Env{}, fmt.Errorf("finding the home folder: %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return Env{}, fmt.Errorf("finding the broker binary: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	return Env{Home: home, Getenv: os.Getenv, GOOS: goos(), BrokerPath: exe}, nil
}

// paths is the machine as broker/paths sees it.
func (e Env) paths() paths.OS { return paths.OS{GOOS: e.GOOS, Getenv: e.Getenv, Home: e.Home} }

func (e Env) getenv(k string) string {
	if e.Getenv == nil {
		return ""
	}
	return e.Getenv(k)
}

// client is what one client's file knows: where the file is and how to
// change the managed value in its content.
type client interface {
	// defaultPath is the client's file when the target names none.
	defaultPath(t *Target) (string, error)
	// modes are the allowed modes, the default first.
	modes() []string
	// apply returns the content with tok delivered (tok is empty in
	// helper and bridge modes). It never removes a value it does not
	// write itself: Target.Apply takes the broker's own values from the
	// other places, as the Owner says.
	apply(t *Target, old []byte, exists bool, tok token.Token) ([]byte, error)
	// entry reports whether the server's entry is in the content.
	entry(t *Target, data []byte) (bool, error)
	placer
}

var clients = map[string]client{
	"claude":         claude(),
	"claude-desktop": claudeDesktop(),
	"vscode":         vscode(),
	"copilot":        copilot(),
	"gemini":         gemini(),
	"cursor":         cursor(),
	"windsurf":       windsurf(),
	"codex":          codexClient{},
	"opencode":       opencode(),
	"cline":          cline(),
	"continue":       continueClient{},
	"crush":          crush(),
	"kilo":           kilo(),
	"qwen":           qwen(),
	"zed":            zed(),
	"json":           jsonClient{},
	"envfile":        envfileClient{},
	"file":           fileClient{},
}

// Clients returns the known client names, sorted.
func Clients() []string {
	names := make([]string, 0, len(clients))
	for n := range clients {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Target is one configured delivery target, ready to write. Its methods are
// safe for concurrent use; writes to the same file are serialised.
type Target struct {
	cfg    config.Target
	env    Env
	client client
	mode   string
	path   string
}

// New validates t and resolves its file. Errors are *config.Error, naming
// the target ("target claude/api: ...").
func New(t config.Target, env Env) (*Target, error) {
	c, ok := clients[t.Client]
	if !ok {
		return nil, targetError(t, "unknown client %q", "clients: "+strings.Join(Clients(), ", "), t.Client)
	}
	tg := &Target{cfg: t, env: env, client: c}
	modes := c.modes()
	tg.mode = t.Mode
	if tg.mode == "" {
		tg.mode = config.DefaultMode(modes, t.URL)
	}
	if len(modes) == 0 && t.Mode != "" {
		return nil, targetError(t, "mode does not apply to client %s", "remove the mode key", t.Client)
	}
	if len(modes) > 0 && !contains(modes, tg.mode) {
		return nil, targetError(t, "mode %q is not supported by client %s", "modes: "+strings.Join(modes, ", "), tg.mode, t.Client)
	}
	needsServer := t.Client != "json" && t.Client != "envfile" && t.Client != "file"
	if needsServer && t.Server == "" {
		return nil, targetError(t, "server is required", "set server to the MCP server's name in the client")
	}
	if (tg.mode == ModeHelper || tg.mode == ModeBridge) && !env.paths().IsAbs(env.BrokerPath) {
		return nil, targetError(t, "the broker's own path is unknown (needed for mode %s)", "", tg.mode)
	}
	if tg.mode == ModeProxy {
		if t.URL == "" {
			return nil, targetError(t, "mode proxy needs the server's url", "add --url (or url = \"https://…\"): the proxy forwards to it")
		}
		if env.Proxy == nil {
			return nil, targetError(t, "mode proxy is not available here", "")
		}
	}
	if t.Project != "" {
		if t.Client != "claude" {
			return nil, targetError(t, "project only applies to client claude", "remove the project key")
		}
		if !filepath.IsAbs(t.Project) {
			return nil, targetError(t, "project %q is not an absolute path", "write the project folder's absolute path", t.Project)
		}
	}
	if t.Path != "" {
		p := expandHome(t.Path, env.Home)
		if !filepath.IsAbs(p) {
			return nil, targetError(t, "path %q is not absolute", "write an absolute path (~/ is allowed)", t.Path)
		}
		tg.path = filepath.Clean(p)
	} else {
		p, err := c.defaultPath(tg)
		if err != nil {
			return nil, err
		}
		tg.path = p
	}
	if v, ok := c.(interface{ validate(*Target) error }); ok {
		if err := v.validate(tg); err != nil {
			return nil, err
		}
	}
	return tg, nil
}

func targetName(t config.Target) string {
	name := t.Server
	if name == "" {
		name = t.Path
	}
	return "target " + t.Client + "/" + name
}

func goos() string { return runtime.GOOS }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func expandHome(p, home string) string {
	if p == "~" {
		return home
	}
	if strings.HasPrefix(p, "~/") {
		return filepath.Join(home, p[2:])
	}
	return p
}

func targetError(t config.Target, format, hint string, args ...any) *config.Error {
	return &config.Error{Message: targetName(t) + ": " + fmt.Sprintf(format, args...), Hint: hint}
}

// Config returns the target's configuration.
func (t *Target) Config() config.Target { return t.cfg }

// Mode returns the effective mode ("" for json, envfile and file).
func (t *Target) Mode() string { return t.mode }

// Path returns the file the target writes.
func (t *Target) Path() string { return t.path }

// WatchPaths returns the files to watch for changes made by others.
func (t *Target) WatchPaths() []string { return []string{t.path} }

// String names the target for messages: "claude/api".
func (t *Target) String() string { return targetName(t.cfg) }

// writesSecret reports whether the target puts a secret in its file: the
// token, or in proxy mode the local credential.
func (t *Target) writesSecret() bool { return t.mode != ModeHelper && t.mode != ModeBridge }

// locks serialises writes to one file within this process.
var locks sync.Map // path -> *sync.Mutex

func lockFile(path string) func() {
	m, _ := locks.LoadOrStore(path, &sync.Mutex{})
	mu := m.(*sync.Mutex)
	mu.Lock()
	return mu.Unlock
}

// NeedsToken reports whether Apply writes the token itself (header mode,
// json, envfile, file) rather than an entry that fetches it.
func (t *Target) NeedsToken() bool { return t.writesSecret() && t.mode != ModeProxy }

// File is the file really written: Path with symbolic links resolved (a
// file not created yet: its folder resolved).
func (t *Target) File() string { return resolve(t.path) }

func resolve(p string) string {
	if r, err := files.Resolve(p); err == nil {
		return r
	}
	return p
}

// Outcome says what a write did.
type Outcome struct {
	// File is the file really written (symbolic links resolved).
	File string
	// Changed reports whether the file was written.
	Changed bool
}

// Apply writes tok (or, in helper and bridge modes, the entry that fetches
// it) to the file, takes the broker's token out of the target's other
// places (own says which values are the broker's: a header the user wrote
// stays), and tells own what the new content holds before the file is
// replaced. Nothing is written when the file already holds it. It blocks
// on file I/O and on git.
func (t *Target) Apply(ctx context.Context, tok token.Token, own Owner) (Outcome, error) {
	file := t.File()
	if t.writesSecret() {
		if tok.Value == "" && t.NeedsToken() {
			return Outcome{File: file}, &HintError{Err: fmt.Errorf("%s: no token to write", t), Hint: "run `broker login`"}
		}
		// gitcheck asks about the file really written (a link into a
		// dotfiles repository is a file git tracks).
		tracked, err := gitcheck.Tracked(ctx, t.path)
		if err != nil {
			return Outcome{File: file}, fmt.Errorf("%s: checking git for %s: %w", t, t.path, err)
		}
		if tracked {
			return Outcome{File: file}, &HintError{
				Err:  fmt.Errorf("%s: refusing to write a token into %s: git tracks it or would commit it", t, file),
				Hint: "use mode = \"helper\" where the client supports it, an envfile target, or add the file to .gitignore",
			}
		}
	}
	return t.update(ctx, file, func(old []byte, exists bool) ([]byte, error) {
		next, err := t.next(old, exists, tok, own)
		if err != nil || own == nil {
			return next, err
		}
		placed, err := t.placed(old, exists, next, t.client.places(t))
		if err != nil {
			return nil, err
		}
		if err := own.Placing(file, placed); err != nil {
			return nil, fmt.Errorf("%s: recording what broker writes: %w", t, err)
		}
		return next, nil
	})
}

// next is the content Apply writes over old.
func (t *Target) next(old []byte, exists bool, tok token.Token, own Owner) ([]byte, error) {
	next, err := t.client.apply(t, old, exists, tok)
	if err != nil {
		return nil, err
	}
	for _, p := range t.client.places(t)[1:] {
		if p.secret {
			if next, err = t.delOwned(next, p, own); err != nil {
				return nil, err
			}
		}
	}
	return next, nil
}

// Preview returns the content Apply would write over data (the file's
// content; exists false when there is none), without writing anything,
// recording anything in own or asking git. Errors are as Apply's.
func (t *Target) Preview(data []byte, exists bool, tok token.Token, own Owner) ([]byte, error) {
	next, err := t.next(data, exists, tok, own)
	if err != nil {
		return nil, t.fileError(err)
	}
	return next, nil
}

// PreviewRemove returns the content Remove would write over data, without
// writing anything.
func (t *Target) PreviewRemove(data []byte, own Owner) ([]byte, error) {
	next := data
	for _, p := range t.client.places(t) {
		if !p.secret {
			continue
		}
		var err error
		if next, err = t.delOwned(next, p, own); err != nil {
			return nil, t.fileError(err)
		}
	}
	return next, nil
}

// Held returns the values that data (the target's file's content) holds
// now at the places where the target's mode keeps a token or removes
// one (an Authorization header the user pasted), as Placed values: what
// the ledger would record had the broker written them.
func (t *Target) Held(data []byte) ([]Placed, error) {
	var out []Placed
	for _, p := range t.client.places(t) {
		if !p.secret {
			continue
		}
		v, ok, err := t.client.get(t, data, p)
		if err != nil {
			return nil, t.fileError(err)
		}
		if ok && v != "" {
			out = append(out, Placed{Place: p.name, SHA256: Sum(v), Secret: true})
		}
	}
	return out, nil
}

// placed is what next holds of the broker's: the value at the mode's
// place, and the entry when this write creates it.
func (t *Target) placed(old []byte, exists bool, next []byte, ps []place) ([]Placed, error) {
	var out []Placed
	if v, ok, err := t.client.get(t, next, ps[0]); err != nil {
		return nil, err
	} else if ok {
		out = append(out, Placed{Place: ps[0].name, SHA256: Sum(v), Secret: ps[0].secret})
	}
	for _, p := range ps {
		if !p.entry {
			continue
		}
		_, had, err := t.client.get(t, old, p)
		if !exists || err != nil {
			had = false
		}
		if _, has, err := t.client.get(t, next, p); err == nil && has && !had {
			out = append(out, Placed{Place: p.name, Entry: true})
		}
	}
	return out, nil
}

// delOwned removes the value at p when own says the broker wrote it.
func (t *Target) delOwned(data []byte, p place, own Owner) ([]byte, error) {
	if own == nil {
		return data, nil
	}
	v, ok, err := t.client.get(t, data, p)
	if err != nil || !ok {
		return data, err
	}
	sum := Sum(v)
	if p.entry {
		sum = ""
	}
	if !own.Owns(p.name, sum) {
		return data, nil
	}
	return t.client.del(t, data, p)
}

// Remove scrubs the token from every place of the file where own says the
// broker wrote it (a value the user wrote stays; helper and bridge
// entries, which hold no token, stay too); in proxy mode it also revokes
// the target's local credential.
func (t *Target) Remove(ctx context.Context, own Owner) (Outcome, error) {
	o, err := t.strip(ctx, own, func(p place) bool { return p.secret })
	if err == nil && t.mode == ModeProxy {
		// The entry keeps its loopback URL; the credential no longer opens it.
		err = t.env.Proxy.Revoke(t.cfg)
	}
	return o, err
}

// Unwire removes everything the broker wrote for the target: the entry
// when the broker created it, else its helper line and token (the user's
// own entry and its other keys stay; a bridge the broker made of the
// user's entry stays a bridge).
func (t *Target) Unwire(ctx context.Context, own Owner) (Outcome, error) {
	entryOurs := false
	for _, p := range t.client.places(t) {
		if p.entry && own != nil && own.Owns(p.name, "") {
			entryOurs = true
		}
	}
	return t.strip(ctx, own, func(p place) bool {
		// The broker's values first, then the entry when it is the
		// broker's (an editor that cannot remove a whole entry, as for
		// a TOML table, still leaves no token and no helper behind).
		return !p.wholeEntryOnly && (!p.entry || entryOurs)
	})
}

func (t *Target) strip(ctx context.Context, own Owner, which func(place) bool) (Outcome, error) {
	file := t.File()
	if _, err := os.Lstat(file); errors.Is(err, fs.ErrNotExist) {
		return Outcome{File: file}, nil
	}
	var old []byte
	at := -1 // where the first value removed was
	o, err := t.update(ctx, file, func(cur []byte, exists bool) ([]byte, error) {
		if !exists {
			return nil, errNothing
		}
		old, at = cur, -1
		next := cur
		for _, p := range t.client.places(t) {
			if !which(p) {
				continue
			}
			before := next
			var err error
			if next, err = t.delOwned(next, p, own); err != nil {
				return nil, err
			}
			if at < 0 && !bytes.Equal(before, next) {
				at = firstDiff(before, next)
				if v, ok, _ := t.client.get(t, before, p); ok && v != "" {
					if i := bytes.Index(cur, []byte(v)); i >= 0 {
						at = i
					}
				}
			}
		}
		return next, nil
	})
	var fe *FileError
	if err != nil && !errors.As(err, &fe) && at >= 0 {
		// The value was found but the file could not be written (it is
		// read-only, …): say where the token stays.
		msg := err.Error()
		if u := errors.Unwrap(err); u != nil {
			msg = u.Error()
		}
		line, col := lineCol(old, at)
		return o, &FileError{Path: t.path, Line: line, Col: col, Msg: "the token here cannot be removed: " + msg,
			Hint: "make the file writable and run the command again; until then the ledger keeps the token listed"}
	}
	return o, err
}

// firstDiff is the offset of the first byte where a and b differ.
func firstDiff(a, b []byte) int {
	n := min(len(a), len(b))
	for i := 0; i < n; i++ {
		if a[i] != b[i] {
			return i
		}
	}
	return n
}

// lineCol is the 1-based line and column (in bytes) of offset off in data.
func lineCol(data []byte, off int) (int, int) {
	line := 1 + bytes.Count(data[:off], []byte("\n"))
	return line, off - bytes.LastIndexByte(data[:off], '\n')
}

var errNothing = errors.New("nothing to do")

func (t *Target) update(ctx context.Context, file string, edit atomicfile.EditFunc) (Outcome, error) {
	unlock := lockFile(file)
	defer unlock()
	// Claude Code locks its ~/.claude.json with a PATH.lock directory
	// (proper-lockfile); taking the same lock means never racing with it.
	opts := atomicfile.Options{LockDir: t.cfg.Client == "claude" && filepath.Base(t.path) == ".claude.json"}
	res, err := atomicfile.UpdateWith(ctx, file, edit, opts)
	out := Outcome{File: file, Changed: res.Changed}
	if res.Path != "" {
		out.File = res.Path
	}
	if errors.Is(err, errNothing) {
		return out, nil
	}
	if err != nil {
		return out, t.fileError(err)
	}
	if res.Changed && t.env.Written != nil {
		t.env.Written(res.Path, res.Data)
	}
	if res.Changed && len(res.Data) >= collectAfter {
		// A rewrite leaves the old and the new content as garbage, twice
		// a file that can be tens of MB (Claude Code's ~/.claude.json).
		// Collecting it now keeps Go's pacer from letting the heap grow
		// to twice that before the next collection: repeated rewrites of
		// a 50 MB file peak at about 2× its size instead of 4×, in the
		// same time (make bench, section 3).
		runtime.GC()
	}
	return out, nil
}

// collectAfter is the size of a rewritten file above which update runs the
// garbage collector at once.
const collectAfter = 8 << 20

// fileError turns a syntax error into "PATH:LINE:COL: message".
func (t *Target) fileError(err error) error {
	var se *jsonedit.SyntaxError
	if errors.As(err, &se) {
		return &FileError{Path: t.path, Line: se.Line, Col: se.Col, Msg: se.Msg}
	}
	var fe *FileError
	if errors.As(err, &fe) {
		if fe.Path == "" {
			c := *fe
			c.Path = t.path
			return &c
		}
		return err
	}
	var nf *jsonedit.NotFoundError
	if errors.As(err, &nf) {
		return &HintError{
			Err:  fmt.Errorf("%s: server %q not found in %s", t, t.cfg.Server, t.path),
			Hint: "add url = \"https://…\" to the target so that broker creates the entry, or add the server in the client first",
		}
	}
	return fmt.Errorf("%s: %w", t, err)
}

// FileError is a problem at a place in a client's file. It prints as
// "PATH:LINE:COL: message".
type FileError struct {
	Path      string
	Line, Col int
	Msg       string
	// Hint, when set, replaces the hint for a file that does not parse.
	Hint string
}

func (e *FileError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Col, e.Msg)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Msg)
}

// HintText says what to do about a file that does not parse.
func (e *FileError) HintText() string {
	if e.Hint != "" {
		return e.Hint
	}
	return "fix the file by hand; broker leaves a file it cannot parse untouched"
}

// HintError is an error with a "hint:" line for the command line.
type HintError struct {
	Err  error
	Hint string
}

func (e *HintError) Error() string    { return e.Err.Error() }
func (e *HintError) Unwrap() error    { return e.Err }
func (e *HintError) HintText() string { return e.Hint }

// OpenToOthers reports whether a file of this mode can be read by other
// users on goos. On Windows Go reports 0666 for every file: the folder's
// ACL decides (a profile folder is the user's alone), so it never says so
// there.
func OpenToOthers(goos string, mode fs.FileMode) bool {
	return goos != "windows" && mode.Perm()&0o044 != 0
}

// Check is what `broker doctor` reports about a target.
type Check struct {
	Path    string
	Exists  bool
	Parses  bool
	Entry   bool // the server's entry is present
	Current bool // the managed value is what Apply would write
	// Tracked: git tracks the file or would commit it.
	Tracked bool
	// TooOpen: other users can read the file (a secret in it leaks).
	TooOpen bool
	// Err is the first problem found (a *FileError when it does not parse).
	Err error
}

// Check inspects the target's file without writing it.
func (t *Target) Check(tok token.Token) Check {
	c := Check{Path: t.path}
	fi, err := os.Stat(t.path)
	if err != nil {
		if !errors.Is(err, fs.ErrNotExist) {
			c.Err = err
		}
		return c
	}
	c.Exists = true
	c.TooOpen = OpenToOthers(t.env.GOOS, fi.Mode()) && t.writesSecret()
	if tr, err := gitcheck.Tracked(context.Background(), t.path); err == nil {
		c.Tracked = tr
	}
	data, err := files.ReadRegular(t.path, files.MaxClientFile)
	if err != nil {
		c.Err = err
		return c
	}
	entry, err := t.client.entry(t, data)
	if err != nil {
		c.Err = t.fileError(err)
		return c
	}
	c.Parses, c.Entry = true, entry
	if t.NeedsToken() && tok.Value == "" {
		return c
	}
	next, err := t.client.apply(t, data, true, tok)
	if err != nil {
		c.Err = t.fileError(err)
		return c
	}
	c.Current = string(next) == string(data)
	return c
}

// bearer is the header value for tok.
func bearer(tok token.Token) string { return "Bearer " + tok.Value.Reveal() }
