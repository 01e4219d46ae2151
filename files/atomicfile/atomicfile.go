// Package atomicfile replaces a file that other programs own and write too,
// without ever leaving it half-written and without losing their changes:
// the new content goes to a temporary file in the same folder, is synced,
// and is renamed over the old one. Just before the rename the file is read
// again; when another program changed it meanwhile, the edit is redone on
// the new content.
//
// The file's mode is kept (0600 for a file created here, its missing
// parent folders 0700); a symbolic link is written through to its target
// and stays a link; anything but a regular file is refused, and so is a
// file that belongs to another user (replacing it would take it from
// them). The temporary copies of a writer that was killed mid-write are
// removed by the next write.
package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// maxAttempts bounds the retries when another program keeps writing.
const maxAttempts = 20

// EditFunc returns the new content for old (nil and exists false when the
// file does not exist yet). It may be called more than once, each time with
// fresher content, and must not keep old.
type EditFunc func(old []byte, exists bool) ([]byte, error)

// Result says what Update did.
type Result struct {
	// Changed reports whether the file was written.
	Changed bool
	// Data is the file's content after the call (what was written, or the
	// unchanged content).
	Data []byte
	// Path is the file really written (the target of a symbolic link).
	Path string
}

// ErrConflict is returned when another program changed the file on every
// attempt.
var ErrConflict = errors.New("the file kept changing while it was being written")

// Update applies edit to the file at path and replaces the file atomically.
// When the result equals the current content the file is not written at
// all. It blocks for the file system calls; ctx stops the retries.
func Update(ctx context.Context, path string, edit EditFunc) (Result, error) {
	return UpdateWith(ctx, path, edit, Options{})
}

// Options tune UpdateWith.
type Options struct {
	// LockDir takes the lock that Claude Code (through the npm package
	// proper-lockfile) takes on its config: a directory named PATH.lock,
	// stale after 10 s. Programs that honour it never race with the
	// broker at all. The lock is held only around the last look and
	// the rename (the read and the edit happen before), so that a
	// writer killed meanwhile rarely leaves it behind.
	LockDir bool
	// LockWait bounds the wait for that lock (10 s when zero).
	LockWait time.Duration
	// Mode, when set, is the file's mode, also for an existing file
	// (the broker's own files). Otherwise an existing file keeps its
	// mode and a new one gets 0600.
	Mode fs.FileMode
	// MaxSize bounds the file read (files.MaxClientFile when zero).
	MaxSize int64
}

// UpdateWith is Update with options.
func UpdateWith(ctx context.Context, path string, edit EditFunc, o Options) (Result, error) {
	real, err := files.Resolve(path)
	if err != nil {
		return Result{}, err
	}
	o.defaults()
	removeLeftovers(real, time.Now())
	res := Result{Path: real}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		f, err := read(real, o.MaxSize)
		if errors.Is(err, errMoved) {
			continue // written while we read: read again
		}
		if err != nil {
			return res, err
		}
		next, err := edit(f.data, f.exists)
		if err != nil {
			return res, err
		}
		mode := f.mode
		if o.Mode != 0 {
			mode = o.Mode
		}
		if f.exists && bytes.Equal(next, f.data) && mode == f.mode {
			res.Data = f.data
			return res, nil
		}
		if f.exists {
			if err := writable(real, f.info); err != nil {
				return res, err
			}
		}
		ok, err := replace(ctx, real, next, mode, f.id, f.exists, o)
		if err != nil {
			return res, err
		}
		if ok {
			res.Changed, res.Data = true, next
			return res, nil
		}
		// Another program wrote the file meanwhile: redo the edit on
		// its content.
	}
	return res, fmt.Errorf("%s: %w", real, ErrConflict)
}

func (o *Options) defaults() {
	if o.LockWait <= 0 {
		o.LockWait = staleLock
	}
	if o.MaxSize <= 0 {
		o.MaxSize = files.MaxClientFile
	}
}

// WriteFile writes data to path atomically (a new file gets mode 0600, an
// existing one keeps its mode), skipping the write when the content is
// already data.
func WriteFile(ctx context.Context, path string, data []byte) (Result, error) {
	return Update(ctx, path, func([]byte, bool) ([]byte, error) { return data, nil })
}

// WriteFileMode is WriteFile for the broker's own files: the file gets
// mode perm, also when it exists with another one.
func WriteFileMode(ctx context.Context, path string, data []byte, perm fs.FileMode) (Result, error) {
	return UpdateWith(ctx, path, func([]byte, bool) ([]byte, error) { return data, nil }, Options{Mode: perm})
}

// Error is a file the broker will not write, with what to do about it.
type Error struct {
	Path string
	Msg  string
	Hint string
}

func (e *Error) Error() string    { return e.Path + ": " + e.Msg }
func (e *Error) HintText() string { return e.Hint }

// staleLock is when proper-lockfile considers a lock abandoned: its
// holder touches the lock's mtime every stale/2 = 5 s, and any process
// may remove a lock whose mtime is older than stale (10 s, its default,
// which Claude Code keeps).
const staleLock = 10 * time.Second

// lockDir takes a proper-lockfile style lock: mkdir of dir, waiting while
// another process holds it (at most wait), breaking it when it is stale.
func lockDir(ctx context.Context, dir string, wait time.Duration) (func(), error) {
	deadline := time.Now().Add(wait)
	delay := 5 * time.Millisecond
	for {
		err := os.Mkdir(dir, 0o700)
		if err == nil {
			return func() { os.Remove(dir) }, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return nil, fmt.Errorf("locking %s: %w", dir, err)
		}
		if fi, err := os.Stat(dir); err == nil && time.Since(fi.ModTime()) > staleLock {
			os.Remove(dir)
			continue
		}
		if time.Now().After(deadline) {
			return nil, &Error{Path: dir, Msg: fmt.Sprintf("is held by another process (Claude Code?) for %s", wait.Round(time.Second)),
				Hint: "try again when Claude Code is done writing; a lock nobody holds is stale after 10s and then broken"}
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock %s: %w", dir, ctx.Err())
		case <-time.After(delay):
		}
		if delay < 100*time.Millisecond {
			delay *= 2
		}
	}
}

// fileID tells whether a file is still the one that was read: another
// program's rename gives another inode, a write in place another size or
// modification time.
type fileID struct {
	ino   uint64
	size  int64
	mtime time.Time
}

func idOf(fi fs.FileInfo) fileID {
	return fileID{ino: inode(fi), size: fi.Size(), mtime: fi.ModTime()}
}

func statID(path string) (fileID, bool, error) {
	fi, err := os.Lstat(path)
	if errors.Is(err, fs.ErrNotExist) {
		return fileID{}, false, nil
	}
	if err != nil {
		return fileID{}, false, err
	}
	return idOf(fi), true, nil
}

// errMoved says that the file changed while it was read.
var errMoved = errors.New("the file changed while it was read")

// current is the file as read.
type current struct {
	data   []byte
	mode   fs.FileMode
	info   fs.FileInfo
	id     fileID
	exists bool
}

// read reads the regular file at path, at most max bytes. Its identity is
// taken before and after the read: a program that writes in place
// (truncate, then write) can be caught in between, and then the two
// differ (errMoved) and the read is done again.
func read(path string, max int64) (current, error) {
	f, before, err := files.OpenRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return current{mode: 0o600}, nil
	}
	if err != nil {
		return current{}, err
	}
	defer f.Close()
	data, err := files.ReadAll(f, before, max)
	if err != nil {
		return current{}, err
	}
	after, err := f.Stat()
	if err != nil {
		return current{}, err
	}
	if idOf(before) != idOf(after) || int64(len(data)) != after.Size() {
		return current{}, errMoved
	}
	// The file may have been replaced by rename meanwhile: the name must
	// still lead to what was read.
	if now, ok, err := statID(path); err != nil || !ok || now != idOf(after) {
		return current{}, errMoved
	}
	return current{data: data, mode: after.Mode().Perm(), info: after, id: idOf(after), exists: true}, nil
}

// replace writes data to a temporary file beside path and renames it over
// path, unless path is no longer the file that was read (then it reports
// false).
func replace(ctx context.Context, path string, data []byte, mode fs.FileMode, base fileID, existed bool, o Options) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating folder %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o200 == 0 {
		return false, fmt.Errorf("folder %s is read-only", dir)
	}
	tmp, err := os.CreateTemp(dir, tempPrefix(path)+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return false, fmt.Errorf("writing in %s: %w", dir, err)
	}
	tmpName := tmp.Name()
	defer os.Remove(tmpName) // a no-op after the rename
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return false, fmt.Errorf("writing %s: %w", tmpName, err)
	}
	if err := tmp.Chmod(mode); err != nil {
		tmp.Close()
		return false, err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return false, fmt.Errorf("syncing %s: %w", tmpName, err)
	}
	if err := tmp.Close(); err != nil {
		return false, err
	}
	if o.LockDir {
		unlock, err := lockDir(ctx, path+".lock", o.LockWait)
		if err != nil {
			return false, err
		}
		defer unlock()
	}
	// The last look before the rename: did someone else write?
	now, exists, err := statID(path)
	if err != nil {
		return false, err
	}
	if exists != existed || now != base {
		return false, nil
	}
	ok, err := commit(ctx, tmpName, path, base, existed)
	if err != nil || !ok {
		return false, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return true, nil
}

// tempPrefix names the temporary copies of path: ".NAME.tmp-PID-RANDOM".
func tempPrefix(path string) string { return "." + filepath.Base(path) + ".tmp-" }

// leftoverGrace is how old a temporary copy of a writer that may still be
// running must be before it counts as left over (a write takes well under
// a second, even of a file of tens of MB).
const leftoverGrace = time.Minute

// removeLeftovers removes the temporary copies of path that a writer
// killed mid-write left behind (each holds the whole file, and so the
// token): ours by name, and either older than leftoverGrace or written
// by a process that is gone. Best effort.
func removeLeftovers(path string, now time.Time) {
	dir, prefix := filepath.Dir(path), tempPrefix(path)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || !e.Type().IsRegular() {
			continue
		}
		fi, err := e.Info()
		if err != nil {
			continue
		}
		pid, ok := writerPID(name[len(prefix):])
		stale := now.Sub(fi.ModTime()) > leftoverGrace
		if stale || (ok && pid != os.Getpid() && !processAlive(pid)) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

// writerPID reads the PID in "PID-RANDOM" (older copies have no PID).
func writerPID(rest string) (int, bool) {
	i := strings.IndexByte(rest, '-')
	if i <= 0 {
		return 0, false
	}
	pid, err := strconv.Atoi(rest[:i])
	return pid, err == nil && pid > 0
}
