//go:build !unix

package atomicfile

import "io/fs"

// inode is unknown here; size and modification time still tell.
func inode(fs.FileInfo) uint64 { return 0 }
