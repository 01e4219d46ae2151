package hotpath

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
)

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

func TestRecordAddress(t *testing.T) {
	for _, tc := range []struct {
		addr string
		ok   bool
	}{
		{"/run/user/1000/mcp-token-broker/broker.sock", true},
		{"/tmp/mcp-token-broker-1000-123/broker.sock", true},
		{"/home/ü ber/x.sock", true},
		{"/a&b/x.sock", false}, // encoding/json writes \u0026
		{`/a"b/x.sock`, false},
		{"relative.sock", false},
	} {
		dir := t.TempDir()
		if err := localapi.Publish(dir, localapi.Record{PID: 4242, Address: tc.addr}); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(dir, localapi.RecordFile))
		if err != nil {
			t.Fatal(err)
		}
		got, ok := recordAddress(b)
		if ok != tc.ok || ok && got != tc.addr {
			t.Errorf("recordAddress(%s) = %q, %v; want %q, %v", b, got, ok, tc.addr, tc.ok)
		}
	}
	for _, b := range []string{
		`{"pid":1,"address":"/x.sock"}`, // no newline: not what Publish writes
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
	if got, ok := daemonAddress(); ok {
		t.Errorf("without a record: %q", got)
	}
	dir, err := paths.StateDir()
	if err != nil {
		t.Fatal(err)
	}
	if err := localapi.Publish(dir, localapi.Record{PID: 12, Address: "/tmp/d/broker.sock"}); err != nil {
		t.Fatal(err)
	}
	if got, ok := daemonAddress(); !ok || got != "/tmp/d/broker.sock" {
		t.Errorf("with a record: %q, %v", got, ok)
	}
	// A record that is not a regular file is not read.
	path := filepath.Join(dir, localapi.RecordFile)
	os.Rename(path, filepath.Join(home, "elsewhere.json"))
	if err := os.Symlink(filepath.Join(home, "elsewhere.json"), path); err != nil {
		t.Fatal(err)
	}
	if got, ok := daemonAddress(); ok {
		t.Errorf("a link as the record: %q", got)
	}
}
