// Package atomicfile replaces a file that other programs own and write too,
// without ever leaving it half-written and without losing their changes:
// the new content goes to a temporary file in the same folder, is synced,
// and is renamed over the old one. Just before the rename the file is read
// again; when another program changed it meanwhile, the edit is redone on
// the new content.
//
// The file's mode is kept (0600 for a file created here, its missing
// parent folders 0700); a symbolic link is written through to its target
// and stays a link; anything but a regular file is refused.
package atomicfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"
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
	// broker at all.
	LockDir bool
}

// UpdateWith is Update with options.
func UpdateWith(ctx context.Context, path string, edit EditFunc, o Options) (Result, error) {
	real, err := resolve(path)
	if err != nil {
		return Result{}, err
	}
	if o.LockDir {
		unlock, err := lockDir(ctx, real+".lock")
		if err != nil {
			return Result{}, err
		}
		defer unlock()
	}
	res := Result{Path: real}
	for attempt := 0; attempt < maxAttempts; attempt++ {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		old, mode, id, exists, err := read(real)
		if err != nil {
			return res, err
		}
		next, err := edit(old, exists)
		if err != nil {
			return res, err
		}
		if exists && bytes.Equal(next, old) {
			res.Data = old
			return res, nil
		}
		if exists && mode&0o200 == 0 {
			return res, fmt.Errorf("%s is read-only", real)
		}
		ok, err := replace(real, next, mode, id, exists)
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

// WriteFile writes data to path atomically with mode perm for a new file
// (an existing file keeps its mode), skipping the write when the content
// is already data.
func WriteFile(ctx context.Context, path string, data []byte) (Result, error) {
	return Update(ctx, path, func([]byte, bool) ([]byte, error) { return data, nil })
}

// staleLock is when proper-lockfile considers a lock abandoned (its
// holder touches it every 5 s).
const staleLock = 10 * time.Second

// lockDir takes a proper-lockfile style lock: mkdir of dir, waiting while
// another process holds it, breaking it when it is stale.
func lockDir(ctx context.Context, dir string) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return nil, err
	}
	wait := 5 * time.Millisecond
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
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("waiting for the lock %s: %w", dir, ctx.Err())
		case <-time.After(wait):
		}
		if wait < 100*time.Millisecond {
			wait *= 2
		}
	}
}

// resolve follows symbolic links (also a dangling one, whose target will be
// created) to the regular file to write.
func resolve(path string) (string, error) {
	p := path
	for i := 0; i < 40; i++ {
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			return p, nil
		}
		if err != nil {
			return "", err
		}
		switch {
		case fi.Mode().IsRegular():
			return p, nil
		case fi.Mode()&fs.ModeSymlink != 0:
			t, err := os.Readlink(p)
			if err != nil {
				return "", err
			}
			if !filepath.IsAbs(t) {
				t = filepath.Join(filepath.Dir(p), t)
			}
			p = t
		default:
			return "", fmt.Errorf("%s is not a regular file", p)
		}
	}
	return "", fmt.Errorf("%s: too many levels of symbolic links", path)
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

func read(path string) (data []byte, mode fs.FileMode, id fileID, exists bool, err error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0o600, id, false, nil
	}
	if err != nil {
		return nil, 0, id, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, 0, id, false, err
	}
	if !fi.Mode().IsRegular() {
		return nil, 0, id, false, fmt.Errorf("%s is not a regular file", path)
	}
	data = make([]byte, 0, fi.Size()+512)
	buf := bytes.NewBuffer(data)
	if _, err := buf.ReadFrom(f); err != nil {
		return nil, 0, id, false, fmt.Errorf("reading %s: %w", path, err)
	}
	// The identity after the read: a write during the read changes it.
	if fi, err = f.Stat(); err != nil {
		return nil, 0, id, false, err
	}
	return buf.Bytes(), fi.Mode().Perm(), idOf(fi), true, nil
}

// replace writes data to a temporary file beside path and renames it over
// path, unless path is no longer the file that was read (then it reports
// false).
func replace(path string, data []byte, mode fs.FileMode, base fileID, existed bool) (bool, error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return false, fmt.Errorf("creating folder %s: %w", dir, err)
	}
	if fi, err := os.Stat(dir); err == nil && fi.Mode().Perm()&0o200 == 0 {
		return false, fmt.Errorf("folder %s is read-only", dir)
	}
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
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
	// The last look before the rename: did someone else write?
	now, exists, err := statID(path)
	if err != nil {
		return false, err
	}
	if exists != existed || now != base {
		return false, nil
	}
	ok, err := commit(tmpName, path, base, existed)
	if err != nil || !ok {
		return false, err
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return true, nil
}
