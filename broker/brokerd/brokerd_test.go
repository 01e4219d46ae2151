package brokerd

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// world is a daemon as `broker run` builds it (real MSAL against the
// simulator over TLS, real targets, the local API), in a temporary
// folder.
type world struct {
	dir, cfgPath, stateDir string
	sim                    *entrasim.Server
	d                      *Daemon
	head                   string
}

func newWorld(t *testing.T, targets ...string) *world {
	t.Helper()
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	dir := t.TempDir()
	w := &world{dir: dir, sim: sim, cfgPath: filepath.Join(dir, "config.toml"), stateDir: filepath.Join(dir, "state")}
	w.head = fmt.Sprintf("[settings]\nstorage = \"file\"\n\n[profiles.data]\ntenant = %q\nclient_id = %q\nscopes = [%q]\nauthority = %q\n",
		sim.TenantID(), sim.ClientID(), sim.Scope(), sim.URL())
	w.writeConfig(t, targets...)
	cfg, err := config.Load("", w.cfgPath)
	if err != nil {
		t.Fatal(err)
	}
	sock, err := os.MkdirTemp("", "bd")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(sock) })
	hc := sim.HTTPClient()
	w.d, err = New(t.Context(), Options{
		Config:          cfg,
		ConfigPath:      w.cfgPath,
		AdminConfigPath: filepath.Join(dir, "no-admin.toml"),
		StateDir:        w.stateDir,
		Logger:          slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug})),
		HTTPClient:      hc,
		OpenURL: func(u string) error {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			return entrasim.Browse(ctx, hc, u)
		},
		TargetEnv: &integrations.Env{Home: dir, Getenv: func(string) string { return "" }, GOOS: runtime.GOOS, BrokerPath: "/usr/bin/broker"},
		Address:   filepath.Join(sock, "rt", "broker.sock"),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		w.d.Close()
	})
	return w
}

func (w *world) writeConfig(t *testing.T, targets ...string) {
	t.Helper()
	text := w.head
	for _, name := range targets {
		text += fmt.Sprintf("\n[[profiles.data.targets]]\nclient = \"file\"\npath = %q\n", filepath.Join(w.dir, name))
	}
	if err := os.WriteFile(w.cfgPath+".tmp", []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(w.cfgPath+".tmp", w.cfgPath); err != nil {
		t.Fatal(err)
	}
}

// holdsToken reports whether the target file holds a token.
func (w *world) holdsToken(name string) bool {
	b, err := os.ReadFile(filepath.Join(w.dir, name))
	return err == nil && strings.HasPrefix(string(b), "eyJ")
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// waitFor polls cond until it holds (a generous limit: a failure, not a
// speed check).
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(30 * time.Second); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if cond() {
			return
		}
	}
	t.Fatalf("timed out waiting for %s", what)
}

// The daemon as built for production: signs in through the real engine,
// writes the real targets, answers on its local API at the address its
// record gives; and a target removed from config.toml is scrubbed even
// though the edit gives the daemon a new engine (Reopen, which `broker
// run` always sets).
func TestReloadScrubsARemovedTargetWithReopen(t *testing.T) {
	w := newWorld(t, "keep.tok", "drop.tok")
	waitFor(t, "the profile", func() bool { return len(w.d.Status().Profiles) == 1 })
	if err := w.d.SignIn(t.Context(), "data"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "both targets written", func() bool { return w.holdsToken("keep.tok") && w.holdsToken("drop.tok") })

	rec, err := localapi.ReadRecord(w.stateDir)
	if err != nil || rec.PID != os.Getpid() || rec.Address != w.d.Address() {
		t.Fatalf("record = %+v, %v", rec, err)
	}
	c, err := localapi.DialAddress(t.Context(), rec.Address)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	st, err := c.Status(t.Context())
	if err != nil || len(st.Profiles) != 1 || st.Profiles[0].State != state.OK {
		t.Fatalf("status over the local API: %+v, %v", st, err)
	}

	w.writeConfig(t, "keep.tok")
	waitFor(t, "the removed target scrubbed", func() bool { return !w.holdsToken("drop.tok") })
	waitFor(t, "the kept target written again", func() bool { return w.holdsToken("keep.tok") })
}
