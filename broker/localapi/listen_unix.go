//go:build unix

package localapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"

	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
)

// Address returns where the daemon prefers to listen: the Unix socket
// $XDG_RUNTIME_DIR/mcp-token-broker/broker.sock, or, without
// XDG_RUNTIME_DIR, /run/user/UID/mcp-token-broker/broker.sock when that
// folder is this user's, else $TMPDIR/mcp-token-broker-UID/broker.sock.
// Clients do not guess it: they read the daemon's Record.
func Address() (string, error) {
	if os.Getenv("XDG_RUNTIME_DIR") == "" {
		if d := userRunDir(); d != "" {
			return filepath.Join(d, paths.App, "broker.sock"), nil
		}
	}
	return paths.SocketPath()
}

// userRunDir returns /run/user/UID when it is a folder of this user that
// nobody else can enter (what systemd-logind makes), else "".
func userRunDir() string {
	d := filepath.Join("/run/user", strconv.Itoa(os.Getuid()))
	if fi, err := os.Lstat(d); err == nil && checkPrivate(d, fi) == nil {
		return d
	}
	return ""
}

// ListenDefault listens at Address(); when that folder cannot be made
// private (another user made it first, or it is a link), in a new
// private folder in the temporary directory instead. It returns the
// listener and its address, for the daemon's Record.
func ListenDefault(log *slog.Logger) (net.Listener, string, error) {
	addr, err := Address()
	if err != nil {
		return nil, "", err
	}
	l, err := Listen(addr, log)
	if err == nil {
		return l, addr, nil
	}
	if !errors.Is(err, ErrNotPrivate) {
		return nil, "", err
	}
	if log != nil {
		log.Warn("local api: the usual socket folder is not safe; using a new private one", "err", err)
	}
	dir, terr := os.MkdirTemp("", paths.App+"-"+strconv.Itoa(os.Getuid())+"-")
	if terr != nil {
		return nil, "", errors.Join(err, terr)
	}
	addr = filepath.Join(dir, "broker.sock")
	l, err = Listen(addr, log)
	if err != nil {
		os.Remove(dir)
		return nil, "", err
	}
	return &dirListener{Listener: l, dir: dir}, addr, nil
}

// dirListener removes its folder (made for it) when closed.
type dirListener struct {
	net.Listener
	dir string
}

func (l *dirListener) Close() error {
	err := l.Listener.Close()
	os.Remove(l.dir) // empty once the socket is unlinked
	return err
}

// ErrNotPrivate is matched by the errors of a socket folder that is not
// this user's alone, and of a socket whose listener runs as another user:
// not our daemon.
var ErrNotPrivate = errors.New("not a private folder of this user")

// Listen listens on the Unix socket at path. Its folder must be this
// user's, not a link: it is created 0700 when missing, made 0700 when it
// is this user's with looser modes, and refused (before anything is
// created in it) when it belongs to someone else. A stale socket left by
// a killed daemon is removed, the socket is made 0600, and every
// connection from another user is refused (SO_PEERCRED on Linux,
// LOCAL_PEERCRED on macOS and FreeBSD). The caller must hold the
// one-daemon lock, or it would remove a live daemon's socket.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := makePrivateDir(filepath.Dir(path)); err != nil {
		return nil, err
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

// makePrivateDir makes sure dir is a folder of this user that nobody else
// can enter. It never follows a link and never takes over a folder of
// someone else.
func makePrivateDir(dir string) error {
	if err := os.MkdirAll(filepath.Dir(dir), 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", filepath.Dir(dir), err)
	}
	if err := os.Mkdir(dir, 0o700); err != nil && !errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("creating %s: %w", dir, err)
	}
	fi, err := os.Lstat(dir)
	if err != nil {
		return err
	}
	err = checkPrivate(dir, fi)
	if err != nil && fi.IsDir() && ownedByMe(fi) == nil {
		// Ours, with modes too open: close them.
		if cerr := os.Chmod(dir, 0o700); cerr != nil {
			return fmt.Errorf("making %s private: %w", dir, cerr)
		}
		return nil
	}
	return err
}

// checkPrivate returns an error matching ErrNotPrivate unless fi (dir's
// Lstat) is a folder, not a link, of this user, with no access for
// others.
func checkPrivate(dir string, fi fs.FileInfo) error {
	switch {
	case fi.Mode()&fs.ModeSymlink != 0:
		return fmt.Errorf("%s is a symbolic link: %w", dir, ErrNotPrivate)
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder: %w", dir, ErrNotPrivate)
	}
	if err := ownedByMe(fi); err != nil {
		return fmt.Errorf("%s: %w", dir, err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return fmt.Errorf("%s has mode %v, open to others: %w", dir, fi.Mode().Perm(), ErrNotPrivate)
	}
	return nil
}

// ownedByMe returns an error matching ErrNotPrivate unless fi belongs to
// this process's user.
func ownedByMe(fi fs.FileInfo) error {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("owner unknown: %w", ErrNotPrivate)
	}
	if int(st.Uid) != os.Getuid() {
		return fmt.Errorf("belongs to uid %d, not %d: %w", st.Uid, os.Getuid(), ErrNotPrivate)
	}
	return nil
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

// dial connects to the daemon's socket at addr, after checking that its
// folder is this user's alone (a folder another user made first in a
// shared temporary directory holds their socket, not our daemon's), and
// that the process listening runs as this user.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	dir := filepath.Dir(addr)
	fi, err := os.Lstat(dir)
	if err != nil {
		return nil, err
	}
	if err := checkPrivate(dir, fi); err != nil {
		return nil, fmt.Errorf("not asking the socket there: %w", err)
	}
	var d net.Dialer
	c, err := d.DialContext(ctx, "unix", addr)
	if err != nil {
		return nil, err
	}
	if err := checkPeer(c, os.Getuid()); err != nil {
		c.Close()
		return nil, fmt.Errorf("not asking the socket %s: %w (%w)", addr, err, ErrNotPrivate)
	}
	return c, nil
}
