package proxy

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"sync"

	"github.com/gofrs/flock"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

// CredentialsFile is the local credentials' file in the state folder.
const CredentialsFile = "proxy-credentials.json"

// Credentials are the proxied targets' local credentials: random 256-bit
// values, one per target, kept in a 0600 file in the state folder. A
// client presents its target's credential to the proxy; it is never an
// Entra token and never leaves the machine. Both `broker connect` and the
// daemon use the file; a file lock serialises them. Safe for concurrent
// use.
type Credentials struct {
	path string
	// writeMu serialises this process's writers: a flock.Flock held by one
	// goroutine does not block another using the same Flock.
	writeMu sync.Mutex
	lock    *flock.Flock

	mu   sync.Mutex
	seen os.FileInfo       // the file as last read (nil: read again)
	byID map[string]string // target id -> credential
}

// NewCredentials uses the file in stateDir (created on first use).
func NewCredentials(stateDir string) *Credentials {
	p := filepath.Join(stateDir, CredentialsFile)
	return &Credentials{path: p, lock: flock.New(p + ".lock")}
}

// credentialsFile is the file's content.
type credentialsFile struct {
	Version     int               `json:"version"`
	Credentials map[string]string `json:"credentials"`
}

// ID is a target's path on the proxy: profile/client/server, each part
// escaped for a URL path.
func ID(t config.Target) string {
	return url.PathEscape(t.Profile) + "/" + url.PathEscape(t.Client) + "/" + url.PathEscape(t.Server)
}

// URL is the loopback URL of a target on the proxy at port.
func URL(port int, t config.Target) string {
	return "http://127.0.0.1:" + strconv.Itoa(port) + "/" + ID(t)
}

// Ensure returns the target's credential, making one when it has none.
// It blocks on the file lock.
func (c *Credentials) Ensure(id string) (string, error) {
	var out string
	err := c.update(func(m map[string]string) bool {
		if v, ok := m[id]; ok {
			out = v
			return false
		}
		var b [32]byte
		if _, err := rand.Read(b[:]); err != nil {
			panic(err) // crypto/rand never fails on supported systems
		}
		out = base64.RawURLEncoding.EncodeToString(b[:])
		m[id] = out
		return true
	})
	return out, err
}

// Revoke forgets the target's credential: a client that still holds it is
// refused from then on. Revoking an unknown id does nothing.
func (c *Credentials) Revoke(id string) error {
	return c.update(func(m map[string]string) bool {
		if _, ok := m[id]; !ok {
			return false
		}
		delete(m, id)
		return true
	})
}

// Match reports whether presented is the target's credential, comparing
// in constant time. It re-reads the file when it changed, so a credential
// made by `broker connect` works at once.
func (c *Credentials) Match(id, presented string) bool {
	want, ok := c.lookup(id)
	if !ok || presented == "" {
		return false
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(presented)) == 1
}

// Known reports whether the target has a credential.
func (c *Credentials) Known(id string) bool {
	_, ok := c.lookup(id)
	return ok
}

// Get returns the target's credential without making one.
func (c *Credentials) Get(id string) (string, bool) { return c.lookup(id) }

func (c *Credentials) lookup(id string) (string, bool) {
	fi, _ := os.Stat(c.path)
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || !sameFile(c.seen, fi) {
		m, err := c.read()
		if err != nil {
			return "", false
		}
		c.byID, c.seen = m, fi
	}
	v, ok := c.byID[id]
	return v, ok
}

// sameFile reports whether b is the file a was: every write replaces the
// file (a new inode), so this also notices two writes within one tick of
// the file system's clock.
func sameFile(a, b os.FileInfo) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return os.SameFile(a, b) && a.Size() == b.Size() && a.ModTime().Equal(b.ModTime())
}

// read loads the file (an absent file is empty).
func (c *Credentials) read() (map[string]string, error) {
	b, err := os.ReadFile(c.path)
	if errors.Is(err, fs.ErrNotExist) {
		return map[string]string{}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.path, err)
	}
	var f credentialsFile
	if err := json.Unmarshal(b, &f); err != nil {
		return nil, fmt.Errorf("reading %s: %w", c.path, err)
	}
	if f.Credentials == nil {
		f.Credentials = map[string]string{}
	}
	return f.Credentials, nil
}

// update changes the file under the lock; edit reports whether it changed
// the map.
func (c *Credentials) update(edit func(map[string]string) bool) error {
	if err := os.MkdirAll(filepath.Dir(c.path), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(c.path), err)
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if err := c.lock.Lock(); err != nil {
		return fmt.Errorf("locking %s: %w", c.path, err)
	}
	defer c.lock.Unlock()
	m, err := c.read()
	if err != nil {
		return err
	}
	if !edit(m) {
		return nil
	}
	b, err := json.MarshalIndent(credentialsFile{Version: 1, Credentials: m}, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(c.path), ".proxy-credentials-*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.path, err)
	}
	defer os.Remove(tmp.Name())
	// CreateTemp makes the file 0600 (on Windows the profile's ACLs
	// protect it).
	if _, err := tmp.Write(append(b, '\n')); err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), c.path)
	}
	if err != nil {
		return fmt.Errorf("writing %s: %w", c.path, err)
	}
	c.mu.Lock()
	c.byID, c.seen = nil, nil // read again at the next lookup
	c.mu.Unlock()
	return nil
}
