package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

var testToken = token.Token{Value: "eyJ0eXAiOiJKV1QifQ.eyJhdWQiOiJhcGk6Ly9kYXRhIn0.c2ln", ExpiresOn: time.Now().Add(time.Hour)}

// world is a machine with its home and state folder in a temporary folder.
type world struct {
	home, state string
	d           *Deliverer
}

func newWorld(t *testing.T) *world {
	t.Helper()
	home := t.TempDir()
	state := filepath.Join(home, ".local", "state", "mcp-token-broker")
	env := integrations.Env{Home: home, Getenv: func(string) string { return "" }, GOOS: "linux", BrokerPath: "/usr/local/bin/broker"}
	return &world{home: home, state: state, d: New(env, state)}
}

func (w *world) target(t *testing.T, tc config.Target) *Target {
	t.Helper()
	if tc.Profile == "" {
		tc.Profile = "data"
	}
	tg, err := w.d.Target(tc)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func (w *world) write(t *testing.T, rel, content string) string {
	t.Helper()
	p := filepath.Join(w.home, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func read(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// The ledger holds the file (resolved through links), the place and a
// SHA-256 of the value, never the token; it is a 0600 file.
func TestLedgerRecordsPlaceAndSum(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	real := w.write(t, "dotfiles/cursor-mcp.json", `{"mcpServers": {"api": {"url": "https://x/mcp"}}}`)
	link := filepath.Join(w.home, ".cursor", "mcp.json")
	os.MkdirAll(filepath.Dir(link), 0o700)
	if err := os.Symlink(real, link); err != nil {
		t.Fatal(err)
	}
	r := w.target(t, config.Target{Client: "cursor", Server: "api"}).Apply(context.Background(), testToken)
	if r.Err != nil || r.Word != Wrote {
		t.Fatalf("Apply = %+v", r)
	}
	b, err := os.ReadFile(filepath.Join(w.state, LedgerFile))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), testToken.Value.Reveal()) || strings.Contains(string(b), "eyJ") {
		t.Fatalf("the ledger holds the token:\n%s", b)
	}
	var doc ledgerDoc
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Targets) != 1 {
		t.Fatalf("ledger:\n%s", b)
	}
	rec := doc.Targets[0]
	want := integrations.Sum("Bearer " + testToken.Value.Reveal())
	v := rec.value("/mcpServers/api/headers/Authorization")
	if rec.File != real || v == nil || !v.Secret || len(v.SHA256) != 1 || v.SHA256[0] != want {
		t.Errorf("record %+v, want file %s and the header's sum %s:\n%s", rec, real, want, b)
	}
	if fi, err := os.Stat(filepath.Join(w.state, LedgerFile)); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("ledger mode: %v %v", fi.Mode(), err)
	}
	// Same token again: unchanged, and the ledger is not rewritten.
	before, _ := os.Stat(filepath.Join(w.state, LedgerFile))
	if r := w.target(t, config.Target{Client: "cursor", Server: "api"}).Apply(context.Background(), testToken); r.Word != Unchanged {
		t.Errorf("second Apply: %+v", r)
	}
	if after, _ := os.Stat(filepath.Join(w.state, LedgerFile)); !os.SameFile(before, after) {
		t.Error("the ledger was rewritten for an unchanged file")
	}
}

// A header the user wrote by hand stays through helper mode and Scrub;
// the token the broker wrote goes, also from a target config.toml no
// longer lists.
func TestScrubOnlyWhatTheLedgerLists(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	claude := w.write(t, ".claude.json", `{"mcpServers": {
  "mine": {"type": "http", "url": "https://x/mcp", "headers": {"Authorization": "Bearer eyJhand.written.token"}},
  "api": {"type": "http", "url": "https://x/mcp"}
}}`)
	// The broker's header for api, then helper mode for both.
	for _, tc := range []config.Target{
		{Client: "claude", Server: "api", Mode: "header"},
		{Client: "claude", Server: "api"},
		{Client: "claude", Server: "mine"},
	} {
		if r := w.target(t, tc).Apply(ctx, testToken); r.Err != nil {
			t.Fatal(r.Err)
		}
	}
	got := read(t, claude)
	if strings.Contains(got, testToken.Value.Reveal()) || !strings.Contains(got, "eyJhand.written.token") {
		t.Fatalf("after helper mode:\n%s", got)
	}
	// A target only the ledger knows now (config.toml lost it).
	env := w.write(t, "mcp.env", "# mine\nexport OTHER=1\n")
	if r := w.target(t, config.Target{Client: "envfile", Path: env}).Apply(ctx, testToken); r.Err != nil {
		t.Fatal(r.Err)
	}
	results, err := w.d.Scrub(ctx, "data")
	if err != nil {
		t.Fatal(err)
	}
	if len(results) != 1 || results[0].Word != Wrote || results[0].Target.Client != "envfile" {
		t.Fatalf("Scrub = %+v", results)
	}
	if got := read(t, env); got != "# mine\nexport OTHER=1\n" {
		t.Errorf("env file after Scrub: %q", got)
	}
	if got := read(t, claude); !strings.Contains(got, "eyJhand.written.token") {
		t.Errorf("Scrub deleted the user's own header:\n%s", got)
	}
	// Nothing left to scrub.
	if results, err := w.d.Scrub(ctx, ""); err != nil || len(results) != 0 {
		t.Errorf("second Scrub = %+v, %v", results, err)
	}
}

// A token that cannot be removed (the file does not parse) fails with
// PATH:LINE:COL and stays in the ledger; once the file is fixed, the next
// Scrub removes it.
func TestScrubKeepsWhatItCannotRemove(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	p := w.write(t, "tool.json", "{\n  \"headers\": {}\n}\n")
	tg := w.target(t, config.Target{Client: "json", Path: p, Pointer: "/headers/Authorization"})
	if r := tg.Apply(ctx, testToken); r.Err != nil {
		t.Fatal(r.Err)
	}
	good := read(t, p)
	broken := strings.Replace(good, "}\n}", "}\n", 1)
	os.WriteFile(p, []byte(broken), 0o600)
	results, err := w.d.Scrub(ctx, "data")
	if err != nil || len(results) != 1 {
		t.Fatalf("Scrub = %+v, %v", results, err)
	}
	var fe *integrations.FileError
	if r := results[0]; r.Word != Failed || !errors.As(r.Err, &fe) || fe.Line == 0 || !strings.HasPrefix(r.Err.Error(), p+":") {
		t.Fatalf("Scrub of a broken file: %+v (%v)", r, r.Err)
	}
	if read(t, p) != broken {
		t.Error("the broken file was written")
	}
	os.WriteFile(p, []byte(good), 0o600)
	results, err = w.d.Scrub(ctx, "data")
	if err != nil || len(results) != 1 || results[0].Word != Wrote {
		t.Fatalf("Scrub after the fix = %+v, %v", results, err)
	}
	if strings.Contains(read(t, p), "eyJ") {
		t.Errorf("token left:\n%s", read(t, p))
	}
}

func TestApplyAllSharedFile(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	var targets []*Target
	for _, s := range []string{"a", "b", "c", "d"} {
		targets = append(targets, w.target(t, config.Target{Client: "cursor", Server: s, URL: "https://x/" + s, Mode: "header"}))
	}
	for i, r := range ApplyAll(context.Background(), targets, testToken) {
		if r.Err != nil || r.Word != Wrote {
			t.Fatalf("target %d: %+v", i, r)
		}
	}
	b := read(t, targets[0].Path())
	if n := strings.Count(b, "Bearer "+testToken.Value.Reveal()); n != 4 {
		t.Fatalf("%d tokens in the shared file, want 4:\n%s", n, b)
	}
}

// A connect whose wiring fails leaves config.toml as it was, byte for
// byte; a connect that works twice gives one target.
func TestConnectRollsBack(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	cfgFile := w.write(t, ".config/mcp-token-broker/config.toml", "# mine\n[profiles.data]\ntenant = \"contoso.onmicrosoft.com\"   # keep\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"api://x/.default\"]\n")
	before := read(t, cfgFile)
	broken := w.write(t, ".config/Code/User/mcp.json", "{\"servers\": {\n")
	tokenFn := func(context.Context) (token.Token, error) { return testToken, nil }
	c, err := w.d.Connect(ctx, cfgFile, config.Target{Profile: "data", Client: "vscode", Server: "api", URL: "https://x/mcp"}, tokenFn)
	var fe *integrations.FileError
	if !errors.As(err, &fe) || c.Result.Word != Failed {
		t.Fatalf("Connect = %+v, %v; want the file's error", c, err)
	}
	if got := read(t, cfgFile); got != before {
		t.Fatalf("config.toml after a failed connect:\n%s\nwant:\n%s", got, before)
	}
	os.WriteFile(broken, []byte("{}\n"), 0o600)
	for i, want := range []string{Added, AlreadyThere} {
		c, err := w.d.Connect(ctx, cfgFile, config.Target{Profile: "data", Client: "vscode", Server: "api", URL: "https://x/mcp"}, tokenFn)
		if err != nil || c.Config != want {
			t.Fatalf("connect %d = %+v, %v; want %s", i, c, err, want)
		}
	}
	if n := strings.Count(read(t, cfgFile), "client = \"vscode\""); n != 1 {
		t.Errorf("%d targets in config.toml, want 1", n)
	}
}

// Disconnect removes the target from config.toml and what the broker
// created in the client's file; the user's own entry stays.
func TestDisconnect(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	cfgFile := w.write(t, ".config/mcp-token-broker/config.toml", "[profiles.data]\ntenant = \"contoso.onmicrosoft.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"api://x/.default\"]\n")
	user := "{\n  \"mcpServers\": {\n    \"mine\": {\n      \"type\": \"http\",\n      \"url\": \"https://x/mine\"\n    }\n  }\n}\n"
	claude := w.write(t, ".claude.json", user)
	for _, tc := range []config.Target{
		{Profile: "data", Client: "claude", Server: "new", URL: "https://x/new"},
		{Profile: "data", Client: "claude", Server: "mine"},
	} {
		if _, err := w.d.Connect(ctx, cfgFile, tc, nil); err != nil {
			t.Fatal(err)
		}
	}
	if got := read(t, claude); strings.Count(got, "headersHelper") != 2 {
		t.Fatalf("after connect:\n%s", got)
	}
	reloads := 0
	for _, server := range []string{"new", "mine"} {
		cfg, err := config.Load("", cfgFile)
		if err != nil {
			t.Fatal(err)
		}
		res, err := w.d.Disconnect(ctx, cfgFile, cfg, config.Target{Profile: "data", Client: "claude", Server: server},
			func(context.Context) error { reloads++; return nil })
		if err != nil || !res.Removed || len(res.Results) != 1 || res.Results[0].Word != Wrote {
			t.Fatalf("disconnect %s = %+v, %v", server, res, err)
		}
	}
	if got := read(t, claude); got != user {
		t.Errorf("after disconnect:\n%s\nwant:\n%s", got, user)
	}
	if reloads != 2 {
		t.Errorf("%d reloads, want 2", reloads)
	}
	cfg, _ := config.Load("", cfgFile)
	if n := len(cfg.Profiles["data"].Targets); n != 0 {
		t.Errorf("%d targets left in config.toml", n)
	}
	_, err := w.d.Disconnect(ctx, cfgFile, cfg, config.Target{Profile: "data", Client: "claude", Server: "mine"}, nil)
	var ce *config.Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "no target claude/mine") {
		t.Errorf("disconnect again: %v", err)
	}
}

// A damaged ledger stops the write (nothing is written that could not be
// scrubbed later) and says what to do.
func TestDamagedLedger(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	os.MkdirAll(w.state, 0o700)
	os.WriteFile(filepath.Join(w.state, LedgerFile), []byte("{\"targets\": ["), 0o600)
	env := filepath.Join(w.home, "mcp.env")
	r := w.target(t, config.Target{Client: "envfile", Path: env}).Apply(context.Background(), testToken)
	if r.Word != Failed || !strings.Contains(r.Err.Error(), "the ledger is damaged") || r.Hint() == "" {
		t.Fatalf("Apply with a damaged ledger: %+v", r)
	}
	if _, err := os.Stat(env); !os.IsNotExist(err) {
		t.Errorf("the env file was written: %v", err)
	}
}

// A write that fails leaves no record of an entry the broker never
// created: disconnect must not take the user's entry for the broker's.
func TestFailedWriteRecordsNothing(t *testing.T) {
	t.Parallel()
	w := newWorld(t)
	ctx := context.Background()
	p := w.write(t, ".copilot/mcp-config.json", "{\"mcpServers\": {}}\n")
	os.Chmod(p, 0o400)
	tg := w.target(t, config.Target{Client: "copilot", Server: "api", URL: "https://x/mcp", Mode: "header"})
	if r := tg.Apply(ctx, testToken); r.Word != Failed || !strings.Contains(r.Err.Error(), "read-only") {
		t.Fatalf("Apply to a read-only file: %+v", r)
	}
	recs, err := w.d.Ledger().Records(ctx, "")
	if err != nil || len(recs) != 0 {
		t.Fatalf("ledger after a failed write: %+v, %v", recs, err)
	}
}

// A file another program keeps changing is tried again; any other error
// is final at once (the daemon has its own backoff).
func TestRetry(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	calls := 0
	err := retry(ctx, func() error {
		calls++
		if calls < attempts {
			return fmt.Errorf("writing x: %w", atomicfile.ErrConflict)
		}
		return nil
	})
	if err != nil || calls != attempts {
		t.Errorf("conflicts: %d calls, %v", calls, err)
	}
	calls = 0
	err = retry(ctx, func() error { calls++; return errors.New("read-only") })
	if err == nil || calls != 1 {
		t.Errorf("a final error: %d calls, %v", calls, err)
	}
	calls = 0
	err = retry(ctx, func() error { calls++; return atomicfile.ErrConflict })
	if !errors.Is(err, atomicfile.ErrConflict) || calls != attempts {
		t.Errorf("always in conflict: %d calls, %v", calls, err)
	}
}
