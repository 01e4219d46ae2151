//go:build linux

package main

import (
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
)

const tProxy = "The loopback proxy (`--mode proxy`)"

// proxyGoBench runs broker/proxy's Go benchmarks: the latency the proxy
// adds to a request over loopback (against the same request sent to the
// server directly, in the same run), the memory of ten proxied servers
// with an open event stream each, and the heap while a 2 MB and a 64 MB
// event stream pass through.
func (r *run) proxyGoBench() {
	step("go test -bench ./broker/proxy")
	cmd := exec.Command("go", "test", "-run", "^$", "-bench", "^BenchmarkAddedLatency$", "-benchtime", "2000x", "-count", "1", "./broker/proxy")
	cmd.Dir = r.o.repo
	lat, err := cmd.CombinedOutput()
	if err != nil {
		r.fail(8, tProxy, "go test -bench AddedLatency ./broker/proxy", fmt.Errorf("%v: %s", err, lat))
		return
	}
	cmd = exec.Command("go", "test", "-run", "^$", "-bench", "^Benchmark(TenStreams|LargeResponse)$", "-benchtime", "3x", "-count", "1", "./broker/proxy")
	cmd.Dir = r.o.repo
	mem, err := cmd.CombinedOutput()
	if err != nil {
		r.fail(8, tProxy, "go test -bench TenStreams|LargeResponse ./broker/proxy", fmt.Errorf("%v: %s", err, mem))
		return
	}
	metric := func(out []byte, bench, unit string) (float64, bool) {
		re := regexp.MustCompile(`(?m)^Benchmark` + bench + `\S*\s+\d+\s+.*?(-?[\d.]+) ` + regexp.QuoteMeta(unit))
		m := re.FindSubmatch(out)
		if m == nil {
			return 0, false
		}
		v, err := strconv.ParseFloat(string(m[1]), 64)
		return v, err == nil
	}
	direct, ok1 := metric(lat, "AddedLatency", "direct-ms")
	proxied, ok2 := metric(lat, "AddedLatency", "proxied-ms")
	added, ok3 := metric(lat, "AddedLatency", "added-ms")
	streams, ok4 := metric(mem, "TenStreams", "MB-for-10-streams")
	small, ok5 := metric(mem, "LargeResponse/2MB", "peak-heap-MB")
	large, ok6 := metric(mem, "LargeResponse/64MB", "peak-heap-MB")
	if !ok1 || !ok2 || !ok3 || !ok4 || !ok5 || !ok6 {
		r.fail(8, tProxy, "go test -bench ./broker/proxy", fmt.Errorf("metrics missing in:\n%s\n%s", lat, mem))
		return
	}
	r.add(8, tProxy, row{what: "added per request over loopback: median through the proxy − median direct (2000 JSON-RPC requests each, interleaved, keep-alive)",
		value: fmt.Sprintf("%.3f ms − %.3f ms = %.3f ms", proxied, direct, added), target: "≤ 0.3 ms median", verdict: verdict(added, 0.3)})
	r.add(8, tProxy, row{what: "ten proxied servers with an open GET event stream each, Go heap + stacks above the same proxy with none open",
		value: fmt.Sprintf("%.2f MB", streams), target: "≤ 5 MB", verdict: verdict(streams, 5)})
	if r.mcpRemoteRSS > 0 {
		r.add(8, tProxy, row{what: "ten `mcp-remote` processes instead (10 × the row in section 2)",
			value: fmt.Sprintf("%.0f MB", 10*float64(r.mcpRemoteRSS)/(1<<20)), target: "(comparison)", verdict: "—"})
	}
	r.add(8, tProxy, row{what: "Go heap rise while an event-stream answer passes through: 2 MB; 64 MB",
		value: fmt.Sprintf("%.2f MB; %.2f MB", small, large), target: "does not grow with the answer", verdict: verdict(large, small+1)})
	r.note(8, "Rows from broker/proxy's BenchmarkAddedLatency, BenchmarkTenStreams and BenchmarkLargeResponse, run with `go test -bench`: the proxy, the servers (net/http/httptest over loopback) and the clients share one process, so the memory rows include the clients' and the servers' side of each stream too (an upper bound for the proxy's share). The proxy runs in the daemon: one more port, no process per server.")
}
