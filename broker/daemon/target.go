package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Target is one delivery target as the daemon uses it (*delivery.Target
// satisfies it: the same engine as `sync`, `login` and `logout`). Apply
// writes tok (a second Apply with the same token changes nothing); Remove
// scrubs the token. Both may block on file I/O; a failed Result carries
// the error.
type Target interface {
	Apply(ctx context.Context, tok token.Token) delivery.Result
	Remove(ctx context.Context) delivery.Result
}

// writeTimeout bounds one write; a write in progress at shutdown runs to
// its end (or this timeout), never cut in half.
const writeTimeout = 30 * time.Second

// job is what a target worker should do next.
type job struct {
	gen    uint64
	tok    token.Token
	remove bool
}

// targetWorker owns one target's writes: it always writes the latest token
// it was given, retries a failure with backoff without holding the other
// targets back, and keeps the result for status.
type targetWorker struct {
	cfg  config.Target
	path string
	impl Target
	d    *Daemon
	log  *slog.Logger

	kick chan struct{} // buffer 1

	mu      sync.Mutex
	want    job
	st      state.Target
	waiters []waiter
}

type waiter struct {
	gen uint64
	ch  chan error // buffer 1
}

func newTargetWorker(d *Daemon, cfg config.Target, path string, impl Target, log *slog.Logger) *targetWorker {
	return &targetWorker{
		cfg:  cfg,
		path: path,
		impl: impl,
		d:    d,
		log:  log.With("client", cfg.Client, "server", cfg.Server, "path", path),
		kick: make(chan struct{}, 1),
		st: state.Target{
			Client: cfg.Client,
			Server: cfg.Server,
			Path:   path,
			State:  state.TargetPending,
		},
	}
}

// set asks for tok to be written (or, with remove, the token to be
// scrubbed) and returns a channel that receives the result of the first
// attempt that covers this request.
func (w *targetWorker) set(tok token.Token, remove bool) <-chan error {
	ch := make(chan error, 1)
	w.mu.Lock()
	w.want = job{gen: w.want.gen + 1, tok: tok, remove: remove}
	w.waiters = append(w.waiters, waiter{gen: w.want.gen, ch: ch})
	w.st.State = state.TargetPending
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
	return ch
}

// reapply writes the latest token again (the watcher saw the file change).
func (w *targetWorker) reapply() {
	w.mu.Lock()
	j := w.want
	w.mu.Unlock()
	if j.gen == 0 || j.remove || j.tok.Value == "" {
		return
	}
	w.set(j.tok, false)
}

func (w *targetWorker) status() state.Target {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.st
}

// run writes until ctx ends. A write in progress when ctx ends finishes.
func (w *targetWorker) run(ctx context.Context) {
	var done uint64 // the last generation written successfully
	failures := 0
	var retry <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			w.finish(errors.New("daemon stopped"))
			return
		case <-w.kick:
		case <-retry:
		}
		retry = nil
		w.mu.Lock()
		j := w.want
		w.mu.Unlock()
		if j.gen == 0 || j.gen == done {
			continue
		}
		res := w.write(ctx, j)
		err := res.Err
		now := w.d.clock.Now()
		w.mu.Lock()
		w.st.Result, w.st.Hint, w.st.Warning = res.Word, res.Hint(), res.Warning
		if err == nil {
			done = j.gen
			failures = 0
			if w.want.gen == j.gen {
				// After a sign-out the file holds no token: nothing is
				// delivered there until the next sign-in.
				w.st.State = state.TargetOK
				if j.remove {
					w.st.State = state.TargetPending
				}
			}
			w.st.Error = ""
			if j.remove {
				w.st.Written = nil
			} else {
				w.st.Written = &now
			}
		} else {
			failures++
			w.st.State = state.TargetError
			w.st.Error = err.Error()
		}
		w.release(j.gen, err)
		w.mu.Unlock()
		w.d.notify()
		if err != nil {
			delay := backoff(failures, w.d.rand())
			w.log.Warn("target write failed", "err", err, "retry_in", delay.Round(time.Millisecond))
			retry = w.d.clock.After(delay)
		}
	}
}

// write does one job with a context that shutdown does not cancel.
func (w *targetWorker) write(ctx context.Context, j job) (res delivery.Result) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	defer func() {
		if p := recover(); p != nil {
			res = delivery.Result{Word: delivery.Failed, Err: fmt.Errorf("writing %s: internal error: %v", w.path, p)}
		}
	}()
	if j.remove {
		res = w.impl.Remove(wctx)
		if res.Err == nil && res.Word == delivery.Wrote {
			w.log.Info("token removed from target")
		}
		return res
	}
	res = w.impl.Apply(wctx, j.tok)
	if res.Err == nil {
		w.log.Debug("token written", "result", res.Word, "expires_on", j.tok.ExpiresOn)
	}
	return res
}

// release answers the waiters covered by generation gen. w.mu is held.
func (w *targetWorker) release(gen uint64, err error) {
	keep := w.waiters[:0]
	for _, wt := range w.waiters {
		if wt.gen <= gen {
			wt.ch <- err
		} else {
			keep = append(keep, wt)
		}
	}
	w.waiters = keep
}

// finish answers every waiter with err (at shutdown).
func (w *targetWorker) finish(err error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, wt := range w.waiters {
		wt.ch <- err
	}
	w.waiters = nil
}
