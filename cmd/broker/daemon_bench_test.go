package main

import (
	"os/exec"
	"slices"
	"testing"
	"time"
)

// BenchmarkHeadersWithDaemon runs `broker headers`, the whole process,
// while the daemon runs, and reports the median (the target is 3 ms).
func BenchmarkHeadersWithDaemon(b *testing.B) {
	w := newDaemonWorld(b, time.Hour, "15m")
	if out, code := w.broker("login"); code != 0 {
		b.Fatalf("login exited %d:\n%s", code, out)
	}
	w.startDaemon()
	var ds []time.Duration
	for b.Loop() {
		cmd := exec.Command(w.bin, "headers")
		cmd.Env = w.env
		start := time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatal(err)
		}
		ds = append(ds, time.Since(start))
	}
	slices.Sort(ds)
	b.ReportMetric(float64(ds[len(ds)/2].Microseconds())/1000, "median-ms")
	b.ReportMetric(float64(ds[len(ds)*9/10].Microseconds())/1000, "p90-ms")
}
