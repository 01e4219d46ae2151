// Package store persists MSAL Go's token cache between runs and between
// processes (the daemon, `broker token`, `broker login`), one MSAL cache per
// profile, in a single file in the state folder:
//
//   - storage "keyring" (and "auto" when a keyring answers): msal-cache.bin,
//     sealed with AES-256-GCM under a random 32-byte key that lives in the OS
//     keyring (service "mcp-token-broker", user "cache-key"). Only the key
//     goes to the keyring: keyring values are small on Windows (2560 bytes)
//     and macOS (about 3000), and a cache holds several tokens.
//   - storage "file" (and "auto" with no usable keyring): msal-cache.json,
//     plain, readable only by the user (0600, folder 0700).
//
// Every read and every read-modify-write holds a file lock
// (msal-cache.lock) with a bounded wait, and writes are atomic (temporary
// file in the same folder, fsync, rename). A file that cannot be read (damaged,
// foreign, or sealed with a key the keyring no longer has) is never
// overwritten: it is renamed to NAME.unreadable-YYYYMMDD-HHMMSS, the store
// starts empty and says so in Warning and in the log. A file written by a
// newer format version is refused with an error. Neither the key nor the
// cache content is ever logged or put in an error.
package store

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"
	"github.com/gofrs/flock"

	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
)

// Storage modes, as Mode reports them.
const (
	ModeKeyring = "keyring" // key in the keyring, AES-GCM sealed file
	ModeFile    = "file"    // plain file
)

// Names in the state folder and in the keyring.
const (
	SealedFile     = "msal-cache.bin"
	PlainFile      = "msal-cache.json"
	LockFile       = "msal-cache.lock"
	KeyringService = "mcp-token-broker"
	KeyringUser    = "cache-key"
)

// DefaultTimeout bounds an operation (lock wait, keyring, file I/O) whose
// context has no deadline, as MSAL's cache interface asks.
const DefaultTimeout = 10 * time.Second

// Options configure Open.
type Options struct {
	// Dir is the folder of the cache files; empty means paths.StateDir().
	// It is created 0700.
	Dir string
	// Storage is "auto" (default when empty), "keyring" or "file".
	Storage string
	// Keyring holds the cache key; nil means the OS keyring. Every call is
	// bounded by KeyringTimeout whatever the implementation.
	Keyring Keyring
	// KeyringTimeout bounds each keyring call; 0 means DefaultKeyringTimeout.
	KeyringTimeout time.Duration
	// Logger gets warnings (cache set aside, fallback, migration); nil
	// discards them.
	Logger *slog.Logger
}

// Store is the persistent token cache. It is safe for concurrent use by
// several goroutines and several processes on the same folder.
type Store struct {
	dir  string
	mode string
	kr   Keyring
	log  *slog.Logger
	lock *flock.Flock
	now  func() time.Time

	mu       sync.Mutex // serialises this process's operations; guards key and warnings
	key      []byte     // the cache key in keyring mode; never printed
	warnings []string
}

// Open opens (creating when needed) the cache in o.Dir with the storage
// o.Storage asks for. It talks to the keyring once (bounded by the keyring
// timeout) for storage "auto" and "keyring".
//
// With "keyring" and no usable keyring it fails; with "auto" it falls back to
// the plain file and says why in Warning. When the mode changed since the
// last run, it moves the cached data to the new file: a plain cache found
// while a keyring answers is sealed and the plain file removed; with storage
// "file", an encrypted cache is decrypted into the plain file when the
// keyring can still give its key. With "auto" and no keyring, an existing
// encrypted cache is left alone (the keyring may answer again next time).
//
// Errors: an invalid Storage, an unusable folder, the lock not obtained in
// time, a cache file written by a newer version.
func Open(ctx context.Context, o Options) (*Store, error) {
	storage := o.Storage
	if storage == "" {
		storage = "auto"
	}
	if storage != "auto" && storage != ModeKeyring && storage != ModeFile {
		return nil, fmt.Errorf("invalid storage %q: use auto, keyring or file", storage)
	}
	dir := o.Dir
	if dir == "" {
		d, err := paths.StateDir()
		if err != nil {
			return nil, err
		}
		dir = d
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating the state folder: %w", err)
	}
	if err := os.Chmod(dir, 0o700); err != nil {
		return nil, fmt.Errorf("restricting the state folder to its owner: %w", err)
	}
	kr := o.Keyring
	if kr == nil {
		kr = systemKeyring{}
	}
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Store{
		dir:  dir,
		kr:   BoundedKeyring(kr, o.KeyringTimeout),
		log:  log,
		lock: flock.New(filepath.Join(dir, LockFile), flock.SetPermissions(0o600)),
		now:  time.Now,
	}

	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lockFile(ctx)
	if err != nil {
		return nil, err
	}
	defer unlock()

	if storage == ModeFile {
		err = s.openFile()
	} else {
		err = s.openKeyring(storage == ModeKeyring)
	}
	if err != nil {
		return nil, err
	}
	s.log.Debug("token cache opened", "mode", s.mode, "path", s.path())
	return s, nil
}

// String describes the store without its key, so that printing a Store
// (even with %+v) never shows the key.
func (s *Store) String() string { return fmt.Sprintf("token store (%s, %s)", s.mode, s.path()) }

// GoString is String, for %#v.
func (s *Store) GoString() string { return s.String() }

// LogValue logs the mode and path, never the key.
func (s *Store) LogValue() slog.Value {
	return slog.GroupValue(slog.String("mode", s.mode), slog.String("path", s.path()))
}

// Mode reports where the cache is kept: ModeKeyring or ModeFile.
func (s *Store) Mode() string { return s.mode }

// Path returns the cache file of the current mode.
func (s *Store) Path() string { return s.path() }

// Warning returns what the user should know about the storage, or "": that
// "auto" fell back to a plain file and why, or that a cache file could not be
// read and was set aside. Several warnings are joined with "; ".
func (s *Store) Warning() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Join(s.warnings, "; ")
}

// Cache returns the MSAL cache of one profile, for public.WithCache. It is
// safe for concurrent use and across processes: Replace reads the profile's
// data fresh from the file every time (another process may have signed in),
// Export rewrites only that profile's data under the file lock.
func (s *Store) Cache(profile string) cache.ExportReplace {
	return &profileCache{s: s, profile: profile}
}

// Forget removes a profile's cached accounts and tokens (logout).
func (s *Store) Forget(ctx context.Context, profile string) error {
	return s.update(ctx, func(c *container) bool {
		c.forget(profile, s.now()) // remembered even when absent: see container.Forgotten
		return true
	})
}

// Profiles returns the names of the profiles with cached data, sorted.
func (s *Store) Profiles(ctx context.Context) ([]string, error) {
	var names []string
	err := s.view(ctx, func(c *container) {
		for name := range c.Profiles {
			names = append(names, name)
		}
	})
	slices.Sort(names)
	return names, err
}

// profileCache is one profile's cache.ExportReplace.
type profileCache struct {
	s       *Store
	profile string
}

// emptyMSALCache is what Replace gives MSAL for a profile with no data: an
// empty cache, so that a sign-out done by another process also empties this
// process's in-memory cache.
var emptyMSALCache = []byte("{}")

// Replace loads the profile's cache from the file into MSAL's memory.
func (p *profileCache) Replace(ctx context.Context, u cache.Unmarshaler, _ cache.ReplaceHints) error {
	var blob []byte
	err := p.s.view(ctx, func(c *container) {
		if e, ok := c.Profiles[p.profile]; ok {
			blob = e.blob()
		}
	})
	if err != nil {
		return err
	}
	if blob == nil {
		blob = emptyMSALCache
	}
	if err := u.Unmarshal(blob); err != nil {
		return fmt.Errorf("loading the cached tokens of profile %q: %w", p.profile, err)
	}
	return nil
}

// Export writes MSAL's whole in-memory cache as the profile's data. An empty
// MSAL cache (the last account removed) removes the profile.
func (p *profileCache) Export(ctx context.Context, m cache.Marshaler, _ cache.ExportHints) error {
	blob, err := m.Marshal()
	if err != nil {
		return fmt.Errorf("serialising the tokens of profile %q: %w", p.profile, err)
	}
	empty := isEmptyMSAL(blob)
	return p.s.update(ctx, func(c *container) bool {
		if empty {
			_, had := c.Profiles[p.profile]
			if had {
				c.forget(p.profile, p.s.now())
			}
			return had
		}
		c.put(p.profile, blob, p.s.now())
		return true
	})
}

// view runs f on the current content of the file, under the lock.
func (s *Store) view(ctx context.Context, f func(*container)) error {
	return s.update(ctx, func(c *container) bool { f(c); return false })
}

// update runs f on the current content of the file under the lock and
// writes the result back when f reports a change.
func (s *Store) update(ctx context.Context, f func(*container) bool) error {
	ctx, cancel := withDefaultTimeout(ctx)
	defer cancel()
	s.mu.Lock()
	defer s.mu.Unlock()
	unlock, err := s.lockFile(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	c, err := s.load()
	if err != nil {
		return err
	}
	if !f(c) {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.write(c)
}

// openKeyring sets the store up in keyring mode, or falls back to the plain
// file when the keyring is unusable and it is not required. Called with the
// lock held.
func (s *Store) openKeyring(required bool) error {
	key, created, err := s.keyFromKeyring()
	if err != nil {
		if required {
			return fmt.Errorf("storage is \"keyring\" but there is no usable keyring: %w", err)
		}
		s.mode = ModeFile
		msg := fmt.Sprintf("no usable keyring (%v): tokens are kept in the plain file %s, readable only by you", err, s.path())
		if exists(s.sealedPath()) {
			msg += fmt.Sprintf("; the encrypted cache %s is left as it is for when the keyring answers again", s.sealedPath())
		}
		s.warn("storage fell back to a plain file", msg)
		_, err := s.load()
		return err
	}
	s.mode = ModeKeyring
	s.key = key
	if created && exists(s.sealedPath()) {
		if err := s.setAside(s.sealedPath(), "the keyring has no key for it (was the keyring reset or replaced?)"); err != nil {
			return err
		}
	}
	c, err := s.load()
	if err != nil {
		return err
	}
	if !exists(s.plainPath()) {
		return nil
	}
	// A plain cache from a time without keyring: seal it, then remove it.
	pc, err := s.loadPath(s.plainPath(), decodePlain)
	if err != nil {
		return err
	}
	c.merge(pc)
	if err := s.write(c); err != nil {
		return err
	}
	if err := os.Remove(s.plainPath()); err != nil {
		return fmt.Errorf("removing the plain token cache after sealing it: %w", err)
	}
	s.log.Info("moved the plain token cache into the encrypted one", "from", s.plainPath(), "to", s.sealedPath())
	return nil
}

// openFile sets the store up in plain file mode (storage "file"). Called
// with the lock held.
func (s *Store) openFile() error {
	s.mode = ModeFile
	c, err := s.load()
	if err != nil {
		return err
	}
	if !exists(s.sealedPath()) {
		return nil
	}
	// An encrypted cache from storage "auto" or "keyring": decrypt it into
	// the plain file when the keyring still has its key.
	sealed := s.sealedPath()
	sc, err := s.migrateSealed()
	if err != nil {
		s.warn("encrypted cache not used", fmt.Sprintf("the encrypted token cache %s is not used with storage \"file\" (%v); it is left as it is: delete it to stop this message, or set storage back to auto", sealed, err))
		return nil
	}
	c.merge(sc)
	if err := s.write(c); err != nil {
		return err
	}
	if err := os.Remove(sealed); err != nil {
		return fmt.Errorf("removing the encrypted token cache after moving it: %w", err)
	}
	s.log.Info("moved the encrypted token cache into the plain one (storage is \"file\")", "from", sealed, "to", s.plainPath())
	return nil
}

// migrateSealed reads the encrypted file with the keyring's key, without
// creating a key or setting anything aside.
func (s *Store) migrateSealed() (*container, error) {
	v, err := s.kr.Get(KeyringService, KeyringUser)
	if errors.Is(err, ErrNotFound) {
		return nil, errors.New("the keyring has no key for it")
	}
	if err != nil {
		return nil, err
	}
	key, err := decodeKey(v)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(s.sealedPath())
	if err != nil {
		return nil, err
	}
	return decodeSealed(b, key)
}

// keyFromKeyring gets the cache key, creating and storing one when the
// keyring has none (created is then true). An error means the keyring is
// not usable.
func (s *Store) keyFromKeyring() (key []byte, created bool, err error) {
	v, err := s.kr.Get(KeyringService, KeyringUser)
	switch {
	case err == nil:
		key, err := decodeKey(v)
		if err == nil {
			return key, false, nil
		}
		s.log.Warn("the keyring holds an invalid token cache key; replacing it", "service", KeyringService, "user", KeyringUser)
	case !errors.Is(err, ErrNotFound):
		return nil, false, err
	}
	key = make([]byte, keyLen)
	if _, err := rand.Read(key); err != nil {
		return nil, false, err
	}
	if err := s.kr.Set(KeyringService, KeyringUser, base64.StdEncoding.EncodeToString(key)); err != nil {
		return nil, false, fmt.Errorf("storing the cache key in the keyring: %w", err)
	}
	return key, true, nil
}

func decodeKey(v string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(key) != keyLen {
		return nil, errors.New("the keyring holds an invalid cache key")
	}
	return key, nil
}

// load reads the file of the current mode. A missing file is an empty cache;
// an unreadable one is set aside (then empty). Called with the lock held.
func (s *Store) load() (*container, error) {
	if s.mode == ModeFile {
		return s.loadPath(s.plainPath(), decodePlain)
	}
	return s.loadPath(s.sealedPath(), func(b []byte) (*container, error) {
		c, err := decodeSealed(b, s.key)
		if errors.Is(err, errOtherKey) {
			// Another process may have replaced the key (after a keyring
			// reset): ask the keyring again before giving up on the file.
			if v, kerr := s.kr.Get(KeyringService, KeyringUser); kerr == nil {
				if key, kerr := decodeKey(v); kerr == nil {
					if c2, err2 := decodeSealed(b, key); err2 == nil {
						s.key = key
						return c2, nil
					}
				}
			}
		}
		return c, err
	})
}

func (s *Store) loadPath(path string, decode func([]byte) (*container, error)) (*container, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return newContainer(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the token cache: %w", err)
	}
	c, err := decode(b)
	var u *errUnreadable
	var n *errNewer
	switch {
	case err == nil:
		return c, nil
	case errors.As(err, &n):
		return nil, fmt.Errorf("cannot use the token cache %s: %w; upgrade mcp-token-broker, or move the file away and sign in again", path, err)
	case errors.As(err, &u):
		if err := s.setAside(path, u.reason); err != nil {
			return nil, err
		}
		return newContainer(), nil
	default:
		return nil, fmt.Errorf("reading the token cache %s: %w", path, err)
	}
}

// write replaces the file of the current mode with c.
func (s *Store) write(c *container) error {
	var b []byte
	var err error
	if s.mode == ModeFile {
		b, err = encodePlain(c)
	} else {
		b, err = encodeSealed(c, s.key)
	}
	if err != nil {
		return fmt.Errorf("encoding the token cache: %w", err)
	}
	// One writer for every file (files/atomicfile): temporary copy in the
	// same folder, fsync, rename; the copies a killed writer left behind
	// (each a whole cache) go with the next write.
	if _, err := atomicfile.WriteFileMode(context.Background(), s.path(), b, 0o600); err != nil {
		return fmt.Errorf("writing the token cache: %w", err)
	}
	return nil
}

// setAside renames an unreadable cache file so that it is never overwritten.
func (s *Store) setAside(path, reason string) error {
	stamp := s.now().Format("20060102-150405")
	aside := path + ".unreadable-" + stamp
	for i := 2; exists(aside); i++ {
		aside = fmt.Sprintf("%s.unreadable-%s-%d", path, stamp, i)
	}
	if err := os.Rename(path, aside); err != nil {
		return fmt.Errorf("the token cache %s cannot be read (%s) and cannot be moved aside: %w", path, reason, err)
	}
	s.warn("token cache set aside", fmt.Sprintf("the token cache %s could not be read (%s): it was moved to %s and a new, empty cache started; sign in again", path, reason, aside),
		"path", path, "moved_to", aside, "reason", reason)
	return nil
}

// warn records a warning for Warning and logs it. Called with s.mu held.
func (s *Store) warn(event, msg string, args ...any) {
	s.warnings = append(s.warnings, msg)
	if len(args) == 0 {
		args = []any{"detail", msg}
	}
	s.log.Warn(event, args...)
}

// lockFile takes the inter-process lock, waiting at most until ctx is done.
func (s *Store) lockFile(ctx context.Context) (func(), error) {
	ok, err := s.lock.TryLockContext(ctx, 10*time.Millisecond)
	if err == nil && !ok {
		err = ctx.Err()
	}
	if err != nil {
		return nil, fmt.Errorf("waiting for the token cache lock %s (another broker process holds it): %w", s.lock.Path(), err)
	}
	return func() { s.lock.Unlock() }, nil
}

func (s *Store) path() string {
	if s.mode == ModeKeyring {
		return s.sealedPath()
	}
	return s.plainPath()
}

func (s *Store) sealedPath() string { return filepath.Join(s.dir, SealedFile) }
func (s *Store) plainPath() string  { return filepath.Join(s.dir, PlainFile) }

func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

func withDefaultTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	return context.WithTimeout(ctx, DefaultTimeout)
}
