//go:build !linux

package main

import "testing"

// refusedAsAnotherUser: only Linux tells the proxy which user opened a
// TCP connection (see broker/proxy/peer_other.go).
func refusedAsAnotherUser(t *testing.T, url, cred, body string) {}
