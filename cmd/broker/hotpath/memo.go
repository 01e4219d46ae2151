package hotpath

import (
	"hash/fnv"
	"os"
	"strconv"
	"time"
)

// A memo is what the hot path answers from without the daemon (see
// fromCache), one per profile as named on the command line, in the state
// folder (MemoFile). cmd/broker/hotpath/memo writes it after the command
// line proper answered from the cache; it never holds a token. Lines:
//
//	mcp-token-broker hot path memo 1
//	HOME=…                      one line per MemoEnv variable, in order:
//	XDG_CONFIG_HOME=…           its value when the memo was written
//	XDG_STATE_HOME=…
//	BROKER_CONFIG=…
//	BROKER_ADMIN_CONFIG=…
//	storage file|auto           the config's storage (auto fell back to the file)
//	token OFF LEN CACHED_AT EXPIRES_ON REFRESH_ON EXP
//	file SUM PATH               the cache file (the token is its bytes OFF to OFF+LEN)
//	file SUM|- PATH             every other file the answer depended on (- = absent)
//	end
//
// The times are Unix seconds (0: not set): the cache entry's cached_at,
// expires_on and refresh_on, and the token's exp claim.

// MemoVersion is the first line of a memo.
const MemoVersion = "mcp-token-broker hot path memo 1"

// MemoEnv are the variables that choose the files the command line reads
// (config, admin config, state folder), in the memo's order.
var MemoEnv = [...]string{"HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME", "BROKER_CONFIG", "BROKER_ADMIN_CONFIG"}

// Names in the state folder (broker/store's, checked by tests).
const (
	plainCache  = "msal-cache.json"
	sealedCache = "msal-cache.bin"
	cacheLock   = "msal-cache.lock"
)

// MSALWindow is how much validity MSAL requires of a cached access token
// (auth.MSALRefreshWindow, checked by tests).
const MSALWindow = 5 * time.Minute

// margin keeps the hot path clear of every bound by a second: near one it
// leaves the answer to the command line proper, which decides exactly.
const margin = time.Second

// maxMemo and maxFile bound what the hot path reads (the config's cap,
// files.MaxConfigFile; a cache of a few profiles is a few kB).
const (
	maxMemo = 16 << 10
	maxFile = 4 << 20
)

// MemoFile is the memo of the profile as named on the command line
// ("" when none is named), in the state folder.
func MemoFile(profile string) string {
	const hex = "0123456789abcdef"
	b := []byte("hotpath-")
	for i := 0; i < len(profile); i++ {
		b = append(b, hex[profile[i]>>4], hex[profile[i]&15])
	}
	return string(append(b, ".memo"...))
}

// Sum is the memo's hash of a file's content: FNV-1a, 128 bits, in hex. It
// tells a changed file from the same one (it is not a defence against
// someone who can write the user's files: they own the tokens anyway).
func Sum(b []byte) string {
	h := fnv.New128a()
	h.Write(b)
	const hex = "0123456789abcdef"
	var out []byte
	for _, c := range h.Sum(nil) {
		out = append(out, hex[c>>4], hex[c&15])
	}
	return string(out)
}

// A daemon memo is what the running daemon answers for a profile, named,
// from its current token (broker/daemon writes it when it takes a token
// and removes it before it changes or drops it), for `headers` and
// `token` asked with the daemon running. It holds a hash of the token,
// not the token, which the hot path finds in the cache file (MSAL's
// "secret"):
//
//	mcp-token-broker hot path memo 1
//	daemon PID START            the daemon that answers: its pid and start time (ProcessStart)
//	token SUM LEN EXPIRES       Sum of the token, its length, its expiry (Unix seconds)
//	end

// DaemonMemoFile is the daemon's memo of the named profile.
func DaemonMemoFile(profile string) string {
	return "hotpath-daemon-" + MemoFile(profile)[len("hotpath-"):]
}

// DaemonMemo is the daemon memo of tok, which the daemon of pid, started
// at start (ProcessStart), answers while it has at least the validity
// asked for left before expires.
func DaemonMemo(pid int, start, tok string, expires time.Time) string {
	return MemoVersion + "\ndaemon " + strconv.Itoa(pid) + " " + start + "\ntoken " + Sum([]byte(tok)) + " " + strconv.Itoa(len(tok)) + " " +
		strconv.FormatInt(expires.Unix(), 10) + "\nend\n"
}

// ProcessStart is when the process pid started, in clock ticks after
// boot (/proc/PID/stat's starttime, Linux): with the pid, it names one
// process, a pid being reused by another.
func ProcessStart(pid int) (string, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return "", false
	}
	// pid (comm) state ppid …: comm may hold spaces and parentheses;
	// starttime (field 22) is the 20th after it (state is field 3).
	s := string(b)
	i := len(s) - 1
	for i >= 0 && s[i] != ')' {
		i--
	}
	if i < 0 {
		return "", false
	}
	s = s[i+1:]
	for n := 0; n < 19; n++ {
		for s != "" && s[0] == ' ' {
			s = s[1:]
		}
		for s != "" && s[0] != ' ' {
			s = s[1:]
		}
	}
	for s != "" && s[0] == ' ' {
		s = s[1:]
	}
	f := s
	for i := 0; i < len(f); i++ {
		if f[i] == ' ' {
			f = f[:i]
			break
		}
	}
	if _, err := strconv.ParseUint(f, 10, 64); err != nil || f == "" {
		return "", false
	}
	return f, true
}

// An ask record is what the daemon remembers of a named server's last ask
// for a profile's token (broker/reask: a second ask within ReaskWindow
// for the token just given gets a fresh one), one file per server in the
// state folder (AskFile), kept by the daemon and written by the hot path
// too when it answers a server's first ask from the daemon's memo, under
// an exclusive flock of the file (both read, decide and write under it):
//
//	mcp-token-broker hot path ask 1
//	daemon PID START            the daemon it is of (another's is no record)
//	asked AT SUM FORCED         when the server was last given the token of Sum SUM,
//	end                         when it last had its token replaced (Unix ns, 0: never)
//
// It holds a hash of the token, not the token.

// ReaskWindow is reask.Window (tests check it).
const ReaskWindow = 60 * time.Second

// AskKey is reask.Key: the server (with its URL) of a profile.
func AskKey(profile, server, url string) string { return profile + "\x00" + server + "\x00" + url }

// AskFile is the ask record of key (AskKey), in the state folder.
func AskFile(key string) string { return "hotpath-ask-" + Sum([]byte(key)) + ".memo" }

// AskRecord is the ask record of the daemon of pid, started at start.
func AskRecord(pid int, start string, at time.Time, sum string, forced time.Time) string {
	return askVersion + "\ndaemon " + strconv.Itoa(pid) + " " + start + "\nasked " + strconv.FormatInt(nanos(at), 10) + " " + sum + " " +
		strconv.FormatInt(nanos(forced), 10) + "\nend\n"
}

const askVersion = "mcp-token-broker hot path ask 1"

// ParseAsk reads an ask record: the daemon it is of (pid, start) and the
// ask; false for anything else.
func ParseAsk(b []byte) (pid int, start string, at time.Time, sum string, forced time.Time, ok bool) {
	rest, ok := cutPrefix(string(b), askVersion+"\ndaemon ")
	p, rest, _ := cut(rest, ' ')
	start, rest, _ = cut(rest, '\n')
	rest, ok2 := cutPrefix(rest, "asked ")
	a, rest, _ := cut(rest, ' ')
	sum, rest, _ = cut(rest, ' ')
	f, rest, _ := cut(rest, '\n')
	pid, err0 := strconv.Atoi(p)
	an, err1 := strconv.ParseInt(a, 10, 64)
	fn, err2 := strconv.ParseInt(f, 10, 64)
	if !ok || !ok2 || rest != "end\n" || err0 != nil || err1 != nil || err2 != nil || start == "" || len(sum) != 32 || an < 0 || fn < 0 {
		return 0, "", time.Time{}, "", time.Time{}, false
	}
	return pid, start, fromNanos(an), sum, fromNanos(fn), true
}

func nanos(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func fromNanos(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}
