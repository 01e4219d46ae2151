// Package reask tells a token request that follows a refusal from the
// ones before it. Claude Code runs its headersHelper on every connect and
// again after a 401, naming the server (CLAUDE_CODE_MCP_SERVER_NAME): when
// the same server asks again soon for the token it was just given, that
// token was refused while still valid (revoked, Continuous Access
// Evaluation, a key rollover) and must be replaced, not handed out again.
//
// A Memo remembers, per server, when it was last given which token (a
// hash of it, never the token), in memory (the daemon) or in a folder
// (`broker headers` without a daemon, one process per ask), and for the
// daemon also in files that the hot path shares (Shared).
package reask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

// Window is how soon a second ask counts as a re-ask, and how often a
// server may have its token replaced this way.
const Window = hotpath.ReaskWindow

// Memo is safe for concurrent use; with a folder, also across processes
// (a lost update between two processes costs at most one extra refresh).
type Memo struct {
	dir    string  // "" = in memory only
	shared *shared // the daemon's: also in the hot path's ask records (Shared)

	mu sync.Mutex
	m  map[string]entry
}

type entry struct {
	At     time.Time `json:"at"`     // when the server was last given Token
	Token  string    `json:"token"`  // sha256 of that token, hex
	Forced time.Time `json:"forced"` // when it last had its token replaced
}

// New returns a Memo in memory.
func New() *Memo { return &Memo{m: map[string]entry{}} }

// InDir returns a Memo kept in dir (created 0700 at the first write).
func InDir(dir string) *Memo { return &Memo{dir: dir, m: map[string]entry{}} }

// Key is the Memo key of a server of a profile.
func Key(profile, server, url string) string { return hotpath.AskKey(profile, server, url) }

// Ask records that the server of key asks at now and would get tok, and
// reports whether tok must be replaced first: the server was given the
// same token less than Window ago and has not had a replacement within
// Window (so a server that keeps refusing cannot cause a refresh loop).
// After a replacement, call Given with the new token.
func (m *Memo) Ask(key, tok string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, r := m.loadShared(key)
	h := m.hash(tok)
	again := e.Token == h && now.Sub(e.At) >= 0 && now.Sub(e.At) < Window &&
		(e.Forced.IsZero() || now.Sub(e.Forced) >= Window || now.Before(e.Forced))
	if again {
		e.Forced = now
	}
	e.At, e.Token = now, h
	m.storeShared(key, e, r)
	return again
}

// Given records that the server of key was given tok at now (the
// replacement that Ask asked for).
func (m *Memo) Given(key, tok string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e, r := m.loadShared(key)
	e.At, e.Token = now, m.hash(tok)
	m.storeShared(key, e, r)
}

// loadShared is load, and with Shared the key's ask record locked (until
// storeShared) and what it holds when the hot path recorded an ask since:
// the later ask, and the later replacement of the two.
func (m *Memo) loadShared(key string) (entry, *record) {
	e := m.load(key)
	if m.shared == nil {
		return e, nil
	}
	r, f, ok := m.shared.open(key)
	if ok && f.At.After(e.At) {
		if e.Forced.After(f.Forced) {
			f.Forced = e.Forced
		}
		e = f
	}
	return e, r
}

// storeShared is store, and with Shared writes the record and unlocks it.
func (m *Memo) storeShared(key string, e entry, r *record) {
	m.store(key, e)
	if r != nil {
		r.write(m.shared, e)
	}
}

// hash is the hash of a token in an entry: the hot path's with Shared
// (it holds no sha256: see cmd/broker/hotpath).
func (m *Memo) hash(tok string) string {
	if m.shared != nil {
		return hotpath.Sum([]byte(tok))
	}
	return hash(tok)
}

func (m *Memo) load(key string) entry {
	if m.dir == "" {
		return m.m[key]
	}
	var e entry
	b, err := os.ReadFile(m.path(key))
	if err == nil && len(b) < 4096 {
		_ = json.Unmarshal(b, &e)
	}
	return e
}

func (m *Memo) store(key string, e entry) {
	if m.dir == "" {
		m.m[key] = e
		return
	}
	// Best effort: without the file the next ask is simply not a re-ask.
	b, err := json.Marshal(e)
	if err != nil || os.MkdirAll(m.dir, 0o700) != nil {
		return
	}
	f, err := os.CreateTemp(m.dir, ".ask-*")
	if err != nil {
		return
	}
	_, werr := f.Write(b)
	cerr := f.Close()
	if werr != nil || cerr != nil || os.Rename(f.Name(), m.path(key)) != nil {
		os.Remove(f.Name())
	}
}

func (m *Memo) path(key string) string { return filepath.Join(m.dir, hash(key)[:24]+".json") }

func hash(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
