// Package files holds what every reader of a file that is not the broker's
// own needs: read only a regular file, never more than a cap (a target
// that became a symbolic link to /dev/zero, or a FIFO, gives an error, not
// an out-of-memory crash or a thread blocked forever), and the path a
// symbolic link really leads to. Its sub-packages edit such files.
package files

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Caps for ReadRegular.
const (
	// MaxClientFile bounds a client's file (Claude Code's ~/.claude.json
	// reaches tens of MB).
	MaxClientFile = 256 << 20
	// MaxConfigFile bounds the broker's config.toml and the admin file.
	MaxConfigFile = 4 << 20
)

// ErrNotRegular is returned for a FIFO, a device, a socket or a folder.
var ErrNotRegular = errors.New("not a regular file")

// ErrTooLarge is returned for a file larger than the cap.
var ErrTooLarge = errors.New("file too large")

// OpenRegular opens path for reading without blocking on a FIFO and
// refuses anything but a regular file (after following symbolic links).
// A missing file gives an error that matches fs.ErrNotExist.
func OpenRegular(path string) (*os.File, fs.FileInfo, error) {
	f, err := openNonblock(path)
	if err != nil {
		return nil, nil, err
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, nil, fmt.Errorf("%s: %w (%s)", path, ErrNotRegular, kind(fi.Mode()))
	}
	return f, fi, nil
}

// ReadAll reads f (of the size in fi) up to max bytes; more is ErrTooLarge.
func ReadAll(f *os.File, fi fs.FileInfo, max int64) ([]byte, error) {
	if fi.Size() > max {
		return nil, fmt.Errorf("%s: %w (%d bytes, at most %d)", f.Name(), ErrTooLarge, fi.Size(), max)
	}
	var buf bytes.Buffer
	buf.Grow(int(fi.Size()) + 512)
	n, err := buf.ReadFrom(io.LimitReader(f, max+1))
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", f.Name(), err)
	}
	if n > max {
		return nil, fmt.Errorf("%s: %w (more than %d bytes)", f.Name(), ErrTooLarge, max)
	}
	return buf.Bytes(), nil
}

// ReadRegular reads the regular file at path, at most max bytes.
func ReadRegular(path string, max int64) ([]byte, error) {
	f, fi, err := OpenRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return ReadAll(f, fi, max)
}

func kind(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "a folder"
	case m&fs.ModeNamedPipe != 0:
		return "a FIFO"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeDevice != 0:
		return "a device"
	}
	return m.Type().String()
}

// Resolve returns the file that writing path really writes: symbolic links
// followed, in the file's name (also a dangling link, whose target will be
// created) and in its folders. A path that does not exist yet resolves
// through its nearest existing folder.
func Resolve(path string) (string, error) {
	p, err := filepath.Abs(path)
	if err != nil {
		return "", err
	}
	for i := 0; ; i++ {
		if i == 40 {
			return "", fmt.Errorf("%s: too many levels of symbolic links", path)
		}
		fi, err := os.Lstat(p)
		if errors.Is(err, fs.ErrNotExist) {
			break
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			break
		}
		t, err := os.Readlink(p)
		if err != nil {
			return "", err
		}
		if !filepath.IsAbs(t) {
			t = filepath.Join(filepath.Dir(p), t)
		}
		p = filepath.Clean(t)
	}
	// The folders: the nearest existing one, with its links resolved.
	dir, rest := filepath.Dir(p), filepath.Base(p)
	for {
		if r, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(r, rest), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return p, nil
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}
