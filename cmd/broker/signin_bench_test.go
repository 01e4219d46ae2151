package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// BenchmarkTokenFromCache runs the real `broker token` from the persistent
// cache (no daemon), whole process, and reports the median wall time.
// Run with at least 30 runs:
//
//	go test ./cmd/broker -run '^$' -bench TokenFromCache -benchtime 31x
func BenchmarkTokenFromCache(b *testing.B) {
	b.Run("file", func(b *testing.B) { benchToken(b, "") })
	b.Run("keyring", func(b *testing.B) {
		bus := desktoptest.SessionBus(b)
		desktoptest.Keyring(b, bus)
		benchToken(b, bus)
	})
}

func benchToken(b *testing.B, bus string) {
	bin := buildBroker(b)
	s, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	work := b.TempDir()
	home := filepath.Join(work, "home")
	ca := filepath.Join(work, "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		b.Fatal(err)
	}
	if err := writeSimConfig(s, home, "data"); err != nil {
		b.Fatal(err)
	}
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "XDG_RUNTIME_DIR=" + filepath.Join(work, "run"),
		"SSL_CERT_FILE=" + ca, "BROKER_ADMIN_CONFIG=" + filepath.Join(work, "none.toml"),
		"BROWSER=browse", "DBUS_SESSION_BUS_ADDRESS=" + bus,
	}
	if bus == "" {
		// A bus that does not exist: the file fallback, never an
		// autolaunched bus.
		env[len(env)-1] = "DBUS_SESSION_BUS_ADDRESS=unix:path=" + filepath.Join(work, "no-bus")
	}
	run := func(args ...string) []byte {
		cmd := exec.Command(bin, args...)
		cmd.Env = env
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			b.Fatalf("broker %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
		}
		return out
	}
	run("login")
	if st := string(run("status", "--json")); bus != "" && !strings.Contains(st, `"storage": "keyring"`) {
		b.Fatalf("not on the keyring: %s", st)
	}
	s.ResetLog()
	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for range b.N {
		start := time.Now()
		run("token")
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	if n := len(s.Requests()); n != 0 {
		b.Fatalf("token from the cache made %d requests to the authority", n)
	}
	slices.Sort(times)
	b.ReportMetric(float64(times[len(times)/2].Microseconds())/1000, "median-ms")
}
