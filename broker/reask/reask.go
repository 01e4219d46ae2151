// Package reask tells a token request that follows a refusal from the
// ones before it. Claude Code runs its headersHelper on every connect and
// again after a 401, naming the server (CLAUDE_CODE_MCP_SERVER_NAME): when
// the same server asks again soon for the token it was just given, that
// token was refused while still valid (revoked, Continuous Access
// Evaluation, a key rollover) and must be replaced, not handed out again.
//
// A Memo remembers, per server, when it was last given which token (a
// hash of it, never the token), in memory (the daemon) or in a folder
// (`broker headers` without a daemon, one process per ask).
package reask

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// Window is how soon a second ask counts as a re-ask, and how often a
// server may have its token replaced this way.
const Window = 60 * time.Second

// Memo is safe for concurrent use; with a folder, also across processes
// (a lost update between two processes costs at most one extra refresh).
type Memo struct {
	dir string // "" = in memory only

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
func Key(profile, server, url string) string { return profile + "\x00" + server + "\x00" + url }

// Ask records that the server of key asks at now and would get tok, and
// reports whether tok must be replaced first: the server was given the
// same token less than Window ago and has not had a replacement within
// Window (so a server that keeps refusing cannot cause a refresh loop).
// After a replacement, call Given with the new token.
func (m *Memo) Ask(key, tok string, now time.Time) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.load(key)
	h := hash(tok)
	again := e.Token == h && now.Sub(e.At) >= 0 && now.Sub(e.At) < Window &&
		(e.Forced.IsZero() || now.Sub(e.Forced) >= Window || now.Before(e.Forced))
	if again {
		e.Forced = now
	}
	e.At, e.Token = now, h
	m.store(key, e)
	return again
}

// Given records that the server of key was given tok at now (the
// replacement that Ask asked for).
func (m *Memo) Given(key, tok string, now time.Time) {
	m.mu.Lock()
	defer m.mu.Unlock()
	e := m.load(key)
	e.At, e.Token = now, hash(tok)
	m.store(key, e)
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
