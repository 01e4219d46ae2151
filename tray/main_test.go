package tray

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// helperEnv makes the test binary run Run with a scripted model instead of
// the tests (systray keeps global state, so each tray gets a process).
const helperEnv = "TRAY_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "1":
		os.Exit(helperMain())
	case "daemon":
		os.Exit(helperDaemonMain())
	}
	os.Exit(m.Run())
}

// helperMain runs the tray (on the main goroutine, as in `broker run`)
// over a fakeModel driven by JSON statuses on stdin; it reports every
// command it receives on stdout, one line each.
func helperMain() int {
	out := &lockedWriter{w: os.Stdout}
	m := newFakeModel(out)
	go func() {
		sc := bufio.NewScanner(os.Stdin)
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			var st state.Status
			if err := json.Unmarshal(sc.Bytes(), &st); err != nil {
				fmt.Fprintln(os.Stderr, "helper: bad status:", err)
				continue
			}
			m.set(st)
		}
	}()
	log := slog.New(reportingHandler{slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}), out})
	err := Run(context.Background(), m, Options{
		ConfigPath: "/cfg/config.toml",
		LogPath:    "/cfg/broker.log",
		Logger:     log,
		OnQuit:     func() { out.line("quit") },
		Open:       func(p string) error { out.line("open " + p); return nil },
		Installer:  &fakeInstaller{out: out},
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "helper: run:", err)
		return 3
	}
	out.line("exited")
	return 0
}

// reportingHandler also reports every log message on stdout ("log: MSG"),
// so that a test can wait for what the tray logs instead of sleeping.
type reportingHandler struct {
	slog.Handler
	out *lockedWriter
}

func (h reportingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.out.line("log: " + r.Message)
	return h.Handler.Handle(ctx, r)
}

func (h reportingHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return reportingHandler{h.Handler.WithAttrs(as), h.out}
}

func (h reportingHandler) WithGroup(name string) slog.Handler {
	return reportingHandler{h.Handler.WithGroup(name), h.out}
}

type lockedWriter struct {
	mu sync.Mutex
	w  *os.File
}

func (l *lockedWriter) line(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintln(l.w, s)
}

// fakeModel is a Model whose status the test sets; commands are reported
// on out and do nothing else.
type fakeModel struct {
	out *lockedWriter
	mu  sync.Mutex
	st  state.Status
	sub map[chan struct{}]bool
}

func newFakeModel(out *lockedWriter) *fakeModel {
	return &fakeModel{out: out, sub: map[chan struct{}]bool{}}
}

func (f *fakeModel) set(st state.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.st = st
	for ch := range f.sub {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (f *fakeModel) Status() state.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeModel) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.sub[ch] = true
	f.mu.Unlock()
	return ch, func() {
		f.mu.Lock()
		delete(f.sub, ch)
		f.mu.Unlock()
	}
}

func (f *fakeModel) SignIn(ctx context.Context, p string) error {
	f.out.line("SignIn " + p)
	return nil
}

func (f *fakeModel) SignOut(ctx context.Context, p string) error {
	f.out.line("SignOut " + p)
	return nil
}

func (f *fakeModel) RefreshNow(ctx context.Context, p string) error {
	f.out.line("RefreshNow " + p)
	return nil
}

// fakeToken is what Token returns.
const fakeToken = "eyJ0eXAiOiJKV1QifQ.fake-token-for-the-tray-test.sig"

func (f *fakeModel) Token(ctx context.Context, p string, min time.Duration) (token.Token, error) {
	f.out.line(fmt.Sprintf("Token %s %s", p, min))
	return token.Token{Value: token.Secret(fakeToken), ExpiresOn: time.Now().Add(time.Hour)}, nil
}

type fakeInstaller struct {
	out *lockedWriter
	mu  sync.Mutex
	on  bool
}

func (f *fakeInstaller) Installed(ctx context.Context) (bool, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.on, nil
}

func (f *fakeInstaller) SetInstalled(ctx context.Context, on bool) error {
	f.mu.Lock()
	f.on = on
	f.mu.Unlock()
	f.out.line(fmt.Sprintf("SetInstalled %v", on))
	return nil
}
