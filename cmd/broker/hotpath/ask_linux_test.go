package hotpath

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
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

func TestTheStoresNames(t *testing.T) {
	if plainCache != store.PlainFile || sealedCache != store.SealedFile || cacheLock != store.LockFile {
		t.Errorf("hotpath's names %s, %s, %s; broker/store's %s, %s, %s", plainCache, sealedCache, cacheLock, store.PlainFile, store.SealedFile, store.LockFile)
	}
	if MSALWindow != auth.MSALRefreshWindow {
		t.Errorf("MSALWindow = %v, auth's %v", MSALWindow, auth.MSALRefreshWindow)
	}
}

func TestInBounds(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	at := func(d time.Duration) int64 { return now.Add(d).Unix() }
	base := memo{cachedAt: at(-time.Minute), expiresOn: at(time.Hour), exp: at(time.Hour)}
	for _, tc := range []struct {
		what string
		edit func(*memo)
		minV time.Duration
		ok   bool
	}{
		{"fresh", nil, 5 * time.Minute, true},
		{"cached this second", func(m *memo) { m.cachedAt = now.Unix() }, 0, true},
		{"cached in the future (the clock went back)", func(m *memo) { m.cachedAt = at(time.Second) }, 0, false},
		{"no cached_at", func(m *memo) { m.cachedAt = 0 }, 0, false},
		{"all the validity asked but the margin", nil, time.Hour - time.Second, true},
		{"more than that", nil, time.Hour - time.Second + 1, false},
		{"the token's exp earlier than the cache's", func(m *memo) { m.exp = at(10 * time.Minute) }, 10 * time.Minute, false},
		{"the token's exp earlier, enough left", func(m *memo) { m.exp = at(10 * time.Minute) }, 9 * time.Minute, true},
		{"no exp claim", func(m *memo) { m.exp = 0 }, 59 * time.Minute, true},
		{"inside MSAL's window", func(m *memo) { m.expiresOn, m.exp = at(5*time.Minute), at(5*time.Minute) }, 0, false},
		{"just outside it", func(m *memo) { m.expiresOn, m.exp = at(5*time.Minute+time.Second), 0 }, 0, true},
		{"refresh_on passed", func(m *memo) { m.refreshOn = at(-time.Second) }, 0, false},
		{"refresh_on now", func(m *memo) { m.refreshOn = now.Unix() }, 0, false},
		{"refresh_on within the margin", func(m *memo) { m.refreshOn = at(time.Second) }, 0, false},
		{"refresh_on ahead", func(m *memo) { m.refreshOn = at(2 * time.Second) }, 0, true},
	} {
		m := base
		if tc.edit != nil {
			tc.edit(&m)
		}
		if got := m.inBounds(now, tc.minV); got != tc.ok {
			t.Errorf("%s: inBounds = %v, want %v", tc.what, got, tc.ok)
		}
	}
}

func TestNoKeyring(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "bus")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	run := "/run/user/" + strconv.Itoa(os.Getuid())
	_, errBus := os.Stat(run + "/bus")
	_, errSess := os.Stat(run + "/dbus-session")
	for _, tc := range []struct {
		addr string
		want bool
	}{
		{"", errBus != nil && errSess != nil},
		{"unix:path=" + filepath.Join(dir, "none"), true},
		{"unix:path=" + sock, false},
		{"unix:path=" + dir, false}, // something is there
		{"unix:path=" + filepath.Join(dir, "a%2cb"), false},
		{"unix:path=" + filepath.Join(dir, "none") + ",guid=1", false},
		{"unix:path=" + filepath.Join(dir, "none") + ";unix:path=" + sock, false},
		{"unix:abstract=/tmp/dbus-x", false},
		{"autolaunch:", false},
		{"tcp:host=localhost,port=1", false},
	} {
		t.Setenv("DBUS_SESSION_BUS_ADDRESS", tc.addr)
		if got := noKeyring(); got != tc.want {
			t.Errorf("DBUS_SESSION_BUS_ADDRESS=%q: noKeyring() = %v, want %v", tc.addr, got, tc.want)
		}
	}
}

func TestParseMemo(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	for _, k := range MemoEnv[1:] {
		t.Setenv(k, "")
	}
	t.Setenv("BROKER_ADMIN_CONFIG", "/nowhere/admin.toml")
	dir, _ := stateDir()
	head := MemoVersion + "\nHOME=" + home + "\nXDG_CONFIG_HOME=\nXDG_STATE_HOME=\nBROKER_CONFIG=\nBROKER_ADMIN_CONFIG=/nowhere/admin.toml\n"
	good := head + "storage auto\ntoken 10 20 1 2 0 3\nfile 00ff " + dir + "/msal-cache.json\nfile - /nowhere/admin.toml\nend\n"
	m, ok := parseMemo(good)
	want := memo{storage: "auto", off: 10, n: 20, cachedAt: 1, expiresOn: 2, refreshOn: 0, exp: 3,
		files: []memoFile{{"00ff", dir + "/msal-cache.json"}, {"-", "/nowhere/admin.toml"}}}
	if !ok || m.storage != want.storage || m.off != want.off || m.n != want.n || m.cachedAt != 1 || m.expiresOn != 2 || m.exp != 3 ||
		len(m.files) != 2 || m.files[0] != want.files[0] || m.files[1] != want.files[1] {
		t.Fatalf("parseMemo = %+v, %v; want %+v", m, ok, want)
	}
	for _, bad := range []string{
		"",
		strings.Replace(good, "memo 1", "memo 2", 1),
		strings.Replace(good, "HOME="+home, "HOME=/elsewhere", 1),
		strings.Replace(good, "BROKER_CONFIG=\n", "BROKER_CONFIG=/x.toml\n", 1),
		strings.Replace(good, "XDG_STATE_HOME=\n", "", 1),
		strings.Replace(good, "storage auto", "storage keyring", 1),
		strings.Replace(good, "token 10 20 1 2 0 3", "token 10 20 1 2 0", 1),
		strings.Replace(good, "token 10 20 1 2 0 3", "token 10 20 1 2 0 3 4", 1),
		strings.Replace(good, "token 10 20 1 2 0 3", "token -1 20 1 2 0 3", 1),
		strings.Replace(good, "token 10 20 1 2 0 3", "token 10 x 1 2 0 3", 1),
		strings.Replace(good, "end\n", "", 1),                          // torn
		strings.Replace(good, "end\n", "end", 1),                       // torn
		strings.Replace(good, "end\n", "end\nfile - /x\n", 1),          // more after the end
		strings.Replace(good, "file 00ff "+dir, "file 00ff /other", 1), // not the state folder's cache
		strings.Replace(good, "file 00ff", "file -", 1),                // no cache file
		strings.Replace(good, "file - /nowhere/admin.toml", "file - relative.toml", 1),
		head + "storage auto\ntoken 10 20 1 2 0 3\nend\n", // no files
	} {
		if m, ok := parseMemo(bad); ok {
			t.Errorf("parseMemo(%q) = %+v", bad, m)
		}
	}
	t.Setenv("XDG_CONFIG_HOME", home+"/.config") // the same folder, said otherwise
	if _, ok := parseMemo(good); ok {
		t.Error("a memo of another environment was taken")
	}
}

func TestMemoFile(t *testing.T) {
	for profile, want := range map[string]string{"": "hotpath-.memo", "data": "hotpath-64617461.memo", "../x": "hotpath-2e2e2f78.memo"} {
		if got := MemoFile(profile); got != want {
			t.Errorf("MemoFile(%q) = %q, want %q", profile, got, want)
		}
	}
}

func TestFromDaemonMemo(t *testing.T) {
	dir := t.TempDir()
	os.Chmod(dir, 0o700)
	const other = "eyJhbGciOiJub25lIn0.eyJvdGhlciI6MX0.b3RoZXI"
	cache := `{"profiles":{"p":{"msal":{"AccessToken":{"k":{"secret":"` + other + `"},"l":{"secret":"` + jwt + `"}},"RefreshToken":{"r":{"secret":"rt"}}}}}}`
	if err := os.WriteFile(filepath.Join(dir, plainCache), []byte(cache), 0o600); err != nil {
		t.Fatal(err)
	}
	now := time.Unix(1_800_000_000, 0)
	write := func(s string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, DaemonMemoFile("p")), []byte(s), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	pid := os.Getpid()
	start, ok := ProcessStart(pid)
	if !ok {
		t.Fatal("no start time of this process")
	}
	good := DaemonMemo(pid, start, jwt, now.Add(time.Hour))
	write(good)
	if tok, ok := fromDaemonMemo(dir, "p", pid, 5*time.Minute, now); !ok || tok != jwt {
		t.Fatalf("fromDaemonMemo = %q, %v; want the token", tok, ok)
	}
	if tok, ok := fromDaemonMemo(dir, "p", pid, time.Hour-time.Second, now); !ok || tok != jwt {
		t.Errorf("all but the margin: %q, %v", tok, ok)
	}
	for _, tc := range []struct {
		what, memo string
		pid        int
		minV       time.Duration
	}{
		{"another process", good, os.Getppid(), 0},
		{"the pid reused (another start time)", strings.Replace(good, " "+start+"\n", " 1"+start+"\n", 1), pid, 0},
		{"more validity than left", good, pid, time.Hour - time.Second + 1},
		{"another profile's memo", "", pid, 0},
		{"a token not in the cache", DaemonMemo(pid, start, other+"x", now.Add(time.Hour)), pid, 0},
		{"torn", strings.TrimSuffix(good, "end\n"), pid, 0},
		{"a bad length", strings.Replace(good, " "+strconv.Itoa(len(jwt))+" ", " x ", 1), pid, 0},
		{"a short hash", strings.Replace(good, Sum([]byte(jwt)), "00", 1), pid, 0},
	} {
		if tc.memo == "" {
			os.Remove(filepath.Join(dir, DaemonMemoFile("p")))
		} else {
			write(tc.memo)
		}
		if tok, ok := fromDaemonMemo(dir, "p", tc.pid, tc.minV, now); ok {
			t.Errorf("%s: fromDaemonMemo = %q", tc.what, tok)
		}
	}
	if _, ok := findSecret(cache, Sum([]byte("rt")), 2); ok {
		t.Error("a secret that is no JWT was taken")
	}
}

func TestProcessStart(t *testing.T) {
	a, ok := ProcessStart(os.Getpid())
	b, ok2 := ProcessStart(os.Getpid())
	if !ok || !ok2 || a != b || a == "0" {
		t.Fatalf("ProcessStart(self) = %q, %v; again %q, %v", a, ok, b, ok2)
	}
	// The parent started no later than this process.
	p, ok := ProcessStart(os.Getppid())
	pn, _ := strconv.ParseUint(p, 10, 64)
	an, _ := strconv.ParseUint(a, 10, 64)
	if !ok || pn > an {
		t.Errorf("the parent's start %q after this process's %q", p, a)
	}
	// Clock ticks (100 a second here) since boot: no later than now.
	up, err := os.ReadFile("/proc/uptime")
	if err != nil {
		t.Fatal(err)
	}
	secs, _, _ := strings.Cut(string(up), ".")
	upn, _ := strconv.ParseUint(secs, 10, 64)
	if an/100 > upn+1 {
		t.Errorf("ProcessStart(self) = %s ticks, after the uptime of %d s", a, upn)
	}
	if s, ok := ProcessStart(1 << 30); ok {
		t.Errorf("a process that does not exist started at %q", s)
	}
}
