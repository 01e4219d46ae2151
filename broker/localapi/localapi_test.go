package localapi

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// fakeBackend answers from fields.
type fakeBackend struct {
	mu      sync.Mutex
	st      state.Status
	tokErr  error
	signIns int
	subs    []chan struct{}
	lastMin time.Duration
}

func (f *fakeBackend) Status() state.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.st
}

func (f *fakeBackend) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	f.mu.Lock()
	f.subs = append(f.subs, ch)
	f.mu.Unlock()
	return ch, func() {}
}

func (f *fakeBackend) change(st state.Status) {
	f.mu.Lock()
	f.st = st
	subs := f.subs
	f.mu.Unlock()
	for _, ch := range subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

func (f *fakeBackend) Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastMin = minValidity
	if f.tokErr != nil {
		return token.Token{}, f.tokErr
	}
	if profile != "" && profile != "data" {
		return token.Token{}, &config.Error{Message: fmt.Sprintf("unknown profile %q", profile), Hint: "see `broker status`"}
	}
	return token.Token{Value: "eyJ.secret.value", ExpiresOn: time.Unix(1900000000, 0), Account: "alice@contoso.com", Tenant: "t1", Audience: "api://data"}, nil
}

func (f *fakeBackend) SignIn(ctx context.Context, profile string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.signIns++
	return nil
}

func (f *fakeBackend) SignOut(ctx context.Context, profile string) error { return nil }
func (f *fakeBackend) RefreshNow(ctx context.Context, profile string) error {
	return &auth.Error{Class: auth.ClassTemporary, Message: "authority answered 503", RetryAfter: 7 * time.Second}
}
func (f *fakeBackend) Sync(ctx context.Context, profile string) error {
	return errors.New("claude data (/x/.claude.json): disk full")
}
func (f *fakeBackend) CacheChanged() {}
func (f *fakeBackend) Reload(ctx context.Context) error {
	return &config.Error{Path: "/x/config.toml", Line: 3, Col: 1, Message: "unknown key", Hint: "fix the file"}
}

// shortDir returns a short temporary folder: socket paths are limited to
// about 100 bytes.
func shortDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", "la")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(d) })
	return d
}

func serve(t *testing.T, b Backend) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "rt", "broker.sock")
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- NewServer(b, nil).Serve(ctx, l) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	return path
}

func TestClientServer(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{st: state.Status{Daemon: state.Daemon{Running: true, PID: 42}, Profiles: []state.Profile{{Name: "data", State: state.OK}}}}
	path := serve(t, b)
	ctx := t.Context()
	c, err := DialAddress(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	st, err := c.Status(ctx)
	if err != nil || !st.Daemon.Running || st.Daemon.PID != 42 || st.Profiles[0].State != state.OK {
		t.Fatalf("Status = %+v, %v", st, err)
	}
	tok, err := c.Token(ctx, "", 10*time.Minute)
	if err != nil || tok.Value.Reveal() != "eyJ.secret.value" || tok.ExpiresOn.Unix() != 1900000000 || tok.Account != "alice@contoso.com" {
		t.Fatalf("Token = %+v, %v", tok, err)
	}
	if b.lastMin != 10*time.Minute {
		t.Errorf("min validity %v reached the backend", b.lastMin)
	}
	h, err := c.Headers(ctx, "data", DefaultMinValidity)
	if err != nil || strings.TrimSpace(string(h)) != `{"Authorization":"Bearer eyJ.secret.value"}` {
		t.Fatalf("Headers = %s, %v", h, err)
	}
	if err := c.SignIn(ctx, "data"); err != nil || b.signIns != 1 {
		t.Fatalf("SignIn: %v (%d)", err, b.signIns)
	}

	// Errors keep their class across the socket, so exit codes survive.
	_, err = c.Token(ctx, "nope", 0)
	var ce *config.Error
	if !errors.As(err, &ce) || ce.Hint == "" || !strings.Contains(ce.Error(), `unknown profile "nope"`) {
		t.Errorf("unknown profile: %#v", err)
	}
	err = c.RefreshNow(ctx, "data")
	var ae *auth.Error
	if auth.ClassOf(err) != auth.ClassTemporary || !errors.As(err, &ae) || ae.RetryAfter != 7*time.Second {
		t.Errorf("refresh: %#v", err)
	}
	if err := c.Sync(ctx, ""); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Errorf("sync: %v", err)
	}
	var re *config.Error
	if err := c.Reload(ctx); !errors.As(err, &re) || re.Line != 3 || re.HintText() != "fix the file" {
		t.Errorf("reload: %#v", err)
	}
	b.mu.Lock()
	b.tokErr = &auth.Error{Class: auth.ClassSignInRequired, Message: "sign-in required", Hint: "run `broker login`"}
	b.mu.Unlock()
	if _, err := c.Headers(ctx, "", DefaultMinValidity); !errors.Is(err, auth.ErrSignInRequired) {
		t.Errorf("headers when sign-in is required: %#v", err)
	}
	if _, err := c.Token(ctx, "", -time.Second); err == nil {
		// -1s is "not given" for the client, so this must succeed… only
		// when the backend has a token; it has an error now.
		t.Error("token succeeded with the backend failing")
	}
}

func TestEventsStream(t *testing.T) {
	t.Parallel()
	b := &fakeBackend{st: state.Status{Profiles: []state.Profile{{Name: "data", State: state.OK}}}}
	path := serve(t, b)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	c, err := DialAddress(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := c.Events(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st := <-ev; st.Profiles[0].State != state.OK {
		t.Fatalf("first event: %+v", st)
	}
	// Wait until the server has subscribed (it did before sending the first
	// event), then change.
	b.change(state.Status{Profiles: []state.Profile{{Name: "data", State: state.SignInRequired}}})
	select {
	case st := <-ev:
		if st.Profiles[0].State != state.SignInRequired {
			t.Fatalf("second event: %+v", st)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no event after a change")
	}
	cancel()
	for range ev {
	}
}

func TestSocketIsPrivate(t *testing.T) {
	t.Parallel()
	path := serve(t, &fakeBackend{})
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 || fi.Mode()&os.ModeSocket == 0 {
		t.Errorf("socket mode %v, want a 0600 socket", fi.Mode())
	}
	di, err := os.Stat(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if di.Mode().Perm() != 0o700 {
		t.Errorf("folder mode %v, want 0700", di.Mode().Perm())
	}
}

func TestStaleSocketIsReplaced(t *testing.T) {
	t.Parallel()
	path := filepath.Join(shortDir(t), "broker.sock")
	// A daemon killed with SIGKILL leaves its socket behind.
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	l.Close()
	if _, err := DialAddress(t.Context(), path); !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("dial to a stale socket: %v, want ErrNoDaemon", err)
	}
	l2, err := Listen(path, nil)
	if err != nil {
		t.Fatalf("Listen over a stale socket: %v", err)
	}
	l2.Close()
	// A regular file is not removed.
	os.WriteFile(path, []byte("x"), 0o600)
	if _, err := Listen(path, nil); err == nil {
		t.Error("Listen replaced a regular file")
	}
}

func TestDialWithoutDaemon(t *testing.T) {
	t.Parallel()
	_, err := DialAddress(t.Context(), filepath.Join(shortDir(t), "none", "broker.sock"))
	if !errors.Is(err, ErrNoDaemon) {
		t.Fatalf("err = %v, want ErrNoDaemon", err)
	}
}

func BenchmarkDialWithoutDaemon(b *testing.B) {
	path := filepath.Join(b.TempDir(), "broker.sock")
	for b.Loop() {
		if _, err := DialAddress(context.Background(), path); err == nil {
			b.Fatal("dialed")
		}
	}
}

func BenchmarkHeaders(b *testing.B) {
	path := filepath.Join(b.TempDir(), "broker.sock")
	l, err := Listen(path, nil)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go NewServer(&fakeBackend{}, nil).Serve(ctx, l)
	for b.Loop() {
		c, err := DialAddress(ctx, path)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := c.Headers(ctx, "", DefaultMinValidity); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

// serveRaw serves h on a private socket, as a daemon of this user would
// but answering whatever h writes.
func serveRaw(t *testing.T, h http.HandlerFunc) string {
	t.Helper()
	path := filepath.Join(shortDir(t), "rt", "broker.sock")
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return path
}

// Only a checked answer reaches the caller of Headers (and so the fast
// path's stdout): exactly {"Authorization":"Bearer <JWT>"}.
func TestHeadersAnswerIsChecked(t *testing.T) {
	t.Parallel()
	const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJhdWQiOiJhcGk6Ly9kYXRhIn0.c2ln"
	for _, tc := range []struct {
		name, body string
		ok         bool
	}{
		{"the daemon's answer", `{"Authorization":"Bearer ` + jwt + `"}`, true},
		{"an injected header", `{"Authorization":"Bearer ` + jwt + `","X-Injected":"evil"}`, false},
		{"not a JWT", `{"Authorization":"Bearer opaque value"}`, false},
		{"not Bearer", `{"Authorization":"Basic ` + jwt + `"}`, false},
		{"a number", `{"Authorization":1}`, false},
		{"shell text", `$(touch /tmp/x)`, false},
		{"no Authorization", `{"Cookie":"Bearer ` + jwt + `"}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			path := serveRaw(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/v1/headers" {
					io.WriteString(w, tc.body)
					return
				}
				io.WriteString(w, `{"daemon":{"running":true}}`)
			})
			c, err := DialAddress(t.Context(), path)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			b, err := c.Headers(t.Context(), "", DefaultMinValidity)
			if tc.ok {
				if err != nil || string(b) != `{"Authorization":"Bearer `+jwt+`"}`+"\n" {
					t.Fatalf("Headers = %q, %v", b, err)
				}
				return
			}
			if err == nil || b != nil {
				t.Fatalf("Headers passed %q on: %q", tc.body, b)
			}
		})
	}
}

// A daemon that takes the connection and never answers (stopped with
// SIGSTOP, stuck) is given up on: Dial says so, with the pid, and the
// error matches ErrNoDaemon so that the caller does the work itself.
func TestDialGivesUpOnADaemonThatDoesNotAnswer(t *testing.T) {
	t.Parallel()
	path := filepath.Join(shortDir(t), "rt", "broker.sock")
	l, err := Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { c.Close() }) // accepted, never answered
		}
	}()
	state := t.TempDir()
	if err := Publish(state, Record{PID: 4242, Address: path}); err != nil {
		t.Fatal(err)
	}
	r, _ := ReadRecord(state)
	_, err = dialAddress(t.Context(), r.Address, r.PID)
	var na *NotAnsweringError
	if !errors.As(err, &na) || !errors.Is(err, ErrNoDaemon) || !strings.Contains(err.Error(), "(pid 4242) did not answer") {
		t.Fatalf("Dial = %v; want a NotAnsweringError naming pid 4242", err)
	}
	if !strings.Contains(na.HintText(), "kill -CONT 4242") {
		t.Errorf("hint: %s", na.HintText())
	}
}

// The record is never written through a link someone planted, and a
// planted link is not read.
func TestRecordFollowsNoLink(t *testing.T) {
	t.Parallel()
	state := t.TempDir()
	victim := filepath.Join(t.TempDir(), "bashrc")
	if err := os.WriteFile(victim, []byte("# mine\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(victim, filepath.Join(state, RecordFile)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadRecord(state); err == nil {
		t.Error("ReadRecord read through a link")
	}
	rec := Record{PID: 99, Address: "/x/broker.sock"}
	if err := Publish(state, rec); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(victim); string(b) != "# mine\n" {
		t.Errorf("Publish wrote through the link: %q", b)
	}
	if got, err := ReadRecord(state); err != nil || got != rec {
		t.Errorf("ReadRecord = %+v, %v", got, err)
	}
	Unpublish(state, Record{PID: 1, Address: "/other"})
	if _, err := ReadRecord(state); err != nil {
		t.Error("Unpublish removed another daemon's record")
	}
	Unpublish(state, rec)
	if _, err := os.Lstat(filepath.Join(state, RecordFile)); !os.IsNotExist(err) {
		t.Errorf("record still there: %v", err)
	}
}
