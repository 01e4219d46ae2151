package bridge_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
)

// reportMedian reports the median of the per-request durations.
func reportMedian(b *testing.B, d []time.Duration) {
	if len(d) == 0 {
		return
	}
	slices.Sort(d)
	b.ReportMetric(float64(d[len(d)/2].Microseconds()), "µs-median")
}

const benchCall = `{"jsonrpc":"2.0","id":%d,"method":"tools/call","params":{"name":"echo","arguments":{"text":"hello"}}}`

// BenchmarkDirect is one tools/call straight to the simulator's MCP
// endpoint over HTTPS (keep-alive), the baseline of BenchmarkBridge.
func BenchmarkDirect(b *testing.B) {
	sim := startSim(b, false)
	tok := mint(sim, time.Hour)
	hc := sim.HTTPClient()
	post := func(body, session string) (*http.Response, error) {
		req, _ := http.NewRequest(http.MethodPost, sim.MCPURL(), strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		req.Header.Set("Authorization", "Bearer "+tok.Value.Reveal())
		if session != "" {
			req.Header.Set("Mcp-Session-Id", session)
			req.Header.Set("MCP-Protocol-Version", "2025-06-18")
		}
		return hc.Do(req)
	}
	resp, err := post(initLine, "")
	if err != nil {
		b.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	session := resp.Header.Get("Mcp-Session-Id")
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		resp, err := post(fmt.Sprintf(benchCall, i+2), session)
		if err != nil {
			b.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if !bytes.Contains(body, []byte(`"hello"`)) {
			b.Fatalf("answer %s", body)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportMedian(b, durations)
}

// BenchmarkBridge is the same tools/call written to the bridge's stdin and
// read from its stdout (in-process pipes): the difference from
// BenchmarkDirect is the latency the bridge adds.
func BenchmarkBridge(b *testing.B) {
	sim := startSim(b, false)
	src := &source{cur: mint(sim, time.Hour)}
	br, err := bridge.New(bridge.Options{URL: sim.MCPURL(), Tokens: src, HTTPTransport: sim.HTTPClient().Transport})
	if err != nil {
		b.Fatal(err)
	}
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- br.Run(ctx, inR, outW) }()
	sc := bufio.NewScanner(outR)
	sc.Buffer(nil, 1<<20)
	roundTrip := func(line string) []byte {
		if _, err := io.WriteString(inW, line+"\n"); err != nil {
			b.Fatal(err)
		}
		if !sc.Scan() {
			b.Fatal("stdout ended")
		}
		return sc.Bytes()
	}
	roundTrip(initLine)
	io.WriteString(inW, `{"jsonrpc":"2.0","method":"notifications/initialized"}`+"\n")
	durations := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		if out := roundTrip(fmt.Sprintf(benchCall, i+2)); !bytes.Contains(out, []byte(`"hello"`)) {
			b.Fatalf("answer %s", out)
		}
		durations = append(durations, time.Since(start))
	}
	b.StopTimer()
	reportMedian(b, durations)
	inW.Close()
	go io.Copy(io.Discard, outR)
	if err := <-done; err != nil {
		b.Error(err)
	}
}
