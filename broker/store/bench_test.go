package store_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// What `broker token` pays for the cache: Open (a keyring call in keyring
// mode) and one Replace, with a realistic cache (several profiles of ~6 KB).
func BenchmarkOpenAndReplace(b *testing.B) {
	blob := msalBlob(strings.Repeat("x", 6000))
	b.Run("file", func(b *testing.B) {
		dir := b.TempDir()
		s := open(b, store.Options{Dir: dir, Storage: "file"})
		for i := range 4 {
			export(b, s, fmt.Sprint("p", i), blob)
		}
		for b.Loop() {
			replace(b, open(b, store.Options{Dir: dir, Storage: "file"}), "p0")
		}
	})
	b.Run("gnome-keyring", func(b *testing.B) {
		addr := desktoptest.SessionBus(b)
		desktoptest.Keyring(b, addr)
		b.Setenv("DBUS_SESSION_BUS_ADDRESS", addr)
		b.Setenv("DISPLAY", "")
		dir := b.TempDir()
		s := open(b, store.Options{Dir: dir, Storage: "keyring"})
		for i := range 4 {
			export(b, s, fmt.Sprint("p", i), blob)
		}
		for b.Loop() {
			replace(b, open(b, store.Options{Dir: dir, Storage: "keyring"}), "p0")
		}
	})
}

func BenchmarkExport(b *testing.B) {
	blob := msalBlob(strings.Repeat("x", 6000))
	s := open(b, store.Options{Dir: b.TempDir(), Keyring: &memKeyring{}})
	for i := range 4 {
		export(b, s, fmt.Sprint("p", i), blob)
	}
	c := s.Cache("p0")
	for b.Loop() {
		if err := c.Export(context.Background(), &fakeMSAL{data: blob}, cacheExportHints); err != nil {
			b.Fatal(err)
		}
	}
}
