package localapi

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// Address returns the daemon's named pipe, one per user:
// \\.\pipe\mcp-token-broker-<user SID>.
func Address() (string, error) {
	sid, err := userSID()
	if err != nil {
		return "", err
	}
	return `\\.\pipe\mcp-token-broker-` + sid, nil
}

func userSID() (string, error) {
	tok := windows.GetCurrentProcessToken()
	u, err := tok.GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("reading the current user: %w", err)
	}
	return u.User.Sid.String(), nil
}

// Listen listens on the named pipe at path, open only to the current user
// (a protected DACL granting access to the user's SID alone) and owned by
// that user, which is what a client checks: another user can create a pipe
// of this name first, but cannot make it owned by us.
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	sid, err := userSID()
	if err != nil {
		return nil, err
	}
	return listenSD(path, "O:"+sid+"D:P(A;;GA;;;"+sid+")")
}

func listenSD(path, sd string) (net.Listener, error) {
	return winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: sd, MessageMode: false})
}

// ListenDefault listens at Address() and returns the listener and its
// address, for the daemon's Record.
func ListenDefault(log *slog.Logger) (net.Listener, string, error) {
	addr, err := Address()
	if err != nil {
		return nil, "", err
	}
	l, err := Listen(addr, log)
	return l, addr, err
}

// ErrNotPrivate is matched by the errors of an address that is not this
// user's alone (on Windows the pipe's DACL is the guard).
var ErrNotPrivate = errors.New("not private to this user")

// ownedByMe accepts every file: the ACLs of the profile's folders keep
// other users out of the state folder.
func ownedByMe(fs.FileInfo) error { return nil }

// dial connects to the pipe and refuses it unless this user owns it: a pipe
// squatted by another user (created before our daemon started) is not our
// daemon, and the client would otherwise take tokens and answers from it.
func dial(ctx context.Context, addr string) (net.Conn, error) {
	c, err := winio.DialPipeContext(ctx, addr)
	if err != nil {
		return nil, err
	}
	if err := pipeOwnedByMe(c); err != nil {
		c.Close()
		return nil, fmt.Errorf("%s: %w", addr, err)
	}
	return c, nil
}

func pipeOwnedByMe(c net.Conn) error {
	f, ok := c.(interface{ Fd() uintptr })
	if !ok {
		return fmt.Errorf("pipe handle unavailable: %w", ErrNotPrivate)
	}
	sd, err := windows.GetSecurityInfo(windows.Handle(f.Fd()), windows.SE_KERNEL_OBJECT, windows.OWNER_SECURITY_INFORMATION)
	if err != nil {
		return fmt.Errorf("reading the pipe's owner: %w", err)
	}
	owner, _, err := sd.Owner()
	if err != nil || owner == nil {
		return fmt.Errorf("pipe owner unknown: %w", ErrNotPrivate)
	}
	me, err := userSID()
	if err != nil {
		return err
	}
	if owner.String() != me {
		return fmt.Errorf("pipe belongs to %s, not %s: %w", owner, me, ErrNotPrivate)
	}
	return nil
}
