package daemon

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

const profileTOML = `
[profiles.%s]
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
scopes = ["api://data/.default"]

[[profiles.%s.targets]]
client = "file"
path = %q
`

func profileConf(name, dir string) string {
	return fmt.Sprintf(profileTOML, name, name, filepath.Join(dir, name+".tok"))
}

// runDaemon runs d until the test ends.
func runDaemon(t *testing.T, d *Daemon) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
}

// logEvents is a slog handler that lets a test wait for a log line (an
// event) instead of sleeping and hoping that it happened.
type logEvents struct {
	mu    sync.Mutex
	lines []map[string]string // "msg" and every attribute, as text
	kick  chan struct{}       // buffer 1
}

func newLogEvents() *logEvents { return &logEvents{kick: make(chan struct{}, 1)} }

func (l *logEvents) logger() *slog.Logger { return slog.New(l) }

func (l *logEvents) Enabled(context.Context, slog.Level) bool { return true }
func (l *logEvents) WithAttrs([]slog.Attr) slog.Handler       { return l }
func (l *logEvents) WithGroup(string) slog.Handler            { return l }
func (l *logEvents) Handle(_ context.Context, r slog.Record) error {
	line := map[string]string{"msg": r.Message}
	r.Attrs(func(a slog.Attr) bool { line[a.Key] = a.Value.String(); return true })
	l.mu.Lock()
	l.lines = append(l.lines, line)
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
	return nil
}

// mark is the position after the lines logged so far.
func (l *logEvents) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.lines)
}

// waitFor waits (up to 10 s) for a line after mark with msg and the given
// attribute pairs, and returns the position after it.
func (l *logEvents) waitFor(t *testing.T, mark int, msg string, kv ...string) int {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		l.mu.Lock()
		for i := mark; i < len(l.lines); i++ {
			ok := l.lines[i]["msg"] == msg
			for j := 0; ok && j+1 < len(kv); j += 2 {
				ok = l.lines[i][kv[j]] == kv[j+1]
			}
			if ok {
				l.mu.Unlock()
				return i + 1
			}
		}
		l.mu.Unlock()
		select {
		case <-l.kick:
		case <-timeout:
			t.Fatalf("timed out waiting for the log line %q %v", msg, kv)
		}
	}
}

// eventually polls cond for up to 10 s of real time.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

func TestConfigReloadKeepsLastGoodConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	if err := os.WriteFile(path, []byte(profileConf("data", dir)), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load("", path)
	if err != nil {
		t.Fatal(err)
	}
	clock := realClock{}
	eng := fakeEngine{"data": newFakeAuth(clock, time.Hour, true), "extra": newFakeAuth(clock, time.Hour, true)}
	targets := &fakeTargets{clock: clock}
	d, err := New(Options{Config: cfg, ConfigPath: path, Engine: eng, NewTarget: targets.new})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	eventually(t, "the first profile", func() bool {
		st := d.Status()
		return len(st.Profiles) == 1 && st.Profiles[0].State == state.OK
	})
	events, unsubscribe := d.Subscribe()
	defer unsubscribe()

	// An invalid edit: the last good config stays, the error is reported.
	if err := os.WriteFile(path, []byte(profileConf("data", dir)+"\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the config error in status", func() bool { return d.Status().ConfigError != "" })
	st := d.Status()
	if !strings.Contains(st.ConfigError, path) || len(st.Profiles) != 1 || st.Profiles[0].State != state.OK {
		t.Fatalf("status after a bad edit: %+v", st)
	}
	select {
	case <-events:
	default:
		t.Error("no change event for the config error")
	}

	// A good edit adds a profile, and the error goes away.
	good := profileConf("data", dir) + profileConf("extra", dir)
	if err := os.WriteFile(path+".tmp", []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(path+".tmp", path); err != nil { // as editors save
		t.Fatal(err)
	}
	eventually(t, "the second profile", func() bool {
		st := d.Status()
		return st.ConfigError == "" && len(st.Profiles) == 2 && st.Profiles[1].Name == "extra" && st.Profiles[1].State == state.OK
	})
	if c := targets.get("extra/").current(); c.Value.Reveal() != "tok-1" {
		t.Errorf("new profile's target holds %q", c.Value.Reveal())
	}
}

// fileTarget writes the token to a real file and reports the write the way
// integrations does (Env.Written).
type fileTarget struct {
	path    string
	written func(string, []byte)
	mu      sync.Mutex
	applies int
}

func (f *fileTarget) Apply(ctx context.Context, tok token.Token) delivery.Result {
	f.mu.Lock()
	f.applies++
	f.mu.Unlock()
	data := []byte(tok.Value.Reveal())
	if old, err := os.ReadFile(f.path); err == nil && string(old) == string(data) {
		return delivery.Result{Word: delivery.Unchanged}
	}
	if err := os.WriteFile(f.path+".tmp", data, 0o600); err != nil {
		return result(err)
	}
	f.written(f.path, data)
	return result(os.Rename(f.path+".tmp", f.path))
}

func (f *fileTarget) Remove(ctx context.Context) delivery.Result { return result(os.Remove(f.path)) }
func (f *fileTarget) WatchPaths() []string                       { return []string{f.path} }

func (f *fileTarget) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies
}

func TestWatcherReappliesOverwritesButNotOwnWrites(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	clock := realClock{}
	events := newLogEvents()
	var d *Daemon
	ft := &fileTarget{path: filepath.Join(dir, "client.json"), written: func(p string, b []byte) { d.Written(p, b) }}
	cfg := &config.Config{Profiles: map[string]*config.Profile{"data": {Targets: []config.Target{{Client: "file", Path: ft.path}}}}}
	d, err := New(Options{Config: cfg, Engine: fakeEngine{"data": newFakeAuth(clock, time.Hour, true)},
		NewTarget: func(config.Target) (Target, error) { return ft, nil }, Logger: events.logger()})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	events.waitFor(t, 0, "watching folder", "dir", dir)
	eventually(t, "the first write", func() bool { b, _ := os.ReadFile(ft.path); return string(b) == "tok-1" })
	// settle rewrites the file as it is: an event that must change nothing,
	// and whose settling comes after that of every earlier event.
	settle := func() {
		t.Helper()
		m := events.mark()
		if err := os.WriteFile(ft.path, []byte("tok-1"), 0o600); err != nil {
			t.Fatal(err)
		}
		events.waitFor(t, m, "watched file settled", "path", ft.path, "changed", "false")
	}
	settle()
	if n := ft.count(); n != 1 {
		t.Errorf("%d applies after the daemon's own write, want 1", n)
	}
	// A client overwrites the file: the token is put back.
	m := events.mark()
	if err := os.WriteFile(ft.path, []byte(`{"stale": true}`), 0o600); err != nil {
		t.Fatal(err)
	}
	events.waitFor(t, m, "watched file settled", "path", ft.path, "changed", "true")
	eventually(t, "the re-apply", func() bool { b, _ := os.ReadFile(ft.path); return string(b) == "tok-1" })
	settle()
	if n := ft.count(); n != 2 {
		t.Errorf("%d applies after one overwrite, want 2", n)
	}
}

func TestWatcherPicksUpAFolderCreatedLater(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(t.TempDir(), "later")
	events := newLogEvents()
	var d *Daemon
	ft := &fileTarget{path: filepath.Join(dir, "client.json"), written: func(p string, b []byte) { d.Written(p, b) }}
	clock := realClock{}
	cfg := &config.Config{Profiles: map[string]*config.Profile{"data": {Targets: []config.Target{{Client: "file", Path: ft.path}}}}}
	d, err := New(Options{Config: cfg, Engine: fakeEngine{"data": newFakeAuth(clock, time.Hour, true)},
		NewTarget: func(config.Target) (Target, error) { return ft, nil }, Logger: events.logger()})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	// The folder does not exist at start: the first write fails and is
	// retried after 1 s, by when the folder exists.
	events.waitFor(t, 0, "target write failed")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the first write", func() bool { b, _ := os.ReadFile(ft.path); return string(b) == "tok-1" })
	events.waitFor(t, 0, "watching folder", "dir", dir) // within cachePollEvery
	if err := os.WriteFile(ft.path, []byte("overwritten"), 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the re-apply", func() bool { b, _ := os.ReadFile(ft.path); return string(b) == "tok-1" })
}

// A target (or a whole profile) removed from config.toml by an edit is
// scrubbed: its token does not stay behind in a file the broker no longer
// looks after. The targets that stay keep theirs.
func TestReloadScrubsRemovedTargets(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "config.toml")
	targetTOML := func(name string) string {
		return fmt.Sprintf("\n[[profiles.data.targets]]\nclient = \"file\"\npath = %q\n", filepath.Join(dir, name))
	}
	head := ("[profiles.data]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"api://data/.default\"]\n")
	extra := profileConf("extra", dir)
	write := func(text string) {
		t.Helper()
		if err := os.WriteFile(path+".tmp", []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(path+".tmp", path); err != nil {
			t.Fatal(err)
		}
	}
	write(head + targetTOML("keep.tok") + targetTOML("drop.tok") + extra)
	cfg, err := config.Load("", path)
	if err != nil {
		t.Fatal(err)
	}
	clock := realClock{}
	var d *Daemon
	newTarget := func(tc config.Target) (Target, error) {
		return &fileTarget{path: tc.Path, written: func(p string, b []byte) { d.Written(p, b) }}, nil
	}
	eng := fakeEngine{"data": newFakeAuth(clock, time.Hour, true), "extra": newFakeAuth(clock, time.Hour, true)}
	// Reopen set, as `broker run` sets it (brokerd): an edit of the
	// profiles gives the daemon a new engine and restarts every profile.
	reopen := func(context.Context, *config.Config) (Engine, error) { return eng, nil }
	d, err = New(Options{Config: cfg, ConfigPath: path, Engine: eng, Reopen: reopen, NewTarget: newTarget})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	holds := func(name string) bool {
		b, err := os.ReadFile(filepath.Join(dir, name))
		return err == nil && string(b) == "tok-1"
	}
	eventually(t, "every target written", func() bool { return holds("keep.tok") && holds("drop.tok") && holds("extra.tok") })

	write(head + targetTOML("keep.tok"))
	gone := func(name string) bool { _, err := os.Stat(filepath.Join(dir, name)); return os.IsNotExist(err) }
	eventually(t, "the removed target and profile scrubbed", func() bool { return gone("drop.tok") && gone("extra.tok") })
	if !holds("keep.tok") {
		t.Error("the target that stayed lost its token")
	}
}

// A device-code sign-in's instructions show in the profile's status while
// it is in flight (the tray and `status` show them), and go when it ends.
func TestDeviceCodePromptInStatus(t *testing.T) {
	t.Parallel()
	clock := realClock{}
	a := newFakeAuth(clock, time.Hour, false)
	a.loginGo = make(chan struct{})
	cfg := &config.Config{Profiles: map[string]*config.Profile{
		"data":  {Login: "device-code", Scopes: []string{"api://data/.default"}},
		"other": {Login: "browser", Scopes: []string{"api://other/.default"}},
	}}
	d, err := New(Options{Config: cfg, Engine: fakeEngine{"data": a, "other": newFakeAuth(clock, time.Hour, false)},
		NewTarget: func(config.Target) (Target, error) { return nil, fmt.Errorf("none") }, NoWatch: true})
	if err != nil {
		t.Fatal(err)
	}
	runDaemon(t, d)
	prompt := func(name string) string {
		for _, p := range d.Status().Profiles {
			if p.Name == name {
				return p.SignInPrompt
			}
		}
		return "?"
	}
	eventually(t, "the daemon", func() bool { return prompt("data") == "" })
	d.DeviceCode("not in a sign-in: ignored")
	if prompt("data") != "" {
		t.Fatal("a prompt with no sign-in in flight was shown")
	}
	signedIn := make(chan error, 1)
	go func() { signedIn <- d.SignIn(context.Background(), "data") }()
	eventually(t, "the sign-in in flight", func() bool { a.mu.Lock(); defer a.mu.Unlock(); return a.logins == 1 })
	msg := "To sign in, use a web browser to open the page https://microsoft.com/devicelogin and enter the code ABCD-1234 to authenticate."
	d.DeviceCode(msg + "\n")
	if got := prompt("data"); got != msg {
		t.Fatalf("prompt = %q", got)
	}
	if got := prompt("other"); got != "" {
		t.Errorf("a browser profile got the prompt: %q", got)
	}
	close(a.loginGo)
	if err := <-signedIn; err != nil {
		t.Fatal(err)
	}
	if got := prompt("data"); got != "" {
		t.Errorf("prompt after the sign-in: %q", got)
	}
}
