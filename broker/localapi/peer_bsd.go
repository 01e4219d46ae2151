//go:build darwin || freebsd

package localapi

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process at the other end (LOCAL_PEERCRED,
// what getpeereid(3) reads).
func peerUID(c net.Conn) (int, error) {
	return peerUIDWith(c, func(fd int) (uint32, error) {
		cred, err := unix.GetsockoptXucred(fd, unix.SOL_LOCAL, unix.LOCAL_PEERCRED)
		if err != nil {
			return 0, err
		}
		return cred.Uid, nil
	})
}
