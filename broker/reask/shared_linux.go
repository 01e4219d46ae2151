package reask

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

// Shared returns a Memo in memory that also keeps each server's entry in
// its ask record in dir, the state folder (hotpath.AskFile), which the
// hot path reads, and writes when it answers a server's first ask from
// the daemon's memo without asking the daemon (cmd/broker/hotpath): the
// daemon's Memo, one per daemon process (a record of another is none).
func Shared(dir string) *Memo {
	start, ok := hotpath.ProcessStart(os.Getpid())
	if !ok {
		return New()
	}
	return &Memo{m: map[string]entry{}, shared: &shared{dir: dir, pid: os.Getpid(), start: start}}
}

type shared struct {
	dir   string
	pid   int
	start string
}

// lockWait bounds the wait for a record's flock, which the hot path holds
// for a few system calls (longer only when stopped or stuck).
const lockWait = time.Second

// record is a server's ask record, open and locked.
type record struct {
	fd   int
	path string
	size int64 // what it held
}

// open locks the record of key and returns it with the entry it holds
// (zero when none, or another daemon's). A record it cannot lock in time
// is removed, so that the hot path cannot go by it (the ask then stays in
// memory only); nil then.
func (s *shared) open(key string) (*record, entry, bool) {
	path := filepath.Join(s.dir, hotpath.AskFile(key))
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_CREAT|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0o600)
	if err != nil {
		os.Remove(path)
		return nil, entry{}, false
	}
	for deadline := time.Now().Add(lockWait); ; time.Sleep(2 * time.Millisecond) {
		err = syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB)
		if !errors.Is(err, syscall.EWOULDBLOCK) || time.Now().After(deadline) {
			break
		}
	}
	r := &record{fd: fd, path: path}
	var st syscall.Stat_t
	if err != nil || syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size > 16<<10 {
		r.fail()
		return nil, entry{}, false
	}
	r.size = st.Size
	b := make([]byte, st.Size)
	n, err := syscall.Pread(fd, b, 0)
	pid, start, at, sum, forced, ok := hotpath.ParseAsk(b[:max(n, 0)])
	if err != nil || !ok || pid != s.pid || start != s.start {
		return r, entry{}, false
	}
	return r, entry{At: at, Token: sum, Forced: forced}, true
}

// write replaces the record with e and unlocks it (over the old one, cut
// when longer: no block freed and allocated again); a record it cannot
// write is removed.
func (r *record) write(s *shared, e entry) {
	b := []byte(hotpath.AskRecord(s.pid, s.start, e.At, e.Token, e.Forced))
	if n, err := syscall.Pwrite(r.fd, b, 0); err != nil || n != len(b) {
		r.fail()
		return
	}
	if r.size > int64(len(b)) && syscall.Ftruncate(r.fd, int64(len(b))) != nil {
		r.fail()
		return
	}
	syscall.Close(r.fd)
}

func (r *record) fail() {
	os.Remove(r.path)
	syscall.Close(r.fd)
}
