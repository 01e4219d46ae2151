package proxy_test

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"runtime/metrics"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
)

// pingServer answers every POST with a small JSON-RPC result.
var pingServer = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"jsonrpc":"2.0","id":1,"result":{}}`)
})

// BenchmarkAddedLatency measures what the proxy adds to one request over
// loopback: each iteration sends the same JSON-RPC request once to the
// server directly and once through the proxy (keep-alive connections
// both), and the medians are reported; added-ms is the difference.
func BenchmarkAddedLatency(b *testing.B) {
	h := newHarness(b, pingServer, func(string) bool { return true })
	direct := &http.Client{Transport: headerTransport{"Authorization": "Bearer tok1"}}
	proxied := h.client()
	body := `{"jsonrpc":"2.0","id":1,"method":"ping"}`
	call := func(c *http.Client, url string) time.Duration {
		start := time.Now()
		req, _ := http.NewRequest(http.MethodPost, url, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := c.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
		return time.Since(start)
	}
	call(direct, h.up.srv.URL+"/mcp")
	call(proxied, h.url)
	var d, p []time.Duration
	for b.Loop() {
		d = append(d, call(direct, h.up.srv.URL+"/mcp"))
		p = append(p, call(proxied, h.url))
	}
	md, mp := median(d), median(p)
	b.ReportMetric(float64(md.Microseconds())/1000, "direct-ms")
	b.ReportMetric(float64(mp.Microseconds())/1000, "proxied-ms")
	b.ReportMetric(float64((mp-md).Microseconds())/1000, "added-ms")
}

func median(ds []time.Duration) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// liveBytes is the heap in use plus goroutine stacks, after a collection.
func liveBytes() uint64 {
	runtime.GC()
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}, {Name: "/memory/classes/heap/stacks:bytes"}}
	metrics.Read(s)
	return s[0].Value.Uint64() + s[1].Value.Uint64()
}

// BenchmarkTenStreams measures the memory that ten proxied servers with
// an open GET event stream each cost, against the same proxy with the
// ten servers configured and no stream: the Go heap and stacks of the
// whole process, which also holds the ten clients and the server side of
// each stream, so the proxy's own share is smaller than reported.
func BenchmarkTenStreams(b *testing.B) {
	var open atomic.Int32
	stream := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, ": open\n\n")
		w.(http.Flusher).Flush()
		open.Add(1)
		<-r.Context().Done()
		open.Add(-1)
	})
	up := newUpstream(b, stream, func(string) bool { return true })
	creds := proxy.NewCredentials(b.TempDir())
	px := proxy.New(proxy.Options{Tokens: &tokens{}, Credentials: creds})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go px.Run(ctx)
	var targets []config.Target
	for i := range 10 {
		targets = append(targets, config.Target{Profile: "data", Client: "copilot", Server: fmt.Sprint("s", i), URL: up.srv.URL + "/mcp", Mode: "proxy"})
	}
	px.Configure(0, targets)
	for b.Loop() {
		before := liveBytes()
		sctx, stop := context.WithCancel(ctx)
		var wg sync.WaitGroup
		for _, t := range targets {
			cred, _ := creds.Ensure(proxy.ID(t))
			req, _ := http.NewRequestWithContext(sctx, http.MethodGet, "http://"+px.Addr()+"/"+proxy.ID(t), nil)
			req.Header.Set("Accept", "text/event-stream")
			req.Header.Set("Authorization", "Bearer "+cred)
			resp, err := (&http.Client{Transport: &http.Transport{}}).Do(req)
			if err != nil {
				b.Fatal(err)
			}
			line, _ := bufio.NewReader(resp.Body).ReadString('\n')
			if line != ": open\n" {
				b.Fatalf("stream %s: %q", t.Server, line)
			}
			wg.Add(1)
			go func() { defer wg.Done(); io.Copy(io.Discard, resp.Body); resp.Body.Close() }()
		}
		for open.Load() != 10 {
			time.Sleep(time.Millisecond)
		}
		after := liveBytes()
		b.ReportMetric(float64(int64(after)-int64(before))/(1<<20), "MB-for-10-streams")
		stop()
		wg.Wait()
	}
}

// BenchmarkLargeResponse streams one event-stream answer of 2 MB and one
// of 64 MB through the proxy and reports how far the Go heap (objects,
// sampled every millisecond) rose above its level before: the same for
// both sizes when nothing buffers the answer (the client here counts
// too: it reads into a small buffer).
func BenchmarkLargeResponse(b *testing.B) {
	for _, size := range []int{2 << 20, 64 << 20} {
		b.Run(fmt.Sprintf("%dMB", size>>20), func(b *testing.B) {
			open := make(chan struct{})
			close(open)
			h := newHarness(b, streamingServer(size, open), func(string) bool { return true })
			for b.Loop() {
				runtime.GC()
				s0 := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
				metrics.Read(s0)
				base := s0[0].Value.Uint64()
				var peak atomic.Uint64
				done := make(chan struct{})
				go func() {
					s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
					for {
						select {
						case <-done:
							return
						case <-time.After(time.Millisecond):
						}
						metrics.Read(s)
						if v := s[0].Value.Uint64(); v > peak.Load() {
							peak.Store(v)
						}
					}
				}()
				req, _ := http.NewRequest(http.MethodPost, h.url, strings.NewReader(`{"jsonrpc":"2.0","id":1,"method":"tools/call"}`))
				req.Header.Set("Accept", "application/json, text/event-stream")
				resp, err := h.client().Do(req)
				if err != nil {
					b.Fatal(err)
				}
				n, _ := io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				close(done)
				if n < int64(size) {
					b.Fatalf("read %d bytes", n)
				}
				b.ReportMetric(float64(int64(peak.Load())-int64(base))/(1<<20), "peak-heap-MB")
			}
		})
	}
}
