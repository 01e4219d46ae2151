package daemon

import (
	"context"
	"crypto/sha256"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// debounce is how long a file must be quiet before its handlers run:
// editors and clients write in several steps (truncate, write, rename).
const debounce = 250 * time.Millisecond

// watcher watches folders (not files: clients replace files by rename) and
// calls the handlers of a file after it changed and went quiet.
type watcher struct {
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

func newWatcher(log *slog.Logger) (*watcher, error) {
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, err
	}
	return &watcher{fs: fw, log: log, dirs: map[string]bool{}, handlers: map[string][]func(){},
		timers: map[string]*time.Timer{}, seen: map[string][sha256.Size]byte{}}, nil
}

// remember records what the broker itself wrote to path, so that the
// event of that write does not cause a re-apply.
func (w *watcher) remember(path string, data []byte) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.seen[filepath.Clean(path)] = sha256.Sum256(data)
}

// hashFile hashes path's content (a missing file hashes as empty).
func hashFile(path string) [sha256.Size]byte {
	b, _ := os.ReadFile(path)
	return sha256.Sum256(b)
}

// set replaces the handlers (file path → functions) and watches their
// folders. A folder that does not exist yet is not watched.
func (w *watcher) set(handlers map[string][]func()) {
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
func (w *watcher) addMissing() {
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
	}
}

// retry watches folders that did not exist before.
func (w *watcher) retry() {
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.dirs) < len(w.want) {
		w.addMissing()
	}
}

// run delivers events until ctx ends.
func (w *watcher) run(ctx context.Context) {
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
					t.Reset(debounce)
				} else {
					w.timers[name] = time.AfterFunc(debounce, func() { w.fire(ctx, name) })
				}
			}
			w.mu.Unlock()
		}
	}
}

func (w *watcher) fire(ctx context.Context, name string) {
	h := hashFile(name)
	w.mu.Lock()
	delete(w.timers, name)
	hs := w.handlers[name]
	prev, ok := w.seen[name]
	w.seen[name] = h
	w.mu.Unlock()
	if ctx.Err() != nil || ok && prev == h {
		return
	}
	for _, h := range hs {
		h()
	}
}

// watchFiles points the watcher at the config file and every target's
// files.
func (d *Daemon) watchFiles(w *watcher) {
	d.mu.Lock()
	d.w = w
	ctx := d.ctx
	hs := map[string][]func(){}
	if d.opts.ConfigPath != "" {
		hs[d.opts.ConfigPath] = append(hs[d.opts.ConfigPath], func() { d.reload(ctx) })
	}
	for _, p := range d.profiles {
		for _, t := range p.r.targets {
			var paths []string
			if wp, ok := t.impl.(interface{ WatchPaths() []string }); ok {
				paths = wp.WatchPaths()
			} else if t.path != "" {
				paths = []string{t.path}
			}
			for _, path := range paths {
				hs[path] = append(hs[path], t.reapply)
			}
		}
	}
	d.mu.Unlock()
	w.set(hs)
}

func (d *Daemon) watcherOf() *watcher {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w
}

// Written tells the daemon what the broker just wrote to a target's file
// (integrations.Env.Written), so that the watcher does not take the
// broker's own write for a client's.
func (d *Daemon) Written(path string, data []byte) {
	if w := d.watcherOf(); w != nil {
		w.remember(path, data)
	}
}
