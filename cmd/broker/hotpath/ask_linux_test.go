package hotpath

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
)

func TestSocketPathIsTheDaemons(t *testing.T) {
	for _, tc := range []struct{ xdg, tmp string }{
		{"/run/user/1000", ""},
		{"/run/user/1000/", "/var/tmp"},
		{"relative", "/var/tmp/"},
		{"", ""},
		{"", "/tmp/x"},
		{"/", ""},
	} {
		t.Setenv("XDG_RUNTIME_DIR", tc.xdg)
		t.Setenv("TMPDIR", tc.tmp)
		want, err := paths.SocketPath()
		if err != nil {
			t.Fatal(err)
		}
		if got := socketPath(); got != want {
			t.Errorf("XDG_RUNTIME_DIR=%q TMPDIR=%q: socketPath() = %q, paths.SocketPath() = %q", tc.xdg, tc.tmp, got, want)
		}
	}
}

func TestStateDirIsTheDaemons(t *testing.T) {
	for _, tc := range []struct{ state, home string }{
		{"", "/home/u"},
		{"", "/home/u/"},
		{"/x/state", "/home/u"},
		{"/x/state/", "/home/u"},
		{"relative", "/home/u"},
	} {
		t.Setenv("XDG_STATE_HOME", tc.state)
		t.Setenv("HOME", tc.home)
		want, err := paths.StateDir()
		if err != nil {
			t.Fatal(err)
		}
		if got, ok := stateDir(); !ok || got != want {
			t.Errorf("XDG_STATE_HOME=%q HOME=%q: stateDir() = %q, %v; paths.StateDir() = %q", tc.state, tc.home, got, ok, want)
		}
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "")
	if _, err := paths.StateDir(); err == nil {
		t.Fatal("paths.StateDir without HOME did not fail")
	}
	if got, ok := stateDir(); ok {
		t.Errorf("stateDir() without HOME = %q", got)
	}
}

// record has the shape of broker/localapi's Record, which the daemon
// writes with encoding/json.
type record struct {
	PID     int    `json:"pid"`
	Address string `json:"address"`
}

func TestRecordAddress(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		r  record
		ok bool
	}{
		{record{4242, "/run/user/1000/mcp-token-broker/broker.sock"}, true},
		{record{1, "/tmp/mcp-token-broker-1000-123/broker.sock"}, true},
		{record{7, "/home/ü ber/x.sock"}, true},
		{record{7, "/a&b/x.sock"}, false}, // encoding/json writes \u0026
		{record{7, `/a"b/x.sock`}, false},
		{record{7, "relative.sock"}, false},
		{record{7, ""}, false},
	} {
		b, err := json.Marshal(tc.r)
		if err != nil {
			t.Fatal(err)
		}
		b = append(b, '\n')
		got, ok := recordAddress(b)
		if ok != tc.ok || ok && got != tc.r.Address {
			t.Errorf("recordAddress(%s) = %q, %v; want %q, %v", b, got, ok, tc.r.Address, tc.ok)
		}
	}
	for _, b := range []string{
		`{"pid":1,"address":"/x.sock"}`, // no newline: not what the daemon writes
		`{"address":"/x.sock","pid":1}` + "\n",
		`{"pid":1,"address":"/x.sock","more":1}` + "\n",
		`{"pid":x,"address":"/x.sock"}` + "\n",
		`{"pid":1 ,"address":"/x.sock"}` + "\n",
		"",
	} {
		if got, ok := recordAddress([]byte(b)); ok {
			t.Errorf("recordAddress(%q) = %q", b, got)
		}
	}
}

func TestDaemonAddress(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	// No record: where the daemon listened before it had one.
	if got, ok := daemonAddress(); !ok || got != "/run/user/1000/mcp-token-broker/broker.sock" {
		t.Errorf("without a record: %q, %v", got, ok)
	}
	dir := filepath.Join(home, ".local", "state", "mcp-token-broker")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "daemon.json")
	if err := os.WriteFile(path, []byte(`{"pid":12,"address":"/tmp/d/broker.sock"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got, ok := daemonAddress(); !ok || got != "/tmp/d/broker.sock" {
		t.Errorf("with a record: %q, %v", got, ok)
	}
	// A record that is not a regular file is not read, and not skipped.
	os.Remove(path)
	if err := os.Symlink(filepath.Join(home, "elsewhere.json"), path); err != nil {
		t.Fatal(err)
	}
	if got, ok := daemonAddress(); ok {
		t.Errorf("a link as the record: %q", got)
	}
}
