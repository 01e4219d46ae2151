package integrations

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
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
				if _, err := tg[i%2].Apply(ctx, testToken, nil); err != nil {
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
