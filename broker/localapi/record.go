package localapi

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// RecordFile is the file in the state folder where the running daemon
// says where it listens. The state folder follows HOME (not
// XDG_RUNTIME_DIR, which SSH and tmux shells, Codex, Gemini CLI and the
// MCP SDKs do not pass on), so every process of the user finds the same
// daemon, whatever its environment.
const RecordFile = "daemon.json"

// Record is what a running daemon publishes.
type Record struct {
	PID     int    `json:"pid"`
	Address string `json:"address"`
}

// maxRecord caps what ReadRecord reads.
const maxRecord = 4 << 10

// Publish writes r to stateDir/daemon.json: a new file (O_EXCL, so it
// never writes through a link someone planted) renamed over the old one.
// The caller must hold the one-daemon lock.
func Publish(stateDir string, r Record) error {
	if err := os.MkdirAll(stateDir, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", stateDir, err)
	}
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(stateDir, ".daemon.json.tmp-*")
	if err != nil {
		return fmt.Errorf("writing the daemon's record: %w", err)
	}
	tmp := f.Name()
	_, werr := f.Write(append(b, '\n'))
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	path := filepath.Join(stateDir, RecordFile)
	if werr == nil {
		werr = os.Rename(tmp, path)
	}
	if werr != nil {
		os.Remove(tmp)
		return fmt.Errorf("writing %s: %w", path, werr)
	}
	return nil
}

// Unpublish removes the record if it is still r (a daemon that started
// after this one keeps its own).
func Unpublish(stateDir string, r Record) {
	if cur, err := ReadRecord(stateDir); err == nil && cur == r {
		os.Remove(filepath.Join(stateDir, RecordFile))
	}
}

// ReadRecord reads the running daemon's record. It refuses a file that is
// not a regular file of this user (a link, a FIFO, another user's).
func ReadRecord(stateDir string) (Record, error) {
	path := filepath.Join(stateDir, RecordFile)
	var r Record
	fi, err := os.Lstat(path)
	if err != nil {
		return r, err
	}
	if !fi.Mode().IsRegular() {
		return r, fmt.Errorf("%s is not a regular file; not reading it", path)
	}
	if err := ownedByMe(fi); err != nil {
		return r, fmt.Errorf("%s: %w", path, err)
	}
	f, err := os.Open(path)
	if err != nil {
		return r, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxRecord))
	if err != nil {
		return r, fmt.Errorf("reading %s: %w", path, err)
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Address == "" {
		return Record{}, fmt.Errorf("reading %s: %w", path, errors.Join(errors.New("not a daemon record"), err))
	}
	return r, nil
}
