package store_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
	gokeyring "github.com/zalando/go-keyring"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
)

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// checkSetAside checks that the damaged file was moved aside byte for byte,
// that the store says so, and that it starts empty and works.
func checkSetAside(t *testing.T, s *store.Store, dir, name string, damaged []byte, logs *syncBuffer, reason string) {
	t.Helper()
	if got := replace(t, s, "p"); string(got) != "{}" {
		t.Errorf("after set-aside, profile p = %s, want empty", got)
	}
	aside := asideFiles(t, dir, name)
	if len(aside) != 1 {
		t.Fatalf("set-aside files = %v, want one", aside)
	}
	got, err := os.ReadFile(aside[0])
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, damaged) {
		t.Errorf("the set-aside file is not the damaged file, byte for byte")
	}
	w := s.Warning()
	if !strings.Contains(w, "moved to "+aside[0]) || !strings.Contains(w, "sign in again") || !strings.Contains(w, reason) {
		t.Errorf("Warning = %q; want it to name %s, say %q and ask to sign in again", w, aside[0], reason)
	}
	if logs != nil && !strings.Contains(logs.String(), "token cache set aside") {
		t.Errorf("no log line about the set-aside file; log:\n%s", logs)
	}
	export(t, s, "p", msalBlob("new"))
	if got, _ := os.ReadFile(aside[0]); !bytes.Equal(got, damaged) {
		t.Errorf("the set-aside file changed after a write")
	}
}

func TestUnreadableSealedFileIsSetAside(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(b []byte) []byte
		reason string
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)-5] ^= 0x40; return b }, "damaged"},
		{"truncated", func(b []byte) []byte { return b[:12] }, "truncated"},
		{"foreign", func([]byte) []byte { return []byte("PK\x03\x04 some zip file") }, "not an mcp-token-broker"},
		{"empty", func([]byte) []byte { return nil }, "not an mcp-token-broker"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			kr := &memKeyring{}
			export(t, open(t, store.Options{Dir: dir, Keyring: kr}), "p", msalBlob("old"))
			path := filepath.Join(dir, store.SealedFile)
			b, _ := os.ReadFile(path)
			damaged := tc.damage(b)
			if err := os.WriteFile(path, damaged, 0o600); err != nil {
				t.Fatal(err)
			}
			logs := &syncBuffer{}
			s := open(t, store.Options{Dir: dir, Keyring: kr, Logger: slog.New(slog.NewTextHandler(logs, nil))})
			checkSetAside(t, s, dir, store.SealedFile, damaged, logs, tc.reason)
			if strings.Contains(logs.String(), kr.m[store.KeyringService+"/"+store.KeyringUser]) {
				t.Errorf("the log contains the key")
			}
		})
	}
}

func TestUnreadablePlainFileIsSetAside(t *testing.T) {
	for _, tc := range []struct{ name, content, reason string }{
		{"not json", "{\"format\": \"mcp-token-broker/msal-cache\", \"version\": 1, \"profiles\": {", "not valid JSON"},
		{"foreign json", `{"AccessToken": {}}`, "not an mcp-token-broker"},
		{"bad profile", `{"format":"mcp-token-broker/msal-cache","version":1,"profiles":{"p":42}}`, "damaged"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, store.PlainFile)
			if err := os.WriteFile(path, []byte(tc.content), 0o600); err != nil {
				t.Fatal(err)
			}
			s := open(t, store.Options{Dir: dir, Storage: "file"})
			checkSetAside(t, s, dir, store.PlainFile, []byte(tc.content), nil, tc.reason)
		})
	}
}

func TestDamageFoundByARunningStore(t *testing.T) {
	dir := t.TempDir()
	kr := &memKeyring{}
	s := open(t, store.Options{Dir: dir, Keyring: kr})
	export(t, s, "p", msalBlob("old"))
	damaged := []byte("garbage written by something else")
	if err := os.WriteFile(filepath.Join(dir, store.SealedFile), damaged, 0o600); err != nil {
		t.Fatal(err)
	}
	checkSetAside(t, s, dir, store.SealedFile, damaged, nil, "not an mcp-token-broker")
}

func TestMissingKeySetsTheCacheAside(t *testing.T) {
	withKeyring(t)
	dir := t.TempDir()
	export(t, open(t, store.Options{Dir: dir, Storage: "keyring"}), "p", msalBlob("old"))
	old, _ := os.ReadFile(filepath.Join(dir, store.SealedFile))
	oldKey, _ := gokeyring.Get(store.KeyringService, store.KeyringUser)

	// The keyring was reset: the key is gone, the file is not.
	if err := gokeyring.Delete(store.KeyringService, store.KeyringUser); err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := open(t, store.Options{Dir: dir, Storage: "keyring", Logger: slog.New(slog.NewJSONHandler(logs, nil))})
	if s.Mode() != store.ModeKeyring {
		t.Fatalf("Mode = %q", s.Mode())
	}
	checkSetAside(t, s, dir, store.SealedFile, old, logs, "the keyring has no key for it")
	newKey, err := gokeyring.Get(store.KeyringService, store.KeyringUser)
	if err != nil || newKey == oldKey {
		t.Fatalf("new key: %v (same as the old one: %v)", err, newKey == oldKey)
	}
	if got := replace(t, open(t, store.Options{Dir: dir, Storage: "keyring"}), "p"); !bytes.Equal(got, msalBlob("new")) {
		t.Fatalf("after the reset, profile p = %s", got)
	}
}

func TestKeyReplacedByAnotherProcess(t *testing.T) {
	dir := t.TempDir()
	kr := &memKeyring{}
	s1 := open(t, store.Options{Dir: dir, Keyring: kr})
	export(t, s1, "p1", msalBlob("1"))
	kr.Delete(store.KeyringService, store.KeyringUser)

	s2 := open(t, store.Options{Dir: dir, Keyring: kr}) // sets the file aside, new key
	export(t, s2, "p2", msalBlob("2"))
	// s1 still holds the old key: it must pick up the new one, not set the
	// new file aside.
	export(t, s1, "p3", msalBlob("3"))
	got, err := s2.Profiles(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"p2", "p3"}, got); diff != "" {
		t.Errorf("Profiles (-want +got):\n%s", diff)
	}
	if n := len(asideFiles(t, dir, store.SealedFile)); n != 1 {
		t.Errorf("%d set-aside files, want 1", n)
	}
	if s1.Warning() != "" {
		t.Errorf("s1 warns: %s", s1.Warning())
	}
}

func TestNewerFormatIsRefused(t *testing.T) {
	t.Run("sealed", func(t *testing.T) {
		dir := t.TempDir()
		kr := &memKeyring{}
		export(t, open(t, store.Options{Dir: dir, Keyring: kr}), "p", msalBlob("x"))
		path := filepath.Join(dir, store.SealedFile)
		b, _ := os.ReadFile(path)
		binary.BigEndian.PutUint16(b[8:], 2)
		os.WriteFile(path, b, 0o600)
		checkRefused(t, store.Options{Dir: dir, Keyring: kr}, path, b)
	})
	t.Run("plain", func(t *testing.T) {
		dir := t.TempDir()
		path := filepath.Join(dir, store.PlainFile)
		b := []byte(`{"format":"mcp-token-broker/msal-cache","version":2,"profiles":[{"name":"p","shape":"new"}]}`)
		os.WriteFile(path, b, 0o600)
		checkRefused(t, store.Options{Dir: dir, Storage: "file"}, path, b)
	})
}

func checkRefused(t *testing.T, o store.Options, path string, content []byte) {
	t.Helper()
	_, err := store.Open(context.Background(), o)
	if err == nil || !strings.Contains(err.Error(), "newer version") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Open = %v, want an error about a newer version naming %s", err, path)
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, content) {
		t.Errorf("the newer file was changed")
	}
	if a := asideFiles(t, filepath.Dir(path), filepath.Base(path)); len(a) != 0 {
		t.Errorf("the newer file was set aside: %v", a)
	}
}

// switchKeyring is a keyring that can be made unreachable.
type switchKeyring struct {
	memKeyring
	down bool
}

var errDown = errors.New("org.freedesktop.secrets was not provided by any .service files")

func (k *switchKeyring) Get(s, u string) (string, error) {
	if k.down {
		return "", errDown
	}
	return k.memKeyring.Get(s, u)
}

func (k *switchKeyring) Set(s, u, v string) error {
	if k.down {
		return errDown
	}
	return k.memKeyring.Set(s, u, v)
}

func TestModeChanges(t *testing.T) {
	ctx := context.Background()
	profiles := func(t *testing.T, s *store.Store) []string {
		t.Helper()
		p, err := s.Profiles(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	sealed := func(dir string) string { return filepath.Join(dir, store.SealedFile) }
	plain := func(dir string) string { return filepath.Join(dir, store.PlainFile) }

	t.Run("plain cache sealed when the keyring appears", func(t *testing.T) {
		dir := t.TempDir()
		kr := &switchKeyring{down: true}
		s := open(t, store.Options{Dir: dir, Keyring: kr})
		if s.Mode() != store.ModeFile {
			t.Fatalf("Mode = %q", s.Mode())
		}
		export(t, s, "p", msalBlob("p"))
		kr.down = false
		s = open(t, store.Options{Dir: dir, Keyring: kr})
		if s.Mode() != store.ModeKeyring || s.Warning() != "" {
			t.Fatalf("Mode, Warning = %q, %q", s.Mode(), s.Warning())
		}
		if fileExists(plain(dir)) {
			t.Errorf("the plain file is still there after sealing it")
		}
		if got := replace(t, s, "p"); !bytes.Equal(got, msalBlob("p")) {
			t.Errorf("profile p = %s", got)
		}
	})

	t.Run("auto without keyring keeps the sealed cache", func(t *testing.T) {
		dir := t.TempDir()
		kr := &switchKeyring{}
		s := open(t, store.Options{Dir: dir, Keyring: kr})
		export(t, s, "p", msalBlob("p"))
		export(t, s, "r", msalBlob("r"))
		before, _ := os.ReadFile(sealed(dir))

		kr.down = true
		s = open(t, store.Options{Dir: dir, Keyring: kr})
		if s.Mode() != store.ModeFile || !strings.Contains(s.Warning(), "is left as it is") {
			t.Fatalf("Mode, Warning = %q, %q", s.Mode(), s.Warning())
		}
		if after, _ := os.ReadFile(sealed(dir)); !bytes.Equal(before, after) {
			t.Fatalf("the sealed cache changed while the keyring was away")
		}
		export(t, s, "q", msalBlob("q"))
		export(t, s, "r", msalBlob("r2"))
		if err := s.Forget(ctx, "p"); err != nil { // logout while the keyring is away
			t.Fatal(err)
		}

		kr.down = false
		s = open(t, store.Options{Dir: dir, Keyring: kr})
		if s.Mode() != store.ModeKeyring {
			t.Fatalf("Mode = %q", s.Mode())
		}
		if diff := cmp.Diff([]string{"q", "r"}, profiles(t, s)); diff != "" {
			t.Errorf("Profiles after merging (-want +got):\n%s", diff)
		}
		if got := replace(t, s, "r"); !bytes.Equal(got, msalBlob("r2")) {
			t.Errorf("profile r = %s, want the newer r2", got)
		}
		if fileExists(plain(dir)) {
			t.Errorf("the plain file is still there")
		}
	})

	t.Run("storage file decrypts the sealed cache", func(t *testing.T) {
		dir := t.TempDir()
		kr := &switchKeyring{}
		export(t, open(t, store.Options{Dir: dir, Keyring: kr}), "p", msalBlob("p"))
		s := open(t, store.Options{Dir: dir, Storage: "file", Keyring: kr})
		if s.Mode() != store.ModeFile || s.Warning() != "" {
			t.Fatalf("Mode, Warning = %q, %q", s.Mode(), s.Warning())
		}
		if fileExists(sealed(dir)) {
			t.Errorf("the sealed file is still there")
		}
		if got := replace(t, s, "p"); !bytes.Equal(got, msalBlob("p")) {
			t.Errorf("profile p = %s", got)
		}
	})

	t.Run("storage file without keyring leaves the sealed cache", func(t *testing.T) {
		dir := t.TempDir()
		kr := &switchKeyring{}
		export(t, open(t, store.Options{Dir: dir, Keyring: kr}), "p", msalBlob("p"))
		before, _ := os.ReadFile(sealed(dir))
		kr.down = true
		s := open(t, store.Options{Dir: dir, Storage: "file", Keyring: kr})
		if s.Mode() != store.ModeFile || !strings.Contains(s.Warning(), "is not used with storage \"file\"") {
			t.Fatalf("Mode, Warning = %q, %q", s.Mode(), s.Warning())
		}
		if after, _ := os.ReadFile(sealed(dir)); !bytes.Equal(before, after) {
			t.Fatalf("the sealed cache changed")
		}
	})
}
