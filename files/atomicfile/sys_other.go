//go:build !unix

package atomicfile

import "io/fs"

// inode is unknown here; size and modification time still tell.
func inode(fs.FileInfo) uint64 { return 0 }

// writable refuses a read-only file (Windows' read-only attribute).
func writable(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o200 == 0 {
		return &Error{Path: path, Msg: "is read-only",
			Hint: "clear the file's read-only attribute for broker to manage it, or remove the target"}
	}
	return nil
}

// processAlive is not asked here: a leftover counts by its age alone.
func processAlive(int) bool { return true }
