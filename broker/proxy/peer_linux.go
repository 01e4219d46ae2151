package proxy

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// peerUID returns the uid of the process that opened the TCP loopback
// connection from remote to local. Linux lists every socket of the network
// namespace in /proc/net/tcp (and tcp6) with its owner: the caller's socket
// is the one whose local address is our peer's and whose remote address is
// ours. known is false when the OS cannot tell.
func peerUID(local, remote *net.TCPAddr) (uid int, known bool, err error) {
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		v6 := f == "/proc/net/tcp6"
		uid, found, err := findUID(f, sockKey(remote, v6)+" "+sockKey(local, v6))
		if err != nil {
			return 0, false, err
		}
		if found {
			return uid, true, nil
		}
	}
	return 0, false, fmt.Errorf("no socket from %s to %s in /proc/net/tcp", remote, local)
}

// findUID scans one /proc/net/tcp file for the socket "local remote".
func findUID(path, want string) (int, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		if os.IsNotExist(err) {
			return 0, false, nil
		}
		return 0, false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid ...
		fs := strings.Fields(sc.Text())
		if len(fs) < 8 || fs[1]+" "+fs[2] != want {
			continue
		}
		uid, err := strconv.Atoi(fs[7])
		if err != nil {
			return 0, false, fmt.Errorf("%s: uid %q: %w", path, fs[7], err)
		}
		return uid, true, nil
	}
	return 0, false, sc.Err()
}

// sockKey is an address as /proc/net/tcp prints it: each 32-bit word of
// the address in the host's byte order as hex, a colon, the port as hex.
// In tcp6 (v6), an IPv4 address is the v4-mapped IPv6 address.
func sockKey(a *net.TCPAddr, v6 bool) string {
	ip := a.IP.To4()
	if ip == nil || v6 {
		ip = a.IP.To16()
	}
	var b strings.Builder
	for i := 0; i+4 <= len(ip); i += 4 {
		fmt.Fprintf(&b, "%08X", binary.NativeEndian.Uint32(ip[i:i+4]))
	}
	fmt.Fprintf(&b, ":%04X", a.Port)
	return b.String()
}
