package hotpath

import (
	"errors"
	"os"
	"strconv"
	"syscall"
	"time"
)

// daemonAddress returns the socket of the running daemon: the address in
// its record, stateDir/daemon.json (what broker/localapi.Dial reads: a
// regular file of this user, as localapi.Publish writes it). No record,
// no daemon.
func daemonAddress() (string, bool) {
	_, rec, ok := daemonRecord()
	if !ok {
		return "", false
	}
	return recordAddress(rec)
}

// daemonRecord returns the state folder and the daemon's record in it.
func daemonRecord() (string, []byte, bool) {
	dir, ok := stateDir()
	if !ok {
		return "", nil, false
	}
	rec, err := readRecord(dir + "/daemon.json")
	return dir, rec, err == nil
}

// recordPID is the pid of a record recordAddress accepts.
func recordPID(rec []byte) (int, bool) {
	if _, ok := recordAddress(rec); !ok {
		return 0, false
	}
	pid, _, _ := cut(string(rec)[len(`{"pid":`):], ',')
	n, err := strconv.Atoi(pid)
	return n, err == nil && n > 0
}

// stateDir is broker/paths.StateDir on Linux.
func stateDir() (string, bool) {
	if d := os.Getenv("XDG_STATE_HOME"); hasPrefix(d, "/") {
		return clean(d) + "/mcp-token-broker", true
	}
	home := os.Getenv("HOME")
	if home == "" {
		return "", false
	}
	return clean(home) + "/.local/state/mcp-token-broker", true
}

// readRecord reads at most 4 kB of path, a regular file of this user.
func readRecord(path string) ([]byte, error) {
	return readRegular(path, 4<<10, true)
}

// recordAddress returns the address of a record that is exactly
// {"pid":N,"address":"PATH"} and a newline, PATH absolute and with nothing
// encoding/json escapes; anything else reports false.
func recordAddress(rec []byte) (string, bool) {
	s := string(rec)
	const pre, mid, post = `{"pid":`, `,"address":"`, `"}` + "\n"
	if !hasPrefix(s, pre) || len(s) < len(pre)+len(mid)+len(post) || s[len(s)-len(post):] != post {
		return "", false
	}
	pid, rest, ok := cut(s[len(pre):len(s)-len(post)], ',')
	if _, err := strconv.Atoi(pid); !ok || err != nil {
		return "", false
	}
	addr, found := cutPrefix(","+rest, mid)
	if !found || !hasPrefix(addr, "/") {
		return "", false
	}
	for i := 0; i < len(addr); i++ {
		if c := addr[i]; c < ' ' || c == '"' || c == '\\' {
			return "", false
		}
	}
	return addr, true
}

// clean drops trailing slashes (filepath.Join also cleans the rest, which
// the kernel resolves alike).
func clean(d string) string {
	for d != "" && d[len(d)-1] == '/' {
		d = d[:len(d)-1]
	}
	return d
}

// askDaemon returns what the running daemon answers for q: from its memo
// when it wrote one for the named profile (fromDaemonMemo), else asked
// for the profile's headers over its socket. The socket's folder must be this user's
// alone (not a link) and the process listening must run as this user, or
// it is not our daemon (what broker/localapi's dial checks). It reports
// false on anything else, within answerWithin.
func askDaemon(q query, server, serverURL string) (string, bool) {
	dir, rec, ok := daemonRecord()
	if !ok {
		return "", false
	}
	// What the daemon answers a named profile is in its memo, if it
	// wrote one: no need to wake it. A named server's ask is the
	// daemon's to judge (a second one soon gets a fresh token) unless
	// its ask record shows it is not a second one (firstAsk).
	if pid, ok := recordPID(rec); ok && q.profile != "" {
		if start, ok := ProcessStart(pid); ok {
			now := time.Now()
			tok, ok := memoToken(dir, q.profile, pid, start, q.minValidity, now)
			if ok && (server == "" || firstAsk(dir, AskKey(q.profile, server, serverURL), pid, start, tok, now)) {
				return tok, true
			}
		}
	}
	path, ok := recordAddress(rec)
	if !ok {
		return "", false
	}
	sockDir := path[:lastSlash(path)]
	uid := os.Getuid()
	var st syscall.Stat_t
	if syscall.Lstat(sockDir, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFDIR || int(st.Uid) != uid || st.Mode&0o077 != 0 {
		return "", false
	}
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return "", false
	}
	defer syscall.Close(fd)
	deadline := time.Now().Add(answerWithin)
	// A blocking connect to a Unix socket waits for SO_SNDTIMEO when the
	// daemon's backlog is full.
	if !setTimeout(fd, syscall.SO_SNDTIMEO, deadline) || syscall.Connect(fd, &syscall.SockaddrUnix{Name: path}) != nil {
		return "", false
	}
	cred, err := syscall.GetsockoptUcred(fd, syscall.SOL_SOCKET, syscall.SO_PEERCRED)
	if err != nil || int(cred.Uid) != uid {
		return "", false
	}
	req := "GET /v1/headers?" + queryString(q.profile, q.minValidity, server, serverURL) + " HTTP/1.1\r\nHost: broker\r\nConnection: close\r\n\r\n"
	for b := []byte(req); len(b) > 0; {
		n, err := syscall.Write(fd, b)
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return "", false
		}
		b = b[n:]
	}
	// Connection: close: the daemon closes after its answer. (Read
	// straight into the answer: a buffer on the stack beside it would
	// make the stack grow, which costs more than the read.)
	ans := make([]byte, 0, 2<<10)
	for {
		if !setTimeout(fd, syscall.SO_RCVTIMEO, deadline) {
			return "", false
		}
		if len(ans) == cap(ans) {
			if len(ans) >= 128<<10 {
				return "", false
			}
			ans = append(ans, 0)[:len(ans)]
		}
		n, err := syscall.Read(fd, ans[len(ans):cap(ans)])
		if errors.Is(err, syscall.EINTR) {
			continue
		}
		if err != nil {
			return "", false
		}
		if n == 0 {
			break
		}
		ans = ans[:len(ans)+n]
		// The whole answer is in: no need to wait for the daemon to
		// close the connection (on a busy machine, one more wait for
		// its turn on a CPU).
		if body, ok := response(ans); ok {
			return headersAnswer(body)
		}
	}
	body, ok := response(ans)
	if !ok {
		return "", false
	}
	return headersAnswer(body)
}

// setTimeout sets the socket option (SO_SNDTIMEO, SO_RCVTIMEO) to what is
// left until deadline; false once it has passed.
func setTimeout(fd, opt int, deadline time.Time) bool {
	left := time.Until(deadline)
	if left <= 0 {
		return false
	}
	tv := syscall.NsecToTimeval(left.Nanoseconds())
	return syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, opt, &tv) == nil
}

func lastSlash(s string) int {
	i := len(s) - 1
	for i > 0 && s[i] != '/' {
		i--
	}
	return i
}

// fromDaemonMemo returns the token the daemon of pid answers for profile
// at now, with minValidity, from its memo (see memo.go): when the memo is
// that process's (the pid and its start time: not a pid reused after the
// daemon died), the token whose hash the memo holds, found among the
// secrets of the cache file, while its expiry is minValidity away (what
// the daemon checks; by a margin).
func fromDaemonMemo(dir, profile string, pid int, minValidity time.Duration, now time.Time) (string, bool) {
	start, ok := ProcessStart(pid)
	if !ok {
		return "", false
	}
	return memoToken(dir, profile, pid, start, minValidity, now)
}

// memoToken is fromDaemonMemo for the daemon of pid started at start.
func memoToken(dir, profile string, pid int, start string, minValidity time.Duration, now time.Time) (string, bool) {
	if !privateDir(dir) {
		return "", false
	}
	b, err := readRegular(dir+"/"+DaemonMemoFile(profile), maxMemo, true)
	if err != nil {
		return "", false
	}
	s := string(b)
	want := MemoVersion + "\ndaemon " + strconv.Itoa(pid) + " " + start + "\ntoken "
	rest, ok := cutPrefix(s, want)
	sum, rest, _ := cut(rest, ' ')
	n, rest, _ := cut(rest, ' ')
	exp, rest, _ := cut(rest, '\n')
	length, err1 := strconv.Atoi(n)
	expires, err2 := strconv.ParseInt(exp, 10, 64)
	if !ok || rest != "end\n" || err1 != nil || err2 != nil || length <= 0 || len(sum) != 32 {
		return "", false
	}
	if time.Unix(expires, 0).Sub(now) < minValidity+margin {
		return "", false
	}
	cache, err := readRegular(dir+"/"+plainCache, maxFile, false)
	if err != nil {
		return "", false
	}
	return findSecret(string(cache), sum, length)
}

// findSecret returns the "secret" of the cache whose hash is sum.
func findSecret(cache, sum string, n int) (string, bool) {
	const key = `"secret":"`
	for i := index(cache, key); i >= 0; i = index(cache, key) {
		cache = cache[i+len(key):]
		if len(cache) > n && cache[n] == '"' && jwtShaped(cache[:n]) && Sum([]byte(cache[:n])) == sum {
			return cache[:n], true
		}
	}
	return "", false
}

// firstAsk reports whether the daemon of pid (started at start) would
// give tok, its current token, to the server of key asking at now, as it
// gives it to a first ask (broker/reask.Memo.Ask: the server was not
// given tok within ReaskWindow), and if so records that ask as the
// daemon would, in the server's ask record (see memo.go), all under the
// record's flock, which the daemon takes too. Anything else (no record
// yet: the daemon creates it at the server's first ask ever; a second
// ask; a record busy, not this user's or not whole; a write that fails)
// reports false: the daemon then judges the ask over its socket.
func firstAsk(dir, key string, pid int, start, tok string, now time.Time) bool {
	path := dir + "/" + AskFile(key)
	fd, err := syscall.Open(path, syscall.O_RDWR|syscall.O_NOFOLLOW|syscall.O_CLOEXEC|syscall.O_NONBLOCK, 0)
	if err != nil {
		return false
	}
	defer syscall.Close(fd) // and with it the lock
	if syscall.Flock(fd, syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return false
	}
	// Still the record (the daemon removes one it failed to write), a
	// file of this user's alone.
	var st, named syscall.Stat_t
	if syscall.Fstat(fd, &st) != nil || st.Mode&syscall.S_IFMT != syscall.S_IFREG || int(st.Uid) != os.Getuid() || st.Mode&0o077 != 0 || st.Size > maxMemo ||
		syscall.Lstat(path, &named) != nil || named.Ino != st.Ino || named.Dev != st.Dev {
		return false
	}
	b := make([]byte, st.Size)
	if n, err := syscall.Pread(fd, b, 0); err != nil || n != len(b) {
		return false
	}
	// A record of another daemon is none (this one knows nothing of
	// its asks); one that is not whole (its writing failed) is the
	// daemon's to judge, and so is a second ask.
	sum := Sum([]byte(tok))
	p, st0, at, was, forced, ok := ParseAsk(b)
	switch {
	case !ok:
		return false
	case p != pid || st0 != start:
		forced = time.Time{}
	case was == sum && now.Sub(at) >= 0 && now.Sub(at) < ReaskWindow:
		return false
	}
	// Over the old record, cut only when longer (a record is as long as
	// the last but for the digits: truncating to 0 first costs the file
	// system a block freed and allocated again).
	rec := []byte(AskRecord(pid, start, now, sum, forced))
	if w, err := syscall.Pwrite(fd, rec, 0); err != nil || w != len(rec) {
		return false
	}
	return st.Size <= int64(len(rec)) || syscall.Ftruncate(fd, int64(len(rec))) == nil
}
