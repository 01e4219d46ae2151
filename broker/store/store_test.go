package store_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/google/go-cmp/cmp"
	gokeyring "github.com/zalando/go-keyring"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

var (
	cacheExportHints  = cache.ExportHints{}
	cacheReplaceHints = cache.ReplaceHints{}
)

func TestKeyringRoundTrip(t *testing.T) {
	withKeyring(t)
	dir := filepath.Join(t.TempDir(), "state")

	s := open(t, store.Options{Dir: dir})
	if s.Mode() != store.ModeKeyring || s.Warning() != "" {
		t.Fatalf("Mode, Warning = %q, %q; want keyring and no warning", s.Mode(), s.Warning())
	}
	blob := msalBlob("refresh-token-SECRET-1")
	export(t, s, "p", blob)

	// A new Store (what the next process does) reads it back.
	if got := replace(t, open(t, store.Options{Dir: dir, Storage: "keyring"}), "p"); !bytes.Equal(got, blob) {
		t.Fatalf("Replace = %s, want %s", got, blob)
	}

	sealed := filepath.Join(dir, store.SealedFile)
	if m := mode(t, sealed); m != 0o600 {
		t.Errorf("%s mode = %o, want 600", store.SealedFile, m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("state folder mode = %o, want 700", m)
	}
	if fileExists(filepath.Join(dir, store.PlainFile)) {
		t.Errorf("a plain cache file exists in keyring mode")
	}
	raw, err := os.ReadFile(sealed)
	if err != nil {
		t.Fatal(err)
	}
	encKey, err := gokeyring.Get(store.KeyringService, store.KeyringUser)
	if err != nil {
		t.Fatalf("the key is not in the keyring: %v", err)
	}
	key, _ := base64.StdEncoding.DecodeString(encKey)
	if len(key) != 32 {
		t.Fatalf("key is %d bytes, want 32", len(key))
	}
	for what, b := range map[string][]byte{"key": key, "base64 key": []byte(encKey), "token": []byte("refresh-token-SECRET-1"), "profile name": []byte(`"p"`)} {
		if bytes.Contains(raw, b) {
			t.Errorf("the encrypted file contains the %s", what)
		}
	}
	// A nonce per write: the same content never gives the same bytes.
	export(t, s, "p", blob)
	raw2, _ := os.ReadFile(sealed)
	if bytes.Equal(raw, raw2) {
		t.Errorf("two writes of the same cache gave identical files: nonce reused")
	}
}

func TestFileRoundTrip(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "state")
	s := open(t, store.Options{Dir: dir, Storage: "file", Keyring: noKeyring{t}})
	if s.Mode() != store.ModeFile || s.Warning() != "" {
		t.Fatalf("Mode, Warning = %q, %q; want file and no warning", s.Mode(), s.Warning())
	}
	blob := msalBlob("rt-file")
	export(t, s, "p", blob)
	if got := replace(t, open(t, store.Options{Dir: dir, Storage: "file", Keyring: noKeyring{t}}), "p"); !bytes.Equal(got, blob) {
		t.Fatalf("Replace = %s, want %s", got, blob)
	}
	plain := filepath.Join(dir, store.PlainFile)
	if m := mode(t, plain); m != 0o600 {
		t.Errorf("%s mode = %o, want 600", store.PlainFile, m)
	}
	if m := mode(t, dir); m != 0o700 {
		t.Errorf("state folder mode = %o, want 700", m)
	}
	if fileExists(filepath.Join(dir, store.SealedFile)) {
		t.Errorf("an encrypted cache file exists in file mode")
	}
	// No temporary files left behind.
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".tmp") {
			t.Errorf("temporary file left: %s", e.Name())
		}
	}
}

func TestProfilesSideBySide(t *testing.T) {
	dir := t.TempDir()
	s := open(t, store.Options{Dir: dir, Keyring: &memKeyring{}})
	a, b := msalBlob("token-a"), msalBlob("token-b")
	export(t, s, "a", a)
	export(t, s, "b", b)
	if got := replace(t, s, "a"); !bytes.Equal(got, a) {
		t.Errorf("profile a = %s, want %s", got, a)
	}
	if got := replace(t, s, "b"); !bytes.Equal(got, b) {
		t.Errorf("profile b = %s, want %s", got, b)
	}
	ctx := context.Background()
	got, err := s.Profiles(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"a", "b"}, got); diff != "" {
		t.Errorf("Profiles (-want +got):\n%s", diff)
	}

	if err := s.Forget(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	got, _ = s.Profiles(ctx)
	if diff := cmp.Diff([]string{"b"}, got); diff != "" {
		t.Errorf("Profiles after Forget(a) (-want +got):\n%s", diff)
	}
	// A forgotten profile replaces MSAL's memory with an empty cache, so a
	// process that still held its tokens drops them.
	held := &fakeMSAL{data: a}
	if err := s.Cache("a").Replace(ctx, held, cacheReplaceHints); err != nil {
		t.Fatal(err)
	}
	if string(held.data) != "{}" {
		t.Errorf("Replace of a forgotten profile = %s, want {}", held.data)
	}
	if got := replace(t, s, "b"); !bytes.Equal(got, b) {
		t.Errorf("profile b after Forget(a) = %s, want %s", got, b)
	}

	// MSAL exports an empty cache when its last account is removed: the
	// profile then has no data.
	export(t, s, "b", []byte(`{"AccessToken":{},"RefreshToken":{},"IdToken":{},"Account":{},"AppMetadata":{"appmetadata-login.microsoftonline.com-c":{"client_id":"c","environment":"login.microsoftonline.com"}}}`))
	got, _ = s.Profiles(ctx)
	if len(got) != 0 {
		t.Errorf("Profiles after an empty export = %v, want none", got)
	}
}

func TestStoreSeesOtherStoresWrites(t *testing.T) {
	// Two Stores on one folder behave like two processes (each has its own
	// lock handle): each Replace reads the file fresh.
	dir := t.TempDir()
	kr := &memKeyring{}
	s1 := open(t, store.Options{Dir: dir, Keyring: kr})
	s2 := open(t, store.Options{Dir: dir, Keyring: kr})
	if got := replace(t, s2, "p"); string(got) != "{}" {
		t.Fatalf("before sign-in: %s", got)
	}
	blob := msalBlob("signed-in-by-s1")
	export(t, s1, "p", blob)
	if got := replace(t, s2, "p"); !bytes.Equal(got, blob) {
		t.Fatalf("s2 sees %s, want s1's %s", got, blob)
	}
	blob2 := msalBlob("rotated-by-s2")
	export(t, s2, "p", blob2)
	if got := replace(t, s1, "p"); !bytes.Equal(got, blob2) {
		t.Fatalf("s1 sees %s, want s2's %s", got, blob2)
	}
}

func TestAutoWithoutSecretService(t *testing.T) {
	for _, tc := range []struct {
		name  string
		setup func(t *testing.T)
	}{
		{"bus without keyring", func(t *testing.T) {
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", desktoptest.SessionBus(t))
			t.Setenv("DISPLAY", "")
		}},
		{"locked keyring", func(t *testing.T) {
			addr := desktoptest.SessionBus(t)
			desktoptest.LockedKeyring(t, addr)
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
			t.Setenv("DISPLAY", "")
		}},
		{"no bus", withoutBus},
		{"no bus address", func(t *testing.T) {
			// go-keyring then looks for $XDG_RUNTIME_DIR/bus and tries
			// dbus-launch --autolaunch, which needs an X display.
			t.Setenv("DBUS_SESSION_BUS_ADDRESS", "")
			t.Setenv("XDG_RUNTIME_DIR", t.TempDir())
			t.Setenv("DISPLAY", "")
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.setup(t)
			dir := t.TempDir()
			start := time.Now()
			s := open(t, store.Options{Dir: dir, Storage: "auto"})
			t.Logf("Open took %v; warning: %s", since(start), s.Warning())
			if s.Mode() != store.ModeFile {
				t.Fatalf("Mode = %q, want file", s.Mode())
			}
			if w := s.Warning(); !strings.Contains(w, "no usable keyring") || !strings.Contains(w, store.PlainFile) {
				t.Errorf("Warning = %q, want it to say there is no usable keyring and name the plain file", w)
			}
			blob := msalBlob("fallback")
			export(t, s, "p", blob)
			if m := mode(t, filepath.Join(dir, store.PlainFile)); m != 0o600 {
				t.Errorf("plain file mode = %o, want 600", m)
			}
			if got := replace(t, s, "p"); !bytes.Equal(got, blob) {
				t.Errorf("Replace = %s", got)
			}

			_, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), Storage: "keyring"})
			if err == nil || !strings.Contains(err.Error(), "no usable keyring") {
				t.Errorf("storage=keyring without a keyring: err = %v, want \"no usable keyring\"", err)
			}
		})
	}
}

func TestHangingKeyring(t *testing.T) {
	const timeout = 200 * time.Millisecond
	t.Run("bounded", func(t *testing.T) {
		k := store.BoundedKeyring(newHangingKeyring(t), timeout)
		start := time.Now()
		_, err := k.Get("s", "u")
		if !errors.Is(err, store.ErrKeyringTimeout) || !strings.Contains(err.Error(), "keyring did not answer within 200ms") {
			t.Fatalf("Get = %v, want a timeout saying \"keyring did not answer within 200ms\"", err)
		}
		// The first call is still stuck: the next one waits for it at
		// most the timeout, and says so.
		err = k.Set("s", "u", "v")
		if !errors.Is(err, store.ErrKeyringTimeout) || !strings.Contains(err.Error(), "earlier request") {
			t.Fatalf("Set while stuck = %v", err)
		}
		if d := since(start); d > 5*time.Second {
			t.Fatalf("two bounded calls took %v", d)
		}
	})
	t.Run("storage keyring", func(t *testing.T) {
		_, err := store.Open(context.Background(), store.Options{Dir: t.TempDir(), Storage: "keyring", Keyring: newHangingKeyring(t), KeyringTimeout: timeout})
		if !errors.Is(err, store.ErrKeyringTimeout) || !strings.Contains(err.Error(), "no usable keyring") {
			t.Fatalf("Open = %v, want no usable keyring / did not answer", err)
		}
	})
	t.Run("storage auto", func(t *testing.T) {
		s := open(t, store.Options{Dir: t.TempDir(), Keyring: newHangingKeyring(t), KeyringTimeout: timeout})
		if s.Mode() != store.ModeFile || !strings.Contains(s.Warning(), "did not answer within 200ms") {
			t.Fatalf("Mode, Warning = %q, %q", s.Mode(), s.Warning())
		}
	})
	t.Run("system keyring default timeout", func(t *testing.T) {
		k := store.BoundedKeyring(newHangingKeyring(t), 0)
		start := time.Now()
		_, err := k.Get("s", "u")
		if !strings.Contains(fmtErr(err), "within 3s") {
			t.Fatalf("Get = %v, want the default 3s", err)
		}
		t.Logf("gave up after %v", since(start))
	})
}

func fmtErr(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}

func TestPrintingTheStoreHidesTheKey(t *testing.T) {
	kr := &memKeyring{}
	s := open(t, store.Options{Dir: t.TempDir(), Keyring: kr})
	encKey := kr.m[store.KeyringService+"/"+store.KeyringUser]
	key, _ := base64.StdEncoding.DecodeString(encKey)
	var logs syncBuffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("store", "s", s)
	for _, out := range []string{fmt.Sprintf("%v %+v %#v %s", s, s, s, s), logs.String()} {
		if strings.Contains(out, encKey) || strings.Contains(out, fmt.Sprint(key)) || strings.Contains(out, fmt.Sprintf("%x", key)) || strings.Contains(out, string(key)) {
			t.Errorf("printing the store shows the key: %s", out)
		}
	}
}
