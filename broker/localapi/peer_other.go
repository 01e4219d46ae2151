//go:build unix && !linux && !darwin && !freebsd

package localapi

import "net"

// peerUID is not available here; the socket's folder (0700) and mode
// (0600) keep other users out.
func peerUID(net.Conn) (int, error) { return -1, errPeerUnsupported }
