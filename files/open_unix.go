//go:build unix

package files

import (
	"os"
	"syscall"
)

// openNonblock opens with O_NONBLOCK, so that opening a FIFO returns at
// once (and is then refused) instead of waiting for a writer. For a
// regular file the flag changes nothing.
func openNonblock(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}
