package integrations

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// copyFloor is the unavoidable cost of an atomic rewrite: read the file,
// write a temporary file beside it, fsync, rename.
func copyFloor(b *testing.B, path string) {
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	tmp := path + ".floor"
	f, err := os.Create(tmp)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		b.Fatal(err)
	}
	if err := f.Sync(); err != nil {
		b.Fatal(err)
	}
	f.Close()
	if err := os.Rename(tmp, path); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkRewriteClaudeJSON rewrites the managed value in a
// ~/.claude.json-shaped file of 1, 10 and 50 MB, beside the copy floor
// measured the same way. peak-MB is the largest heap in use during a
// rewrite (sampled after it, with the garbage collector's own peak).
func BenchmarkRewriteClaudeJSON(b *testing.B) {
	for _, mb := range []int{1, 10, 50} {
		dir := b.TempDir()
		path := filepath.Join(dir, ".claude.json")
		if err := os.WriteFile(path, claudeJSON(mb<<20), 0o600); err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("floor/%dMB", mb), func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(mb << 20))
			for b.Loop() {
				copyFloor(b, path)
			}
		})
		b.Run(fmt.Sprintf("broker/%dMB", mb), func(b *testing.B) {
			tg := helperTargets(b, path)
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(mb << 20))
			var peak uint64
			var ms runtime.MemStats
			i := 0
			for b.Loop() {
				if err := tg[i%2].Apply(ctx, testToken); err != nil {
					b.Fatal(err)
				}
				i++
				runtime.ReadMemStats(&ms)
				if ms.HeapInuse > peak {
					peak = ms.HeapInuse
				}
			}
			b.ReportMetric(float64(peak)/(1<<20), "peak-MB")
		})
	}
}

// BenchmarkApplyAll50 writes a new token to 50 targets (10 of each of five
// clients, each in its own file with other servers around).
func BenchmarkApplyAll50(b *testing.B) {
	home := b.TempDir()
	env := Env{Home: home, GOOS: "linux", BrokerPath: "/usr/local/bin/broker"}
	var targets []*Target
	clients := []string{"vscode", "copilot", "gemini", "cursor", "windsurf"}
	for i := 0; i < 50; i++ {
		c := clients[i%len(clients)]
		p := filepath.Join(home, fmt.Sprintf("t%02d", i), "mcp.json")
		os.MkdirAll(filepath.Dir(p), 0o700)
		os.WriteFile(p, []byte("{\n  // user's file\n  \"servers\": {},\n  \"mcpServers\": {\n    \"other\": {\"command\": \"x\"}\n  }\n}\n"), 0o600)
		tg, err := New(config.Target{Client: c, Server: "api", URL: "https://apim.contoso.com/mcp", Path: p, Mode: "header"}, env)
		if err != nil {
			b.Fatal(err)
		}
		targets = append(targets, tg)
	}
	ctx := context.Background()
	tok := testToken
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		tok.Value = testToken.Value + token.Secret("-"+fmt.Sprint(i)) // a new token each time
		for _, err := range ApplyAll(ctx, targets, tok) {
			if err != nil {
				b.Fatal(err)
			}
		}
	}
}
