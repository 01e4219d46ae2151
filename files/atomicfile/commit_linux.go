package atomicfile

import (
	"context"
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/unix"
)

// commit puts tmp in place of path and reports false when another program
// wrote path after the last look (then the file holds that program's
// content again and the caller redoes its edit). It swaps the two files
// atomically (renameat2 RENAME_EXCHANGE) and checks what it swapped out:
// a plain rename would silently drop a write that landed in between. A
// new file is created with RENAME_NOREPLACE for the same reason. File
// systems without renameat2 get a plain rename.
func commit(_ context.Context, tmp, path string, base fileID, existed bool) (bool, error) {
	if !existed {
		err := unix.Renameat2(unix.AT_FDCWD, tmp, unix.AT_FDCWD, path, unix.RENAME_NOREPLACE)
		switch {
		case err == nil:
			return true, nil
		case errors.Is(err, unix.EEXIST):
			return false, nil // someone created it meanwhile
		case errors.Is(err, unix.EINVAL), errors.Is(err, unix.ENOSYS):
			return plainRename(tmp, path)
		}
		return false, fmt.Errorf("replacing %s: %w", path, err)
	}
	ours, _, err := statID(tmp)
	if err != nil {
		return false, err
	}
	if err := exchange(tmp, path); err != nil {
		if errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOSYS) {
			return plainRename(tmp, path)
		}
		if errors.Is(err, unix.ENOENT) {
			return false, nil // removed meanwhile: start again
		}
		return false, fmt.Errorf("replacing %s: %w", path, err)
	}
	// tmp now holds what path held an instant ago.
	prev, _, err := statID(tmp)
	if err != nil {
		return false, err
	}
	if prev == base {
		return true, nil // nobody wrote in between
	}
	// Another program wrote in between: put its content back.
	if err := exchange(tmp, path); err != nil {
		return false, fmt.Errorf("restoring %s: %w", path, err)
	}
	if now, _, err := statID(tmp); err == nil && now.ino != ours.ino {
		// It wrote yet again while ours was in place: that newest
		// content is in tmp now; put it in place instead.
		if err := exchange(tmp, path); err != nil {
			return false, fmt.Errorf("restoring %s: %w", path, err)
		}
	}
	return false, nil
}

func exchange(a, b string) error {
	return unix.Renameat2(unix.AT_FDCWD, a, unix.AT_FDCWD, b, unix.RENAME_EXCHANGE)
}

func plainRename(tmp, path string) (bool, error) {
	if err := os.Rename(tmp, path); err != nil {
		return false, fmt.Errorf("replacing %s: %w", path, err)
	}
	return true, nil
}
