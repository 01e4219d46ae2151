// Package watch notices when another program rewrites a target's file, so
// that the broker can put its value back. It watches the folders, not the
// files (clients replace files by rename, which a watch on the file
// loses), filters events by file name, waits until a file has been quiet
// for a moment, and compares content hashes: a file whose content is what
// it was, or what the broker itself wrote (Remember), is no change.
package watch

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Debounce is how long a file must be quiet before it is looked at.
const Debounce = 200 * time.Millisecond

// Watcher calls OnChange for a watched file whose content changed. It is
// safe for concurrent use; Run runs the loop.
type Watcher struct {
	onChange func(ctx context.Context, path string)
	log      *slog.Logger

	mu     sync.Mutex
	files  map[string]bool
	last   map[string][sha256.Size]byte // content hash last seen or written
	timers map[string]*time.Timer
}

// New returns a watcher of paths; onChange runs (on the watcher's own
// goroutine, one call at a time) with the path of a file that another
// program changed or removed.
func New(paths []string, onChange func(ctx context.Context, path string), log *slog.Logger) *Watcher {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Watcher{onChange: onChange, log: log, files: map[string]bool{},
		last: map[string][sha256.Size]byte{}, timers: map[string]*time.Timer{}}
	for _, p := range paths {
		p = filepath.Clean(p)
		w.files[p] = true
		w.last[p] = hashFile(p)
	}
	return w
}

// Remember records content the broker itself wrote to path, so that the
// event of that write is not taken for someone else's change.
func (w *Watcher) Remember(path string, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.last[filepath.Clean(path)] = sha256.Sum256(data)
}

// missing is the hash that stands for a file that does not exist.
var missing = [sha256.Size]byte{}

func hashFile(p string) [sha256.Size]byte {
	b, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return missing
	}
	return sha256.Sum256(b)
}

// Run watches until ctx ends. Folders that do not exist are not watched
// (the broker creates them when it first writes; restart to watch them).
func (w *Watcher) Run(ctx context.Context) error {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("starting the file watcher: %w", err)
	}
	defer fw.Close()
	dirs := map[string]bool{}
	w.mu.Lock()
	for p := range w.files {
		dirs[filepath.Dir(p)] = true
	}
	w.mu.Unlock()
	for d := range dirs {
		if err := fw.Add(d); err != nil {
			w.log.Warn("cannot watch folder", "dir", d, "err", err)
		}
	}
	due := make(chan string, 64)
	defer func() {
		w.mu.Lock()
		for _, t := range w.timers {
			t.Stop()
		}
		w.mu.Unlock()
	}()
	for {
		select {
		case <-ctx.Done():
			return nil
		case err, ok := <-fw.Errors:
			if !ok {
				return nil
			}
			w.log.Warn("file watcher error", "err", err)
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			p := filepath.Clean(ev.Name)
			w.mu.Lock()
			if w.files[p] {
				if t, ok := w.timers[p]; ok {
					t.Reset(Debounce)
				} else {
					w.timers[p] = time.AfterFunc(Debounce, func() {
						select {
						case due <- p:
						case <-ctx.Done():
						}
					})
				}
			}
			w.mu.Unlock()
		case p := <-due:
			w.mu.Lock()
			delete(w.timers, p)
			h := hashFile(p)
			changed := h != w.last[p]
			w.last[p] = h
			w.mu.Unlock()
			if changed {
				w.log.Debug("file changed by another program", "path", p)
				w.onChange(ctx, p)
			}
		}
	}
}
