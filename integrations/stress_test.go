package integrations

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// claudeJSON returns a ~/.claude.json-shaped document of about size bytes:
// user-scope servers (one is "api", with a headersHelper) and many
// projects with history, as Claude Code keeps them.
func claudeJSON(size int) []byte {
	var b strings.Builder
	b.WriteString("{\n  \"numStartups\": 0,\n  \"installMethod\": \"npm\",\n  \"mcpServers\": {\n")
	b.WriteString("    \"other\": {\n      \"type\": \"stdio\",\n      \"command\": \"npx\",\n      \"args\": [\"-y\", \"x\"]\n    },\n")
	b.WriteString("    \"api\": {\n      \"type\": \"http\",\n      \"url\": \"https://apim.contoso.com/mcp\",\n      \"headersHelper\": \"/old/broker headers\"\n    }\n  },\n")
	b.WriteString("  \"projects\": {\n")
	for i := 0; b.Len() < size; i++ {
		if i > 0 {
			b.WriteString(",\n")
		}
		fmt.Fprintf(&b, "    \"/home/user/src/project-%d\": {\n      \"allowedTools\": [],\n      \"history\": [\n", i)
		for j := 0; j < 20; j++ {
			if j > 0 {
				b.WriteString(",\n")
			}
			fmt.Fprintf(&b, "        {\"display\": \"please refactor module %d of project %d \\\"quickly\\\" — ünïcode ✓\", \"pastedContents\": {}}", j, i)
		}
		b.WriteString("\n      ],\n      \"mcpContextUris\": [],\n      \"hasTrustDialogAccepted\": true,\n      \"lastCost\": 0.1234\n    }")
	}
	b.WriteString("\n  },\n  \"userID\": \"4f57f1e9ceed00d8d2f70389c8045fca17a1a00019b6444557d2062cafeb232a\"\n}\n")
	return []byte(b.String())
}

// helperTargets are two claude targets on path that write different
// headersHelper values (no secret, no git).
func helperTargets(t testing.TB, path string) [2]*Target {
	t.Helper()
	var out [2]*Target
	for i, bin := range []string{"/a/broker", "/b/broker"} {
		tg, err := New(config.Target{Client: "claude", Server: "api", Path: path}, Env{Home: filepath.Dir(path), GOOS: "linux", BrokerPath: bin})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = tg
	}
	return out
}

// TestCrashChild is the child of TestCrashSafety: it rewrites the file in
// a loop until it is killed.
func TestCrashChild(t *testing.T) {
	path := os.Getenv("BROKER_TEST_CRASH_FILE")
	if path == "" {
		t.Skip("only runs as TestCrashSafety's child")
	}
	tg := helperTargets(t, path)
	for i := 0; ; i++ {
		if _, err := tg[i%2].Apply(context.Background(), token.Token{}, nil); err != nil {
			fmt.Fprintln(os.Stderr, "child:", err)
			os.Exit(3)
		}
	}
}

// TestCrashSafety kills a process that rewrites a target, at random
// moments, 200 times: the file must always be one of the whole versions
// (the original or one of the two rewrites), so it parses and every
// foreign byte is intact.
func TestCrashSafety(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, ".claude.json")
	input := claudeJSON(1 << 20)
	if err := os.WriteFile(path, input, 0o600); err != nil {
		t.Fatal(err)
	}
	tg := helperTargets(t, path)
	valid := map[string]string{string(input): "original"}
	for i, target := range tg {
		out, err := target.client.apply(target, input, true, token.Token{})
		if err != nil {
			t.Fatal(err)
		}
		valid[string(out)] = fmt.Sprintf("rewrite %d", i)
	}
	seen := map[string]int{}
	leftovers, locks := 0, 0
	deadline := time.Now().Add(25 * time.Second)
	for i := 0; i < 200; i++ {
		if time.Now().After(deadline) {
			t.Fatalf("only %d kills in time", i)
		}
		cmd := exec.Command(os.Args[0], "-test.run=^TestCrashChild$", "-test.count=1")
		cmd.Env = append(os.Environ(), "BROKER_TEST_CRASH_FILE="+path)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(5+rand.IntN(40)) * time.Millisecond)
		cmd.Process.Signal(syscall.SIGKILL)
		err := cmd.Wait()
		var ee *exec.ExitError
		if err != nil && (!errors.As(err, &ee) || ee.ExitCode() == 3) {
			t.Fatalf("child failed: %v\n%s", err, stderr.String())
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		what, ok := valid[string(got)]
		if !ok {
			if verr := jsonedit.Validate(got); verr != nil {
				t.Fatalf("kill %d: the file does not parse: %v", i, verr)
			}
			t.Fatalf("kill %d: the file is neither the original nor a whole rewrite (%d bytes)", i, len(got))
		}
		seen[what]++
		// A killed writer leaves its lock (stale after 10 s; broken here
		// at once to keep the test short) and can leave its temporary file.
		if os.Remove(path+".lock") == nil {
			locks++
		}
		tmps, _ := filepath.Glob(filepath.Join(dir, "*.tmp-*"))
		leftovers += len(tmps)
		for _, p := range tmps {
			os.Remove(p)
		}
	}
	t.Logf("versions seen after the kills: %v; temporary files left by killed writers: %d, locks: %d", seen, leftovers, locks)
	if seen["rewrite 0"]+seen["rewrite 1"] == 0 {
		t.Fatal("the child never managed a rewrite: the test proves nothing")
	}
}

// TestForeignWriter has another program change other keys of the file as
// fast as it can while the broker rewrites its value: none of the other
// program's updates may be lost, and the broker's value is there at the end.
func TestForeignWriter(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, ".claude.json")
	if err := os.WriteFile(path, claudeJSON(64<<10), 0o600); err != nil {
		t.Fatal(err)
	}
	tg := helperTargets(t, path)
	const writes = 400
	done := make(chan error, 1)
	// The broker's successful rewrites. On a loaded machine a writer that
	// spins on the lock can starve the broker for all 400 writes (the test
	// then proved nothing), so every 50 writes it waits, like a real
	// program between its writes, until the broker got one in.
	var applied atomic.Int64
	go func() {
		// Like Claude Code: lock (mkdir PATH.lock, as proper-lockfile),
		// read, change, write a temporary file, rename, unlock.
		for i := 1; i <= writes; i++ {
			for os.Mkdir(path+".lock", 0o700) != nil {
				runtime.Gosched()
			}
			b, err := os.ReadFile(path)
			if err != nil {
				done <- err
				return
			}
			// It reads back its own last value, unless the broker wrote
			// an older one over it (a lost update).
			if v, _, err := jsonedit.Get(b, []string{"numStartups"}); err != nil || string(v) != strconv.Itoa(i-1) {
				done <- fmt.Errorf("write %d: numStartups = %s (%v): the broker lost a foreign update", i, v, err)
				return
			}
			out, err := jsonedit.Edit(b, jsonedit.Set([]string{"numStartups"}, []byte(strconv.Itoa(i))))
			if err != nil {
				done <- err
				return
			}
			tmp := filepath.Join(dir, fmt.Sprintf(".claude.json.foreign-%d", i))
			if err := os.WriteFile(tmp, out, 0o600); err != nil {
				done <- err
				return
			}
			if err := os.Rename(tmp, path); err != nil {
				done <- err
				return
			}
			os.Remove(path + ".lock")
			if i%50 == 0 {
				for n := applied.Load(); applied.Load() == n; {
					time.Sleep(time.Millisecond)
				}
			}
		}
		done <- nil
	}()
	ctx := context.Background()
	conflicts := 0
	for i := 0; ; i++ {
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			// The foreign writer's last value must have survived.
			b, _ := os.ReadFile(path)
			v, _, err := jsonedit.Get(b, []string{"numStartups"})
			if err != nil || string(v) != strconv.Itoa(writes) {
				t.Fatalf("numStartups = %s (%v), want %d: the broker lost a foreign update", v, err, writes)
			}
			// And the broker's value goes back in (the watcher does this
			// in the daemon) without losing theirs.
			if _, err := tg[0].Apply(ctx, token.Token{}, nil); err != nil {
				t.Fatal(err)
			}
			b, _ = os.ReadFile(path)
			h, _, _ := jsonedit.Get(b, []string{"mcpServers", "api", "headersHelper"})
			v, _, _ = jsonedit.Get(b, []string{"numStartups"})
			if string(h) != `"/a/broker headers"` || string(v) != strconv.Itoa(writes) {
				t.Fatalf("after the last apply: headersHelper %s, numStartups %s", h, v)
			}
			t.Logf("broker rewrites: %d, gave up after retries: %d", applied.Load(), conflicts)
			if applied.Load() == 0 {
				t.Fatal("the broker never wrote: the test proves nothing")
			}
			return
		default:
		}
		_, err := tg[i%2].Apply(ctx, token.Token{}, nil)
		switch {
		case err == nil:
			applied.Add(1)
		case strings.Contains(err.Error(), "kept changing"):
			conflicts++
		default:
			t.Fatal(err)
		}
		// The file must hold the foreign writer's latest value at every
		// moment we look (we never wrote an older one back).
	}
}
