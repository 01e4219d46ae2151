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
// (a protected DACL granting access to the user's SID alone).
func Listen(path string, log *slog.Logger) (net.Listener, error) {
	sid, err := userSID()
	if err != nil {
		return nil, err
	}
	return winio.ListenPipe(path, &winio.PipeConfig{
		SecurityDescriptor: "D:P(A;;GA;;;" + sid + ")",
		MessageMode:        false,
	})
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

func dial(ctx context.Context, addr string) (net.Conn, error) {
	return winio.DialPipeContext(ctx, addr)
}
