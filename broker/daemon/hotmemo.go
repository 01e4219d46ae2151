package daemon

import (
	"os"
	"path/filepath"
	"runtime"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

// The daemon's memo for the hot path (cmd/broker/hotpath, Linux): what it
// answers `headers` and `token` for a named profile while its current
// token has the validity asked for, so that the hot path answers without
// waiting for the daemon. A refresher writes it when it takes a token and
// removes it before its token changes and when it stops; it holds a hash
// of the token, not the token.

// rememberToken writes the memo of profile name's current token tok.
// Best effort: without it the hot path asks the daemon.
func (d *Daemon) rememberToken(name string, tok token.Token) {
	if runtime.GOOS != "linux" || d.opts.StateDir == "" || tok.Value == "" {
		return
	}
	start, ok := hotpath.ProcessStart(os.Getpid())
	if !ok {
		return
	}
	f, err := os.CreateTemp(d.opts.StateDir, ".hotpath-*")
	if err != nil {
		return
	}
	_, werr := f.WriteString(hotpath.DaemonMemo(os.Getpid(), start, tok.Value.Reveal(), tok.ExpiresOn))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil || os.Rename(f.Name(), filepath.Join(d.opts.StateDir, hotpath.DaemonMemoFile(name))) != nil {
		os.Remove(f.Name())
	}
}

// forgetToken removes the memo of profile name (before its token changes).
func (d *Daemon) forgetToken(name string) {
	if runtime.GOOS != "linux" || d.opts.StateDir == "" {
		return
	}
	os.Remove(filepath.Join(d.opts.StateDir, hotpath.DaemonMemoFile(name)))
}
