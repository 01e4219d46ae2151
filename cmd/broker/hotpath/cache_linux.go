package hotpath

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// Without a daemon, `broker headers` and `broker token` answer from the
// token cache: load the config, open the store (probing the keyring),
// build MSAL's client and look the account and its token up, several
// milliseconds of work and the initialisers of everything that needs.
// The hot path answers instead when nothing has changed since the
// command line proper last answered from the cache: its memo
// (cmd/broker/hotpath/memo writes it) names every file that answer
// depended on with a hash of its content, the environment that chose
// those files, and where in the cache file the token is, with the times
// that bound when MSAL and the command line take it from the cache. When
// every file still holds what it held, the environment is the same, no
// daemon runs and the clock is inside those bounds, the command line
// proper would give that same token; anything else and the command line
// proper runs (and writes a new memo).

// noDaemon reports whether the command line proper would find no daemon
// to ask: BROKER_NO_DAEMON, or no record of one (localapi.Dial then says
// ErrNoDaemon at once). A record of a daemon that does not answer is the
// command line's to report.
func noDaemon(dir string) bool {
	if os.Getenv("BROKER_NO_DAEMON") != "" {
		return true
	}
	var st syscall.Stat_t
	return errors.Is(syscall.Lstat(dir+"/daemon.json", &st), syscall.ENOENT)
}

// fromCache returns the profile's token from the cache as the memo says
// the command line proper would, at now; false when it cannot be sure.
func fromCache(profile string, minValidity time.Duration, now time.Time) (string, bool) {
	dir, ok := stateDir()
	if !ok || !privateDir(dir) || !noDaemon(dir) {
		return "", false
	}
	b, err := readRegular(dir+"/"+MemoFile(profile), maxMemo, true)
	if err != nil {
		return "", false
	}
	m, ok := parseMemo(string(b))
	if !ok || !m.storeReady(dir) {
		return "", false
	}
	var cache []byte
	for i, f := range m.files {
		content, ok := f.unchanged()
		if !ok {
			return "", false
		}
		if i == 0 {
			cache = content
		}
	}
	if m.off < 0 || m.n <= 0 || m.off+m.n > len(cache) {
		return "", false
	}
	tok := string(cache[m.off : m.off+m.n])
	if !jwtShaped(tok) || !m.inBounds(now, minValidity) {
		return "", false
	}
	return tok, true
}

// memo is a parsed memo (see the format in memo.go).
type memo struct {
	storage string // "file", or "auto" (which fell back to the file)
	off, n  int    // the token in the cache file
	// Unix seconds from the cache entry (cached_at, expires_on,
	// refresh_on: 0 when not set) and the token's exp claim (0: none).
	cachedAt, expiresOn, refreshOn, exp int64
	files                               []memoFile // the cache file first
}

type memoFile struct {
	sum  string // "-": absent
	path string
}

// parseMemo reads a memo and checks the environment against it.
func parseMemo(s string) (memo, bool) {
	var m memo
	line := func() (string, bool) {
		l, rest, ok := cut(s, '\n')
		s = rest
		return l, ok
	}
	if l, ok := line(); !ok || l != MemoVersion {
		return m, false
	}
	for _, k := range MemoEnv {
		l, ok := line()
		v, found := cutPrefix(l, k+"=")
		if !ok || !found || os.Getenv(k) != v {
			return m, false
		}
	}
	l, ok := line()
	if m.storage, ok = cutPrefix(l, "storage "); !ok || m.storage != "file" && m.storage != "auto" {
		return m, false
	}
	l, ok = line()
	rest, ok := cutPrefix(l, "token ")
	if !ok {
		return m, false
	}
	var nums [6]int64
	for i := range nums {
		f, tail, _ := cut(rest, ' ')
		rest = tail
		n, err := strconv.ParseInt(f, 10, 64)
		if err != nil || n < 0 {
			return m, false
		}
		nums[i] = n
	}
	if rest != "" || nums[0] > maxFile || nums[1] > maxFile {
		return m, false
	}
	m.off, m.n = int(nums[0]), int(nums[1])
	m.cachedAt, m.expiresOn, m.refreshOn, m.exp = nums[2], nums[3], nums[4], nums[5]
	for {
		l, ok := line()
		if ok && l == "end" && s == "" {
			break
		}
		rest, found := cutPrefix(l, "file ")
		sum, path, _ := cut(rest, ' ')
		if !ok || !found || !hasPrefix(path, "/") || sum == "" {
			return m, false
		}
		m.files = append(m.files, memoFile{sum, path})
	}
	if len(m.files) == 0 || m.files[0].path != stateDirOr()+"/"+plainCache || m.files[0].sum == "-" {
		return m, false
	}
	return m, true
}

func stateDirOr() string {
	d, _ := stateDir()
	return d
}

// storeReady reports whether broker/store would open the plain file of
// dir now, as it did when the memo was written, with no migration to do:
// no encrypted cache beside it, the lock file there, and for storage
// "auto" a keyring that cannot answer.
func (m memo) storeReady(dir string) bool {
	var st syscall.Stat_t
	if !errors.Is(syscall.Lstat(dir+"/"+sealedCache, &st), syscall.ENOENT) {
		return false
	}
	if syscall.Lstat(dir+"/"+cacheLock, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || int(st.Uid) != os.Getuid() || st.Mode&0o600 != 0o600 {
		return false
	}
	return m.storage == "file" || noKeyring()
}

// noKeyring reports whether broker/store's system keyring fails at once
// for want of a session bus: DBUS_SESSION_BUS_ADDRESS unset and neither
// /run/user/UID/bus nor dbus-session there (store.sessionBusKnown), or
// set to one unix:path= whose socket does not exist (godbus then fails
// to connect, and go-keyring with it). Any other address: maybe a keyring.
func noKeyring() bool {
	var st syscall.Stat_t
	addr := os.Getenv("DBUS_SESSION_BUS_ADDRESS")
	if addr == "" {
		run := "/run/user/" + strconv.Itoa(os.Getuid()) + "/"
		return syscall.Stat(run+"bus", &st) != nil && syscall.Stat(run+"dbus-session", &st) != nil
	}
	p, ok := cutPrefix(addr, "unix:path=")
	if !ok || !hasPrefix(p, "/") {
		return false
	}
	for i := 0; i < len(p); i++ {
		switch p[i] {
		case '%', ',', ';', '=':
			return false // escapes and more keys or addresses: godbus's to read
		}
	}
	return errors.Is(syscall.Lstat(p, &st), syscall.ENOENT)
}

// unchanged reads f and reports whether it holds what the memo says
// (absent for "-", as config.Load skips a missing file).
func (f memoFile) unchanged() ([]byte, bool) {
	b, err := readRegular(f.path, maxFile, false)
	if f.sum == "-" {
		return nil, errors.Is(err, syscall.ENOENT)
	}
	return b, err == nil && Sum(b) == f.sum
}

// inBounds reports whether, at now, MSAL takes the token from its cache
// (cached at or before now, expiring no sooner than its window, its
// refresh_on not passed: MSAL would refresh then) and the command line
// takes it for minValidity (its expiry, the earlier of the cache's and
// the token's own, at least minValidity away). The bounds that a later
// run of the command line passes less easily are kept by a margin.
func (m memo) inBounds(now time.Time, minValidity time.Duration) bool {
	cachedAt, expiresOn := time.Unix(m.cachedAt, 0), time.Unix(m.expiresOn, 0)
	exp := expiresOn
	if m.exp > 0 && m.exp < m.expiresOn {
		exp = time.Unix(m.exp, 0)
	}
	// cached_at is whole seconds, not after the caching: MSAL's own test.
	if m.cachedAt == 0 || cachedAt.After(now) {
		return false
	}
	if m.refreshOn > 0 && !now.Add(margin).Before(time.Unix(m.refreshOn, 0)) {
		return false
	}
	return expiresOn.Sub(now) >= MSALWindow+margin && exp.Sub(now) >= minValidity+margin
}

// privateDir reports whether dir is a folder of this user's alone, as
// broker/store keeps it (it would chmod it back otherwise).
func privateDir(dir string) bool {
	var st syscall.Stat_t
	return syscall.Lstat(dir, &st) == nil && st.Mode&syscall.S_IFMT == syscall.S_IFDIR && int(st.Uid) == os.Getuid() && st.Mode&0o077 == 0
}

// readRegular reads at most max bytes of path, a regular file (after
// following links, as os.ReadFile and files.ReadRegular do, unless
// noFollow), without blocking on a FIFO; mine asks that it be this
// user's (with noFollow, for the memo).
func readRegular(path string, max int64, noFollow bool) ([]byte, error) {
	flags := syscall.O_RDONLY | syscall.O_CLOEXEC | syscall.O_NONBLOCK
	if noFollow {
		flags |= syscall.O_NOFOLLOW
	}
	fd, err := syscall.Open(path, flags, 0)
	if err != nil {
		return nil, err
	}
	defer syscall.Close(fd)
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG || st.Size > max || noFollow && int(st.Uid) != os.Getuid() {
		return nil, errors.New("not a regular file of at most the size allowed")
	}
	b := make([]byte, st.Size+1)
	n := 0
	for n < len(b) {
		m, err := syscall.Read(fd, b[n:])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if m == 0 {
			break
		}
		n += m
	}
	if int64(n) > st.Size {
		return nil, errors.New("the file grew while read")
	}
	return b[:n], nil
}
