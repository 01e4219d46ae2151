package installer

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
)

// readIfExists returns the file's content, or ok=false when it is missing.
func readIfExists(path string) (content []byte, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, true, nil
}

// writeFile replaces path with content atomically (files/atomicfile:
// temporary file in the same folder, fsync, rename; a symbolic link is
// written through), creating missing parent folders with mode 0700. The
// file gets mode. It reports whether anything changed.
func writeFile(path string, content []byte, mode os.FileMode) (changed bool, err error) {
	res, err := atomicfile.WriteFileMode(context.Background(), path, content, mode)
	if err != nil {
		return false, fmt.Errorf("writing %s: %w", path, err)
	}
	return res.Changed, nil
}

// removeFile removes path and then every parent folder up to (not
// including) stop that this left empty, so that uninstall leaves the home
// folder as install found it. It reports whether the file existed.
func removeFile(path, stop string) (bool, error) {
	err := os.Remove(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("removing %s: %w", path, err)
	}
	removeEmptyParents(filepath.Dir(path), stop)
	return true, nil
}

// removeEmptyParents removes dir and its parents while they are empty,
// stopping at stop (which stays) or at the first folder that is not empty.
func removeEmptyParents(dir, stop string) {
	stop = filepath.Clean(stop)
	for dir = filepath.Clean(dir); dir != stop && len(dir) > len(stop); dir = filepath.Dir(dir) {
		rel, err := filepath.Rel(stop, dir)
		if err != nil || rel == "." || filepath.IsAbs(rel) || len(rel) >= 2 && rel[:2] == ".." {
			return
		}
		if os.Remove(dir) != nil { // fails when not empty: keep it and stop
			return
		}
	}
}
