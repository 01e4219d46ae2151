package delivery

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/gofrs/flock"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// LedgerFile is the ledger's name in the state folder.
const LedgerFile = "ledger.json"

// lockWait bounds the wait for another process's hold on the ledger.
const lockWait = 10 * time.Second

// keepSums is how many SHA-256 sums a place keeps: the value written and
// the one before (a write that crashed between the ledger and the file
// leaves either in the file).
const keepSums = 2

// Ledger is what the broker wrote where: per target, the file (symbolic
// links resolved), each place (a JSON pointer, a TOML key, an environment
// variable) and the SHA-256 of the value written there, never the value.
// Only what it lists is replaced or scrubbed, so a value the user wrote by
// hand stays. It lives in one small 0600 JSON file in the state folder,
// replaced atomically, and a file lock serialises the processes that use
// it (the daemon, `login`, `logout`, `sync`, `connect`). Its methods are
// safe for concurrent use.
type Ledger struct {
	path string
	mu   sync.Mutex // the goroutines of this process (flock is per process)
	lock *flock.Flock
}

// ledgerDoc is the file's content.
type ledgerDoc struct {
	Version int       `json:"version"`
	Targets []*Record `json:"targets"`
}

// Record is one target's entry: enough to rebuild the target when
// config.toml no longer lists it, and what the broker wrote there.
type Record struct {
	Profile  string  `json:"profile"`
	Client   string  `json:"client"`
	Server   string  `json:"server,omitempty"`
	File     string  `json:"file"`
	URL      string  `json:"url,omitempty"`
	Project  string  `json:"project,omitempty"`
	Mode     string  `json:"mode,omitempty"`
	Pointer  string  `json:"pointer,omitempty"`
	Template string  `json:"template,omitempty"`
	Var      string  `json:"var,omitempty"`
	Format   string  `json:"format,omitempty"`
	Values   []Value `json:"values"`
}

// Value is one place the broker wrote.
type Value struct {
	Place string `json:"place"`
	// SHA256 are the hex sums of the values written there, the latest
	// last.
	SHA256 []string `json:"sha256,omitempty"`
	// Secret reports that the value holds the token.
	Secret bool `json:"secret,omitempty"`
	// Entry reports that the broker created the server's entry.
	Entry bool `json:"entry,omitempty"`
}

// key identifies a record: the same target written to the same file.
type key struct {
	profile, client, server, file, project, pointer, variable string
}

func (r *Record) key() key {
	return key{r.Profile, r.Client, r.Server, r.File, r.Project, r.Pointer, r.Var}
}

// Target is the record as a target of its file.
func (r *Record) Target() config.Target {
	return config.Target{Profile: r.Profile, Client: r.Client, Server: r.Server, Path: r.File, URL: r.URL, Project: r.Project,
		Mode: r.Mode, Pointer: r.Pointer, Template: r.Template, Var: r.Var, Format: r.Format}
}

func recordOf(t config.Target, file string) *Record {
	return &Record{Profile: t.Profile, Client: t.Client, Server: t.Server, File: file, URL: t.URL, Project: t.Project,
		Mode: t.Mode, Pointer: t.Pointer, Template: t.Template, Var: t.Var, Format: t.Format}
}

// hasSecret reports whether the record lists a value that holds the token.
func (r *Record) hasSecret() bool {
	return slices.ContainsFunc(r.Values, func(v Value) bool { return v.Secret && len(v.SHA256) > 0 })
}

func (r *Record) value(place string) *Value {
	for i := range r.Values {
		if r.Values[i].Place == place {
			return &r.Values[i]
		}
	}
	return nil
}

// OpenLedger returns the ledger in dir (the state folder); the file is
// created at the first write.
func OpenLedger(dir string) *Ledger {
	p := filepath.Join(dir, LedgerFile)
	return &Ledger{path: p, lock: flock.New(p+".lock", flock.SetPermissions(0o600))}
}

// Path is the ledger's file.
func (l *Ledger) Path() string { return l.path }

// Records returns the records of the profile ("" = every profile).
func (l *Ledger) Records(ctx context.Context, profile string) ([]Record, error) {
	var out []Record
	err := l.view(ctx, func(d *ledgerDoc) {
		for _, r := range d.Targets {
			if profile == "" || r.Profile == profile {
				out = append(out, *r)
			}
		}
	})
	return out, err
}

// record returns a copy of one record (nil when there is none).
func (l *Ledger) record(ctx context.Context, k key) (*Record, error) {
	var out *Record
	err := l.view(ctx, func(d *ledgerDoc) {
		if r := find(d, k); r != nil {
			c := *r
			c.Values = slices.Clone(r.Values)
			out = &c
		}
	})
	return out, err
}

func find(d *ledgerDoc, k key) *Record {
	for _, r := range d.Targets {
		if r.key() == k {
			return r
		}
	}
	return nil
}

// placing adds what a write is about to put in the file to the record
// (created from rec when missing), before the file is replaced.
func (l *Ledger) placing(ctx context.Context, rec *Record, placed []integrations.Placed) error {
	return l.change(ctx, func(d *ledgerDoc) bool {
		r := find(d, rec.key())
		changed := false
		if r == nil {
			r = rec
			r.Values = nil
			d.Targets = append(d.Targets, r)
			changed = true
		}
		if r.Mode != rec.Mode || r.Template != rec.Template || r.Format != rec.Format || r.URL != rec.URL {
			r.Mode, r.Template, r.Format, r.URL = rec.Mode, rec.Template, rec.Format, rec.URL
			changed = true
		}
		for _, p := range placed {
			v := r.value(p.Place)
			if v == nil {
				r.Values = append(r.Values, Value{Place: p.Place})
				v = &r.Values[len(r.Values)-1]
				changed = true
			}
			if p.Entry && !v.Entry {
				v.Entry, changed = true, true
			}
			if p.Secret && !v.Secret {
				v.Secret, changed = true, true
			}
			if p.SHA256 != "" && !slices.Contains(v.SHA256, p.SHA256) {
				v.SHA256 = append(v.SHA256, p.SHA256)
				if len(v.SHA256) > keepSums {
					v.SHA256 = v.SHA256[len(v.SHA256)-keepSums:]
				}
				changed = true
			}
		}
		return changed
	})
}

// settle is told that a write put placed in the file: the token at any
// other place is gone from it (Apply took it out), so it is forgotten.
// The sums stay as placing left them (the value written and the one
// before: a write that crashed between the ledger and the file leaves
// either in the file), so a rotation costs one ledger write.
func (l *Ledger) settle(ctx context.Context, k key, placed []integrations.Placed) error {
	return l.change(ctx, func(d *ledgerDoc) bool {
		r := find(d, k)
		if r == nil {
			return false
		}
		n := len(r.Values)
		r.Values = slices.DeleteFunc(r.Values, func(v Value) bool {
			return v.Secret && !slices.ContainsFunc(placed, func(p integrations.Placed) bool { return p.Place == v.Place })
		})
		return len(r.Values) != n
	})
}

// put makes the record under k what rec is (nil: no record), undoing a
// placing whose write did not happen.
func (l *Ledger) put(ctx context.Context, k key, rec *Record) error {
	return l.change(ctx, func(d *ledgerDoc) bool {
		i := slices.IndexFunc(d.Targets, func(r *Record) bool { return r.key() == k })
		switch {
		case i < 0 && rec == nil:
			return false
		case i < 0:
			c := *rec
			d.Targets = append(d.Targets, &c)
		case rec == nil:
			d.Targets = slices.Delete(d.Targets, i, i+1)
		default:
			c := *rec
			d.Targets[i] = &c
		}
		return true
	})
}

// forget drops from the record the values that which selects (all of
// them: the record goes).
func (l *Ledger) forget(ctx context.Context, k key, which func(Value) bool) error {
	return l.change(ctx, func(d *ledgerDoc) bool {
		r := find(d, k)
		if r == nil {
			return false
		}
		n := len(r.Values)
		r.Values = slices.DeleteFunc(r.Values, which)
		if len(r.Values) == 0 {
			d.Targets = slices.DeleteFunc(d.Targets, func(x *Record) bool { return x == r })
			return true
		}
		return len(r.Values) != n
	})
}

// view reads the ledger under the lock.
func (l *Ledger) view(ctx context.Context, f func(*ledgerDoc)) error {
	unlock, err := l.take(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := l.read()
	if err != nil {
		return err
	}
	f(d)
	return nil
}

// change reads, edits and (when f reports a change) writes the ledger,
// all under the lock.
func (l *Ledger) change(ctx context.Context, f func(*ledgerDoc) bool) error {
	unlock, err := l.take(ctx)
	if err != nil {
		return err
	}
	defer unlock()
	d, err := l.read()
	if err != nil {
		return err
	}
	if !f(d) {
		return nil
	}
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if _, err := atomicfile.WriteFile(ctx, l.path, append(b, '\n')); err != nil {
		return fmt.Errorf("writing the ledger %s: %w", l.path, err)
	}
	return nil
}

func (l *Ledger) take(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(filepath.Dir(l.path), 0o700); err != nil {
		return nil, fmt.Errorf("creating %s: %w", filepath.Dir(l.path), err)
	}
	l.mu.Lock()
	lctx, cancel := context.WithTimeout(ctx, lockWait)
	defer cancel()
	ok, err := l.lock.TryLockContext(lctx, 10*time.Millisecond)
	if err != nil || !ok {
		l.mu.Unlock()
		return nil, fmt.Errorf("locking the ledger %s: %w", l.lock.Path(), errors.Join(err, lctx.Err()))
	}
	return func() { _ = l.lock.Unlock(); l.mu.Unlock() }, nil
}

func (l *Ledger) read() (*ledgerDoc, error) {
	b, err := os.ReadFile(l.path)
	if errors.Is(err, fs.ErrNotExist) {
		return &ledgerDoc{Version: 1}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("reading the ledger: %w", err)
	}
	d := &ledgerDoc{}
	if err := json.Unmarshal(b, d); err != nil {
		return nil, &integrations.HintError{
			Err:  fmt.Errorf("%s: the ledger is damaged: %v", l.path, err),
			Hint: "it is the broker's own file: move it away, then `broker sync` records the targets again (a token written before is then scrubbed only where broker writes again)",
		}
	}
	return d, nil
}
