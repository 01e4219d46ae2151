// Package watch notices when another program rewrites a file the broker
// cares about (a target's file, the config), so that the broker can act:
// put its value back, reload. It watches folders, not files (clients
// replace files by rename, which a watch on the file loses), filters events
// by name, waits until a file has been quiet for a moment, and compares
// content hashes: a file whose content is what it was, or what the broker
// itself wrote (Remember), is no change.
package watch

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// Debounce is how long a file must be quiet before its handlers run:
// editors and clients write in several steps (truncate, write, rename).
const Debounce = 250 * time.Millisecond

// Watcher watches folders (not files: clients replace files by rename) and
// calls the handlers of a file after it changed and went quiet. It is safe
// for concurrent use.
type Watcher struct {
	fs  *fsnotify.Watcher
	log *slog.Logger

	mu       sync.Mutex
	dirs     map[string]bool // watched
	want     map[string]bool // to watch, once they exist
	handlers map[string][]func()
	timers   map[string]*time.Timer
	// seen is each file's content as last handled or written by the
	// broker: an event that leaves the content so is no change.
	seen map[string][sha256.Size]byte
}

// New starts an fsnotify watcher; Run delivers its events.
func New(log *slog.Logger) (*Watcher, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &Watcher{fs: fw, log: log, dirs: map[string]bool{}, handlers: map[string][]func(){},
		timers: map[string]*time.Timer{}, seen: map[string][sha256.Size]byte{}}, nil
}

// Remember records what the broker itself wrote to path, so that the
// event of that write does not cause a re-apply.
func (w *Watcher) Remember(path string, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[filepath.Clean(path)] = sha256.Sum256(data)
}

// hashFile hashes path's content (a missing file hashes as empty). Only a
// regular file is read, and at most files.MaxClientFile of it: a target
// that became a link to /dev/zero or a FIFO hashes as what it is (a
// change, which the handler then reports) instead of exhausting memory
// or blocking for ever.
func hashFile(path string) [sha256.Size]byte {
	f, _, err := files.OpenRegular(path)
	if errors.Is(err, fs.ErrNotExist) {
		return sha256.Sum256(nil)
	}
	if err != nil {
		return sha256.Sum256([]byte("unreadable: " + err.Error()))
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, io.LimitReader(f, files.MaxClientFile)); err != nil {
		return sha256.Sum256([]byte("unreadable: " + err.Error()))
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	return sum
}

// Set replaces the handlers (file path → functions) and watches their
// folders. A folder that does not exist yet is not watched.
func (w *Watcher) Set(handlers map[string][]func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handlers = map[string][]func(){}
	want := map[string]bool{}
	for p, hs := range handlers {
		p = filepath.Clean(p)
		w.handlers[p] = hs
		want[filepath.Dir(p)] = true
	}
	w.want = want
	w.addMissing()
	for dir := range w.dirs {
		if !want[dir] {
			_ = w.fs.Remove(dir)
			delete(w.dirs, dir)
		}
	}
}

// addMissing watches the wanted folders that exist now (a target's folder
// appears when the broker first writes there). w.mu is held.
func (w *Watcher) addMissing() {
	for dir := range w.want {
		if w.dirs[dir] {
			continue
		}
		if _, err := os.Stat(dir); err != nil {
			continue
		}
		if err := w.fs.Add(dir); err != nil {
			w.log.Warn("cannot watch folder", "dir", dir, "err", err)
			continue
		}
		w.dirs[dir] = true
		w.log.Debug("watching folder", "dir", dir)
	}
}

// Retry watches the wanted folders that did not exist before.
func (w *Watcher) Retry() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.dirs) < len(w.want) {
		w.addMissing()
	}
}

// Run delivers events until ctx ends; it blocks.
func (w *Watcher) Run(ctx context.Context) {
	defer w.fs.Close()
	for {
		select {
		case <-ctx.Done():
			w.mu.Lock()
			for _, t := range w.timers {
				t.Stop()
			}
			w.mu.Unlock()
			return
		case err, ok := <-w.fs.Errors:
			if !ok {
				return
			}
			w.log.Warn("file watcher error", "err", err)
		case ev, ok := <-w.fs.Events:
			if !ok {
				return
			}
			if ev.Op == fsnotify.Chmod {
				continue
			}
			name := filepath.Clean(ev.Name)
			w.mu.Lock()
			if _, ok := w.handlers[name]; ok {
				if t := w.timers[name]; t != nil {
					t.Reset(Debounce)
				} else {
					w.timers[name] = time.AfterFunc(Debounce, func() { w.fire(ctx, name) })
				}
			}
			w.mu.Unlock()
		}
	}
}

func (w *Watcher) fire(ctx context.Context, name string) {
	h := hashFile(name)
	w.mu.Lock()
	delete(w.timers, name)
	hs := w.handlers[name]
	prev, ok := w.seen[name]
	w.seen[name] = h
	w.mu.Unlock()
	changed := !ok || prev != h
	if ctx.Err() != nil {
		return
	}
	// Tests wait for this line instead of sleeping past the debounce.
	w.log.Debug("watched file settled", "path", name, "changed", changed)
	if !changed {
		return
	}
	for _, h := range hs {
		h()
	}
}
