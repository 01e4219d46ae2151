//go:build unix

package localapi

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"syscall"

	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
)

// Address returns where the daemon listens: the Unix socket
// $XDG_RUNTIME_DIR/mcp-token-broker/broker.sock.
func Address() (string, error) { return paths.SocketPath() }

// Listen listens on the Unix socket at path: its folder is created 0700
// (and must belong to this user, with no access for others), a stale
// socket left by a killed daemon is removed, the socket is made 0600, and
// every connection from another user is refused (SO_PEERCRED on Linux,
// LOCAL_PEERCRED on macOS and FreeBSD). The caller must hold the
// one-daemon lock, or it would remove a live daemon's socket.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if st, ok := fi.Sys().(*syscall.Stat_t); !fi.IsDir() || ok && int(st.Uid) != os.Getuid() {
		return nil, fmt.Errorf("%s is not a folder of this user; refusing to put the socket there", dir)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return nil, fmt.Errorf("making %s private: %w", dir, err)
		}
	}
	if fi, err := os.Lstat(path); err == nil {
		if fi.Mode()&os.ModeSocket == 0 {
			return nil, fmt.Errorf("%s exists and is not a socket", path)
		}
		if err := os.Remove(path); err != nil {
			return nil, fmt.Errorf("removing the stale socket: %w", err)
		}
	}
	l, err := net.Listen("unix", path)
	if err != nil {
		return nil, err
	}
	l.(*net.UnixListener).SetUnlinkOnClose(true)
	if err := os.Chmod(path, 0o600); err != nil {
		l.Close()
		return nil, err
	}
	return &peerListener{Listener: l, uid: os.Getuid(), log: log}, nil
}

// peerListener refuses connections from other users.
type peerListener struct {
	net.Listener
	uid int
	log *slog.Logger
}

func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if err := checkPeer(c, l.uid); err != nil {
			l.log.Warn("local api: connection refused", "err", err)
			c.Close()
			continue
		}
		return c, nil
	}
}

// checkPeer returns an error unless the process at the other end of c runs
// as uid.
func checkPeer(c net.Conn, uid int) error {
	got, err := peerUID(c)
	if errors.Is(err, errPeerUnsupported) {
		return nil // the folder's and socket's modes are the only guard here
	}
	if err != nil {
		return fmt.Errorf("reading the peer's credentials: %w", err)
	}
	if got != uid {
		return fmt.Errorf("peer runs as uid %d, not %d", got, uid)
	}
	return nil
}

var errPeerUnsupported = errors.New("peer credentials unsupported on this system")

// sysConn is what peerUID needs from a connection.
type sysConn interface {
	SyscallConn() (syscall.RawConn, error)
}

// peerUIDWith runs get on the connection's file descriptor: each system
// reads the peer's uid its own way (SO_PEERCRED, LOCAL_PEERCRED).
func peerUIDWith(c net.Conn, get func(fd int) (uint32, error)) (int, error) {
	sc, ok := c.(sysConn)
	if !ok {
		return -1, fmt.Errorf("%T is not a socket", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	var uid uint32
	var gerr error
	if err := rc.Control(func(fd uintptr) { uid, gerr = get(int(fd)) }); err != nil {
		return -1, err
	}
	if gerr != nil {
		return -1, gerr
	}
	return int(uid), nil
}

func dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "unix", addr)
}
