package store_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// fakeMSAL stands in for MSAL's in-memory cache: it marshals to JSON and,
// like MSAL, fails to unmarshal anything that is not.
type fakeMSAL struct{ data []byte }

func (f *fakeMSAL) Marshal() ([]byte, error) { return f.data, nil }

func (f *fakeMSAL) Unmarshal(b []byte) error {
	if !json.Valid(b) {
		return errors.New("not JSON")
	}
	f.data = bytes.Clone(b)
	return nil
}

// msalBlob returns a JSON blob shaped like MSAL's cache with a recognisable
// secret in it.
func msalBlob(secret string) []byte {
	b, _ := json.Marshal(map[string]any{
		"RefreshToken": map[string]any{"k": map[string]string{"secret": secret, "credential_type": "RefreshToken"}},
		"AccessToken":  map[string]any{},
	})
	return b
}

func export(t testing.TB, s *store.Store, profile string, blob []byte) {
	t.Helper()
	if err := s.Cache(profile).Export(context.Background(), &fakeMSAL{data: blob}, cacheExportHints); err != nil {
		t.Fatalf("Export(%s): %v", profile, err)
	}
}

func replace(t testing.TB, s *store.Store, profile string) []byte {
	t.Helper()
	var f fakeMSAL
	if err := s.Cache(profile).Replace(context.Background(), &f, cacheReplaceHints); err != nil {
		t.Fatalf("Replace(%s): %v", profile, err)
	}
	return f.data
}

func open(t testing.TB, o store.Options) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), o)
	if err != nil {
		t.Fatalf("Open(%+v): %v", o, err)
	}
	return s
}

// withKeyring starts a private bus with an unlocked gnome-keyring and points
// go-keyring at it. It returns the bus address.
func withKeyring(t *testing.T) string {
	t.Helper()
	addr := desktoptest.SessionBus(t)
	desktoptest.Keyring(t, addr)
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
	t.Setenv("DISPLAY", "")
	return addr
}

// withoutBus makes go-keyring find no session bus at all.
func withoutBus(t *testing.T) {
	t.Helper()
	t.Setenv("DBUS_SESSION_BUS_ADDRESS", "unix:path="+filepath.Join(t.TempDir(), "no-bus"))
	t.Setenv("DISPLAY", "")
}

// memKeyring is an in-memory keyring.
type memKeyring struct {
	mu sync.Mutex
	m  map[string]string
}

func (k *memKeyring) Get(service, user string) (string, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	v, ok := k.m[service+"/"+user]
	if !ok {
		return "", store.ErrNotFound
	}
	return v, nil
}

func (k *memKeyring) Set(service, user, secret string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.m == nil {
		k.m = map[string]string{}
	}
	k.m[service+"/"+user] = secret
	return nil
}

func (k *memKeyring) Delete(service, user string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.m, service+"/"+user)
	return nil
}

// hangingKeyring never answers, like a locked keyring waiting for a prompt.
type hangingKeyring struct{ release chan struct{} }

func newHangingKeyring(t *testing.T) *hangingKeyring {
	k := &hangingKeyring{release: make(chan struct{})}
	t.Cleanup(func() { close(k.release) })
	return k
}

func (k *hangingKeyring) Get(string, string) (string, error) {
	<-k.release
	return "", errors.New("released")
}
func (k *hangingKeyring) Set(string, string, string) error {
	<-k.release
	return errors.New("released")
}
func (k *hangingKeyring) Delete(string, string) error { <-k.release; return errors.New("released") }

// noKeyring fails the test when the store touches the keyring.
type noKeyring struct{ t *testing.T }

func (k noKeyring) Get(string, string) (string, error) {
	k.t.Error("the keyring was used")
	return "", errors.New("no")
}
func (k noKeyring) Set(string, string, string) error {
	k.t.Error("the keyring was used")
	return errors.New("no")
}
func (k noKeyring) Delete(string, string) error {
	k.t.Error("the keyring was used")
	return errors.New("no")
}

func mode(t testing.TB, path string) os.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Mode().Perm()
}

func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// asideFiles returns the set-aside copies of name in dir.
func asideFiles(t testing.TB, dir, name string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, name+".unreadable-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func since(start time.Time) time.Duration { return time.Since(start).Round(time.Millisecond) }
