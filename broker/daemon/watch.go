package daemon

import "github.com/mcp-token-broker/mcp-token-broker/files/watch"

// watchFiles points the watcher at the config file and every target's
// files.
func (d *Daemon) watchFiles(w *watch.Watcher) {
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
	w.Set(hs)
}

func (d *Daemon) watcherOf() *watch.Watcher {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.w
}

// Written tells the daemon what the broker just wrote to a target's file
// (integrations.Env.Written), so that the watcher does not take the
// broker's own write for a client's.
func (d *Daemon) Written(path string, data []byte) {
	if w := d.watcherOf(); w != nil {
		w.Remember(path, data)
	}
}
