//go:build !linux

package hotpath

// askDaemon has no fast way here (peer credentials take golang.org/x/sys
// outside Linux, and Windows has a named pipe): the command line proper
// asks the daemon.
func askDaemon(string) (string, bool) { return "", false }
