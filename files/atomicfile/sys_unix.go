//go:build unix

package atomicfile

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

func inode(fi fs.FileInfo) uint64 {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return uint64(st.Ino)
	}
	return 0
}

// writable refuses a file that replacing would take from its owner: one
// without the owner's write bit, and one that belongs to another user (a
// rename would make it ours; root, which may rename anything, too).
func writable(path string, fi fs.FileInfo) error {
	if fi.Mode().Perm()&0o200 == 0 {
		return &Error{Path: path, Msg: "is read-only",
			Hint: "make it writable (chmod u+w) for broker to manage it, or remove the target"}
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Geteuid() {
		return &Error{Path: path,
			Msg:  fmt.Sprintf("belongs to another user (uid %d); broker does not replace it, that would take it from its owner", st.Uid),
			Hint: fmt.Sprintf("run broker as the file's owner, or make the file yours: sudo chown \"$USER\" %s", path)}
	}
	return nil
}

// processAlive reports whether a process with pid exists (one of another
// user counts).
func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}
