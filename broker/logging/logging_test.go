package logging

import (
	"bytes"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// A JWT-shaped string as Entra issues them (header.claims.signature).
const jwt = "eyJhbGciOiJSUzI1NiIsInR5cCI6IkpXVCJ9.eyJhdWQiOiJhcGk6Ly9kYXRhIiwiZXhwIjoxNzAwMDAwMDAwfQ.c2lnbmF0dXJlLXNpZ25hdHVyZS1zaWduYXR1cmU"

type holder struct {
	Name string
	Tok  token.Secret
	Raw  string
}

func TestGuardRedactsEverywhere(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "sub", "broker.log")
	l, err := Open(Options{Path: path, Level: "debug"})
	if err != nil {
		t.Fatal(err)
	}
	log := l.Logger.With("bound", "Bearer "+jwt)
	log.Info("got "+jwt,
		"plain", jwt,
		"secret", token.Secret(jwt),
		"err", fmt.Errorf("posting: %w", errors.New("bad token "+jwt)),
		"struct", holder{Name: "x", Tok: token.Secret(jwt), Raw: jwt},
		slog.Group("g", "inner", "Bearer "+jwt),
		"header.claims", "x",
	)
	log.WithGroup("grp").Debug("debug line", "v", []string{jwt})
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, "eyJ") || strings.Contains(out, "c2lnbmF0dXJl") {
		t.Fatalf("token in the log:\n%s", out)
	}
	if got := strings.Count(out, token.Redacted); got < 8 {
		t.Errorf("REDACTED %d times, want at least 8:\n%s", got, out)
	}
	if !strings.Contains(out, "debug line") || !strings.Contains(out, `name=x`) && !strings.Contains(out, "Name:x") {
		t.Errorf("lines lost:\n%s", out)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v, want 0600", fi.Mode().Perm())
	}
}

func TestRedactLeavesOrdinaryText(t *testing.T) {
	t.Parallel()
	for _, s := range []string{
		"refreshed profile data, expires 2026-11-25T10:00:00Z",
		"https://login.microsoftonline.com/contoso.onmicrosoft.com/oauth2/v2.0/token",
		"api://data/.default",
		"v1.10.1",
		"/home/u/.claude.json",
	} {
		if got := Redact(s); got != s {
			t.Errorf("Redact(%q) = %q", s, got)
		}
	}
	if got := Redact("a " + jwt + " b"); got != "a REDACTED b" {
		t.Errorf("Redact = %q", got)
	}
}

func TestLevel(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "broker.log")
	l, err := Open(Options{Path: path, Level: "warn"})
	if err != nil {
		t.Fatal(err)
	}
	l.Logger.Info("hidden")
	if err := l.SetLevel("debug"); err != nil {
		t.Fatal(err)
	}
	l.Logger.Debug("shown")
	l.Close()
	b, _ := os.ReadFile(path)
	if strings.Contains(string(b), "hidden") || !strings.Contains(string(b), "shown") {
		t.Fatalf("level not honoured:\n%s", b)
	}
	if _, err := ParseLevel("loud"); err == nil {
		t.Error("ParseLevel(loud) succeeded")
	}
}

// The daemon's log rotates when it grows past its limit; a log opened with
// NoRotate (a bridge's) only appends, so that several processes sharing the
// file never rename it under each other.
func TestRotationOnlyInTheRotatingProcess(t *testing.T) {
	t.Parallel()
	for _, noRotate := range []bool{false, true} {
		dir := t.TempDir()
		path := filepath.Join(dir, "broker.log")
		big := bytes.Repeat([]byte("x"), maxSizeMB*1024*1024+1)
		if err := os.WriteFile(path, big, 0o600); err != nil {
			t.Fatal(err)
		}
		l, err := Open(Options{Path: path, NoRotate: noRotate})
		if err != nil {
			t.Fatal(err)
		}
		l.Logger.Info("after the limit")
		l.Close()
		entries, _ := os.ReadDir(dir)
		data, _ := os.ReadFile(path)
		appended := bytes.HasPrefix(data, big) && bytes.Contains(data, []byte("after the limit"))
		switch {
		case noRotate && (len(entries) != 1 || !appended):
			t.Errorf("NoRotate: %d files, appended %v; want the one file, appended", len(entries), appended)
		case !noRotate && (len(entries) != 2 || bytes.Contains(data, big[:1024]) || !bytes.Contains(data, []byte("after the limit"))):
			t.Errorf("rotating: %d files; want the new log and one rotated copy", len(entries))
		}
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("log mode: %v, %v", fi, err)
		}
	}
}
