package store

import (
	"bytes"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// The container holds one MSAL cache blob per profile. On disk it is JSON,
// either as is (msal-cache.json) or sealed with AES-256-GCM
// (msal-cache.bin):
//
//	magic "MTBCACHE" | version uint16 BE | key ID (8 bytes) | nonce (12 bytes) | ciphertext
//
// The first 18 bytes are the additional authenticated data. The key ID is the
// start of SHA-256 over a label and the key: it tells "encrypted with another
// key" from "damaged" without revealing anything usable about the key.
const (
	formatName    = "mcp-token-broker/msal-cache"
	formatVersion = 1
	magic         = "MTBCACHE"
	headerLen     = len(magic) + 2 + keyIDLen
	keyIDLen      = 8
	keyLen        = 32
)

// container is the content of a cache file.
type container struct {
	Format   string           `json:"format"`
	Version  int              `json:"version"`
	Profiles map[string]entry `json:"profiles"`
	// Forgotten records when a profile was signed out, so that merging an
	// older copy of the cache (a migration between the plain and the
	// encrypted file) does not bring it back.
	Forgotten map[string]time.Time `json:"forgotten,omitempty"`
}

// entry is one profile's MSAL cache. MSAL's blob is JSON and is kept as is
// in MSAL; anything else (the cache interface calls it opaque) goes to Data.
type entry struct {
	Updated time.Time       `json:"updated"`
	MSAL    json.RawMessage `json:"msal,omitempty"`
	Data    []byte          `json:"data,omitempty"`
}

func newContainer() *container {
	return &container{
		Format:    formatName,
		Version:   formatVersion,
		Profiles:  map[string]entry{},
		Forgotten: map[string]time.Time{},
	}
}

func newEntry(blob []byte, now time.Time) entry {
	if json.Valid(blob) {
		return entry{Updated: now, MSAL: bytes.Clone(blob)}
	}
	return entry{Updated: now, Data: bytes.Clone(blob)}
}

func (e entry) blob() []byte {
	if e.MSAL != nil {
		return e.MSAL
	}
	return e.Data
}

// put stores a profile's blob.
func (c *container) put(profile string, blob []byte, now time.Time) {
	c.Profiles[profile] = newEntry(blob, now)
	delete(c.Forgotten, profile)
}

// forget removes a profile and remembers when.
func (c *container) forget(profile string, now time.Time) {
	delete(c.Profiles, profile)
	c.Forgotten[profile] = now
}

// merge takes from src every profile (or sign-out) that is newer than what c
// has, and reports whether c changed.
func (c *container) merge(src *container) bool {
	changed := false
	for name, e := range src.Profiles {
		cur, ok := c.Profiles[name]
		if ok && !e.Updated.After(cur.Updated) {
			continue
		}
		if t, gone := c.Forgotten[name]; gone && !e.Updated.After(t) {
			continue
		}
		c.put(name, e.blob(), e.Updated)
		changed = true
	}
	for name, t := range src.Forgotten {
		if cur, ok := c.Profiles[name]; ok && !t.After(cur.Updated) {
			continue
		}
		if old, ok := c.Forgotten[name]; ok && !t.After(old) {
			continue
		}
		_, had := c.Profiles[name]
		c.forget(name, t)
		changed = changed || had
	}
	return changed
}

// errNewer is returned for a file written by a newer format version.
type errNewer struct{ version int }

func (e *errNewer) Error() string {
	return fmt.Sprintf("it was written by a newer version of mcp-token-broker (cache format %d, this one reads up to %d)", e.version, formatVersion)
}

// errUnreadable says why a file cannot be used; such a file is set aside.
type errUnreadable struct{ reason string }

func (e *errUnreadable) Error() string { return e.reason }

func unreadable(format string, args ...any) error {
	return &errUnreadable{reason: fmt.Sprintf(format, args...)}
}

// errOtherKey: the file was sealed with a key other than the one we hold.
var errOtherKey = &errUnreadable{reason: "it is encrypted with a key that is not the one in the keyring (was the keyring reset or replaced?)"}

// encodePlain writes compact JSON without HTML escaping, so that MSAL's own
// (compact) JSON comes back byte for byte.
func encodePlain(c *container) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(c); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func decodePlain(b []byte) (*container, error) {
	c := newContainer()
	c.Format, c.Version = "", 0
	if err := json.Unmarshal(b, c); err != nil {
		// A newer format may not fit this one's shape: look at the header
		// alone before calling the file damaged.
		var head struct {
			Format  string `json:"format"`
			Version int    `json:"version"`
		}
		if json.Unmarshal(b, &head) != nil {
			return nil, unreadable("it is not valid JSON")
		}
		c.Format, c.Version = head.Format, head.Version
		if c.Format == formatName && c.Version <= formatVersion {
			return nil, unreadable("it is damaged")
		}
	}
	if c.Format != formatName {
		return nil, unreadable("it is not an mcp-token-broker cache file")
	}
	if c.Version > formatVersion {
		return nil, &errNewer{version: c.Version}
	}
	if c.Version < 1 {
		return nil, unreadable("it has an invalid format version %d", c.Version)
	}
	if c.Profiles == nil {
		c.Profiles = map[string]entry{}
	}
	if c.Forgotten == nil {
		c.Forgotten = map[string]time.Time{}
	}
	return c, nil
}

// keyID identifies a key without revealing it.
func keyID(key []byte) []byte {
	h := sha256.New()
	h.Write([]byte("mcp-token-broker cache key id\x00"))
	h.Write(key)
	return h.Sum(nil)[:keyIDLen]
}

func newGCM(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

func encodeSealed(c *container, key []byte) ([]byte, error) {
	plain, err := encodePlain(c)
	if err != nil {
		return nil, err
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, headerLen+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, magic...)
	out = binary.BigEndian.AppendUint16(out, formatVersion)
	out = append(out, keyID(key)...)
	nonce := make([]byte, aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	out = append(out, nonce...)
	return aead.Seal(out, nonce, plain, out[:headerLen]), nil
}

// sealedHeader reads the header of an encrypted file: its format version
// and key ID.
func sealedHeader(b []byte) (version int, id []byte, err error) {
	if len(b) < len(magic) || string(b[:len(magic)]) != magic {
		return 0, nil, unreadable("it is not an mcp-token-broker encrypted cache file")
	}
	if len(b) < headerLen {
		return 0, nil, unreadable("it is truncated")
	}
	version = int(binary.BigEndian.Uint16(b[len(magic):]))
	return version, b[len(magic)+2 : headerLen], nil
}

func decodeSealed(b, key []byte) (*container, error) {
	version, id, err := sealedHeader(b)
	if err != nil {
		return nil, err
	}
	if version > formatVersion {
		return nil, &errNewer{version: version}
	}
	if version < 1 {
		return nil, unreadable("it has an invalid format version %d", version)
	}
	if !bytes.Equal(id, keyID(key)) {
		return nil, errOtherKey
	}
	aead, err := newGCM(key)
	if err != nil {
		return nil, err
	}
	rest := b[headerLen:]
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, unreadable("it is truncated")
	}
	plain, err := aead.Open(nil, rest[:aead.NonceSize()], rest[aead.NonceSize():], b[:headerLen])
	if err != nil {
		return nil, unreadable("it does not decrypt: it is damaged")
	}
	c, err := decodePlain(plain)
	var u *errUnreadable
	if errors.As(err, &u) {
		return nil, unreadable("its content is damaged")
	}
	return c, err
}
