//go:build unix

package atomicfile

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// otherUID is the user the tests give files to, or run as (nobody).
const otherUID = 65534

// needRoot skips where a second uid cannot be used, except in the Linux
// CI (.ci/run, as root): there it fails. (The macOS runner is no root.)
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() == 0 {
		return
	}
	if os.Getenv("CI") != "" && runtime.GOOS == "linux" {
		t.Fatal("this test needs root (to use a second uid); CI runs as root")
	}
	t.Skip("needs root to use a second uid")
}

// A file of another user (mode 0644) in a folder we may write: a rename
// would replace it with a file of ours. Refused, the file left as it was.
func TestOtherUsersFileIsRefused(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	p := filepath.Join(dir, ".claude.json")
	os.WriteFile(p, []byte(`{"theirs":1}`), 0o644)
	if err := os.Chown(p, otherUID, otherUID); err != nil {
		t.Fatal(err)
	}
	_, err := WriteFile(context.Background(), p, []byte("{}"))
	var fe *Error
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), p+": belongs to another user (uid 65534)") || !strings.Contains(fe.HintText(), "chown") {
		t.Fatalf("err = %v, want the other user's file refused with a hint", err)
	}
	assertOwnedAndUnchanged(t, p, otherUID, `{"theirs":1}`)
}

// The same as an ordinary user: the write runs as nobody in a folder of
// nobody's, the file belongs to root, 0644.
func TestOtherUsersFileIsRefusedAsOrdinaryUser(t *testing.T) {
	needRoot(t)
	if os.Getenv("ATOMICFILE_HELPER") != "" {
		t.Skip("helper")
	}
	dir := t.TempDir()
	os.Chmod(filepath.Dir(dir), 0o755)
	os.Chmod(dir, 0o755)
	exe := filepath.Join(dir, "test.bin")
	if b, err := os.ReadFile(os.Args[0]); err != nil || os.WriteFile(exe, b, 0o755) != nil {
		t.Fatal("copying the test binary", err)
	}
	home := filepath.Join(dir, "home")
	os.Mkdir(home, 0o755)
	os.Chown(home, otherUID, otherUID)
	p := filepath.Join(home, ".claude.json")
	os.WriteFile(p, []byte(`{"root's":1}`), 0o644)
	cmd := exec.Command(exe, "-test.run=^TestHelperWrite$", "-test.v")
	cmd.Env = append(os.Environ(), "ATOMICFILE_HELPER="+p)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: otherUID, Gid: otherUID}}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "refused: "+p+": belongs to another user (uid 0)") {
		t.Fatalf("helper output:\n%s", out)
	}
	assertOwnedAndUnchanged(t, p, 0, `{"root's":1}`)
}

// TestHelperWrite is the write of TestOtherUsersFileIsRefusedAsOrdinaryUser.
func TestHelperWrite(t *testing.T) {
	p := os.Getenv("ATOMICFILE_HELPER")
	if p == "" {
		t.Skip("run by TestOtherUsersFileIsRefusedAsOrdinaryUser")
	}
	_, err := WriteFile(context.Background(), p, []byte("{}"))
	if err == nil {
		t.Fatal("the write went through")
	}
	t.Logf("refused: %v", err)
}

func assertOwnedAndUnchanged(t *testing.T, p string, uid int, want string) {
	t.Helper()
	fi, err := os.Stat(p)
	if err != nil {
		t.Fatal(err)
	}
	if got := int(fi.Sys().(*syscall.Stat_t).Uid); got != uid {
		t.Errorf("owner = %d, want %d", got, uid)
	}
	if b, _ := os.ReadFile(p); string(b) != want {
		t.Errorf("content = %q, want %q", b, want)
	}
}

// A writer killed (kill -9) mid-rewrite leaves ".NAME.tmp-PID-*" with the
// whole file: the next write removes those of dead writers and old ones,
// and keeps those of writers that may still be running.
func TestLeftoversRemoved(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "f.json")
	os.WriteFile(p, []byte("a"), 0o600)
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	deadPID := strconv.Itoa(dead.Process.Pid)
	old := time.Now().Add(-2 * leftoverGrace)
	for name, age := range map[string]time.Time{
		".f.json.tmp-" + deadPID + "-111":                 time.Now(), // dead writer: gone
		".f.json.tmp-123456789":                           old,        // older naming, old: gone
		".f.json.tmp-1-222":                               old,        // live pid, but old: gone
		".f.json.tmp-1-333":                               time.Now(), // live writer: kept
		".f.json.tmp-" + strconv.Itoa(os.Getpid()) + "-4": time.Now(), // this process: kept
		".other.json.tmp-" + deadPID + "-5":               time.Now(), // not this file's: kept
	} {
		q := filepath.Join(dir, name)
		os.WriteFile(q, []byte("token"), 0o600)
		os.Chtimes(q, age, age)
	}
	if _, err := Update(context.Background(), p, upper); err != nil {
		t.Fatal(err)
	}
	var left []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		left = append(left, e.Name())
	}
	want := []string{".f.json.tmp-1-333", ".f.json.tmp-" + strconv.Itoa(os.Getpid()) + "-4", ".other.json.tmp-" + deadPID + "-5", "f.json"}
	if strings.Join(left, " ") != strings.Join(sortStrings(want), " ") {
		t.Errorf("left = %v, want %v", left, sortStrings(want))
	}
}

func sortStrings(s []string) []string {
	out := append([]string{}, s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// The lock is held only around the rename: never while the edit runs. A
// lock that somebody keeps fresh gives up after LockWait naming the lock.
func TestLockHeldBrieflyAndWaitBounded(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), ".claude.json")
	os.WriteFile(p, []byte("a"), 0o600)
	lock := p + ".lock"
	_, err := UpdateWith(context.Background(), p, func(old []byte, _ bool) ([]byte, error) {
		if _, err := os.Stat(lock); err == nil {
			t.Error("the lock is held while the edit runs")
		}
		return upper(old, true)
	}, Options{LockDir: true})
	if err != nil {
		t.Fatal(err)
	}
	os.Mkdir(lock, 0o700)
	_, err = UpdateWith(context.Background(), p, upper, Options{LockDir: true, LockWait: 50 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), lock+": is held by another process (Claude Code?)") {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(p); string(b) != "A!" {
		t.Errorf("written while locked: %q", b)
	}
}

// A target that is a link to /dev/zero, or a FIFO, is refused at once.
func TestDevicesAndFIFOsRefused(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	zero := filepath.Join(dir, "zero.json")
	os.Symlink("/dev/zero", zero)
	fifo := filepath.Join(dir, "fifo.json")
	syscall.Mkfifo(fifo, 0o600)
	for _, p := range []string{zero, fifo} {
		_, err := Update(context.Background(), p, upper)
		if !errors.Is(err, files.ErrNotRegular) {
			t.Errorf("Update(%s) = %v, want not a regular file", p, err)
		}
	}
}

// A program that writes in place (truncate, pause, write) while we read
// and rewrite: its content is never lost and what we read is never a torn
// mix. The edit refuses an empty file, as the clients' editors do.
func TestInPlaceWriterNeverLost(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "f.json")
	theirs := `{"projects":"` + strings.Repeat("x", 64<<10) + `"`
	const ours = `,"ours":1}`
	os.WriteFile(p, []byte(theirs+"}"), 0o600)
	stop := make(chan struct{})
	lost := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				continue
			}
			time.Sleep(2 * time.Millisecond)
			f.WriteString(theirs + "}")
			f.Close()
			if b, _ := os.ReadFile(p); !strings.HasPrefix(string(b), theirs) {
				select {
				case lost <- string(b[:min(len(b), 40)]):
				default:
				}
			}
		}
	}()
	for i := 0; i < 200; i++ {
		_, err := Update(context.Background(), p, func(old []byte, exists bool) ([]byte, error) {
			s := strings.TrimSpace(string(old))
			if s == "" {
				return nil, errors.New("empty")
			}
			if s != theirs+"}" && s != theirs+ours {
				t.Errorf("read a torn file: %d bytes", len(old))
			}
			return []byte(theirs + ours), nil
		})
		if err != nil && err.Error() != "empty" && !errors.Is(err, ErrConflict) {
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	select {
	case s := <-lost:
		t.Fatalf("their write was lost: the file held %q", s)
	default:
	}
}

// A writer killed (kill -9) in the middle of rewrites of a large file
// leaves its temporary copy; the next write removes it.
func TestKilledWriterLeftoverRemoved(t *testing.T) {
	if os.Getenv("ATOMICFILE_LOOP") != "" {
		t.Skip("helper")
	}
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, ".claude.json")
	os.WriteFile(p, []byte("{}"), 0o600)
	// Kill it when a temporary copy is there (a write in progress); the
	// rename may still win the race, then again.
	left := false
	for attempt := 0; attempt < 5 && !left; attempt++ {
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperLoop$")
		cmd.Env = append(os.Environ(), "ATOMICFILE_LOOP="+p)
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		prefix := tempPrefix(p) + strconv.Itoa(cmd.Process.Pid) + "-"
		deadline := time.Now().Add(30 * time.Second)
		for !hasEntry(dir, prefix) && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond)
		}
		cmd.Process.Signal(syscall.SIGKILL)
		cmd.Wait()
		left = hasEntry(dir, prefix)
	}
	if !left {
		t.Fatal("no kill left a temporary copy behind")
	}
	if _, err := WriteFile(context.Background(), p, []byte(`{"next":1}`)); err != nil {
		t.Fatal(err)
	}
	if hasEntry(dir, tempPrefix(p)) {
		t.Error("the killed writer's temporary copy is still there")
	}
}

// TestHelperLoop rewrites a large file for ever (killed by the test).
func TestHelperLoop(t *testing.T) {
	p := os.Getenv("ATOMICFILE_LOOP")
	if p == "" {
		t.Skip("run by TestKilledWriterLeftoverRemoved")
	}
	big := strings.Repeat("x", 32<<20)
	for i := 0; ; i++ {
		WriteFile(context.Background(), p, []byte(`{"n":`+strconv.Itoa(i)+`,"h":"`+big+`"}`))
	}
}

func hasEntry(dir, prefix string) bool {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			return true
		}
	}
	return false
}
