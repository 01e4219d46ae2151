package localapi

import (
	"net"

	"golang.org/x/sys/unix"
)

// peerUID returns the uid of the process at the other end (SO_PEERCRED).
func peerUID(c net.Conn) (int, error) {
	return peerUIDWith(c, func(fd int) (uint32, error) {
		cred, err := unix.GetsockoptUcred(fd, unix.SOL_SOCKET, unix.SO_PEERCRED)
		if err != nil {
			return 0, err
		}
		return cred.Uid, nil
	})
}
