package brokerd

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/gofrs/flock"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
)

// LockFile is the one-daemon lock in the state folder. The state folder
// follows HOME, not XDG_RUNTIME_DIR, so a `broker run` started from an
// SSH or tmux shell (which has no XDG_RUNTIME_DIR) finds the lock of the
// one started by the desktop session.
const LockFile = "daemon.lock"

// RunningError is Lock's error when another daemon holds the lock.
type RunningError struct {
	PID int // 0 when it has not said yet
}

func (e *RunningError) Error() string {
	if e.PID > 0 {
		return fmt.Sprintf("broker is already running (pid %d)", e.PID)
	}
	return "broker is already running"
}

// Instance is the held lock: one daemon per user.
type Instance struct{ l *flock.Flock }

// Lock takes the one-daemon lock in stateDir without waiting; it returns a
// *RunningError when another daemon holds it. The kernel drops the lock
// when the process ends, even by SIGKILL.
func Lock(stateDir string) (*Instance, error) {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", stateDir, err)
	}
	path := filepath.Join(stateDir, LockFile)
	if fi, err := os.Lstat(path); err == nil && !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file; remove it", path)
	}
	l := flock.New(path, flock.SetPermissions(0o600))
	ok, err := l.TryLock()
	if err != nil {
		return nil, fmt.Errorf("taking the daemon lock %s: %w", path, err)
	}
	if !ok {
		r, _ := localapi.ReadRecord(stateDir)
		return nil, &RunningError{PID: r.PID}
	}
	return &Instance{l: l}, nil
}

// Unlock releases the lock.
func (i *Instance) Unlock() error { return i.l.Unlock() }
