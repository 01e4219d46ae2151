// Package delivery is the one delivery engine: the daemon's target
// workers, `login`, `logout`, `sync`, `connect` and `disconnect` all write
// and scrub the clients' files through it, with the same order, the same
// retry and the same result words (ok, unchanged, error with a hint),
// whether the daemon runs or not.
//
// What the broker writes where is kept in a ledger in the state folder
// (see Ledger): a value is replaced in helper mode or scrubbed only when
// the ledger says the broker wrote it, and logout scrubs every target the
// ledger lists, whatever config.toml says now.
package delivery

import (
	"context"
	"errors"
	"slices"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Result words, as `sync`, `login`, `logout` and `status` print them.
const (
	Wrote     = "ok"        // the file was written (or scrubbed)
	Unchanged = "unchanged" // the file already held it
	Failed    = "error"     // see Err and Hint
)

// Result is what one target's write or scrub did.
type Result struct {
	// Target is the target's configuration (with its profile).
	Target config.Target
	// Path is the target's file.
	Path string
	// Word is Wrote, Unchanged or Failed.
	Word string
	// Err is why it failed (it names the file, as PATH:LINE:COL: message
	// when the file does not parse).
	Err error
	// Warning is a problem that did not stop the write.
	Warning string
}

// OK reports whether the write succeeded (ok or unchanged).
func (r Result) OK() bool { return r.Err == nil }

// Hint says what to do about Err ("" when nothing useful).
func (r Result) Hint() string {
	var h interface{ HintText() string }
	if r.Err != nil && errors.As(r.Err, &h) {
		return h.HintText()
	}
	return ""
}

// Name is "client server" (client alone when there is no server).
func (r Result) Name() string {
	if r.Target.Server == "" {
		return r.Target.Client
	}
	return r.Target.Client + " " + r.Target.Server
}

// Deliverer builds targets and keeps the ledger. Safe for concurrent use.
type Deliverer struct {
	env    integrations.Env
	ledger *Ledger
}

// New returns a Deliverer for the machine env whose ledger is in stateDir.
func New(env integrations.Env, stateDir string) *Deliverer {
	return &Deliverer{env: env, ledger: OpenLedger(stateDir)}
}

// Ledger is the deliverer's ledger.
func (d *Deliverer) Ledger() *Ledger { return d.ledger }

// Target is one delivery target, ready to write. The daemon's target
// workers use it as their daemon.Target.
type Target struct {
	d   *Deliverer
	cfg config.Target
	it  *integrations.Target
}

// Target validates t and resolves its file. Errors are *config.Error.
func (d *Deliverer) Target(t config.Target) (*Target, error) {
	it, err := integrations.New(t, d.env)
	if err != nil {
		return nil, err
	}
	return &Target{d: d, cfg: t, it: it}, nil
}

// Config is the target's configuration.
func (t *Target) Config() config.Target { return t.cfg }

// Path is the target's file (as configured; symbolic links not resolved).
func (t *Target) Path() string { return t.it.Path() }

// Mode is the effective mode ("" for json, envfile and file).
func (t *Target) Mode() string { return t.it.Mode() }

// NeedsToken reports whether the target writes the token itself.
func (t *Target) NeedsToken() bool { return t.it.NeedsToken() }

// WatchPaths are the files to watch for another program's changes.
func (t *Target) WatchPaths() []string { return t.it.WatchPaths() }

// Integration is the client-side target (for `doctor`).
func (t *Target) Integration() *integrations.Target { return t.it }

// String names the target: "target claude/api".
func (t *Target) String() string { return t.it.String() }

func (t *Target) result(o integrations.Outcome, err error) Result {
	r := Result{Target: t.cfg, Path: t.it.Path(), Word: Unchanged}
	switch {
	case err != nil:
		r.Word, r.Err = Failed, err
	case o.Changed:
		r.Word = Wrote
	}
	return r
}

// owner is the ledger's view of one target for one operation.
type owner struct {
	ctx   context.Context
	l     *Ledger
	rec   *Record // the target's record as it would be created
	known *Record // its record when the operation started (nil: none)
	last  []integrations.Placed
}

func (t *Target) owner(ctx context.Context) (*owner, error) {
	rec := recordOf(t.cfg, t.it.File())
	known, err := t.d.ledger.record(ctx, rec.key())
	if err != nil {
		return nil, err
	}
	return &owner{ctx: ctx, l: t.d.ledger, rec: rec, known: known}, nil
}

func (o *owner) Owns(place, sum string) bool {
	if o.known == nil {
		return false
	}
	v := o.known.value(place)
	if v == nil {
		return false
	}
	if sum == "" {
		return v.Entry
	}
	return slices.Contains(v.SHA256, sum)
}

func (o *owner) Placing(file string, placed []integrations.Placed) error {
	o.last = placed
	rec := *o.rec
	rec.File = file
	o.rec = &rec
	return o.l.placing(o.ctx, &rec, placed)
}

// Apply writes tok to the target (or the helper or bridge entry, which
// needs none), recording in the ledger what it writes before the file is
// replaced. A file another program keeps changing is tried again.
func (t *Target) Apply(ctx context.Context, tok token.Token) Result {
	var o integrations.Outcome
	err := retry(ctx, func() error {
		own, err := t.owner(ctx)
		if err != nil {
			return err
		}
		o, err = t.it.Apply(ctx, tok, own)
		if err != nil {
			// The file was not replaced: what was recorded for it goes
			// (an entry recorded as the broker's that it never created
			// would make disconnect delete the user's own later).
			if uerr := t.d.ledger.put(ctx, own.rec.key(), own.known); uerr != nil {
				return errors.Join(err, uerr)
			}
			return err
		}
		return t.d.ledger.settle(ctx, own.rec.key(), own.last)
	})
	r := t.result(o, err)
	if err == nil && t.it.NeedsToken() {
		r.Warning = permissionWarning(t.d.env.GOOS, o.File)
	}
	return r
}

// Remove scrubs the token from every place the ledger lists for the
// target (a value the user wrote stays). The ledger keeps what could not
// be scrubbed, so the next logout tries again.
func (t *Target) Remove(ctx context.Context) Result {
	var o integrations.Outcome
	err := retry(ctx, func() error {
		own, err := t.owner(ctx)
		if err != nil {
			return err
		}
		if o, err = t.it.Remove(ctx, own); err != nil {
			return err
		}
		return t.d.ledger.forget(ctx, own.rec.key(), func(v Value) bool { return v.Secret })
	})
	return t.result(o, err)
}

// Unwire removes everything the ledger says the broker wrote for the
// target (its entry when the broker created it, else the helper line and
// the token) and forgets the target.
func (t *Target) Unwire(ctx context.Context) Result {
	var o integrations.Outcome
	err := retry(ctx, func() error {
		own, err := t.owner(ctx)
		if err != nil {
			return err
		}
		if o, err = t.it.Unwire(ctx, own); err != nil {
			return err
		}
		return t.d.ledger.forget(ctx, own.rec.key(), func(Value) bool { return true })
	})
	return t.result(o, err)
}

// Tries and waits of retry.
const attempts = 3

const retryWait = 100 * time.Millisecond

// retry runs f again when another program kept changing the file (each
// try already re-reads it many times): a moment later it usually has
// finished. Every other error is final here; the daemon retries those
// with its own backoff.
func retry(ctx context.Context, f func() error) error {
	wait := retryWait
	for i := 1; ; i++ {
		err := f()
		if err == nil || i == attempts || !errors.Is(err, atomicfile.ErrConflict) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(wait):
		}
		wait *= 4
	}
}

// ApplyAll writes tok to every target: targets that share a file one
// after the other in their order, different files at the same time. The
// results are in the targets' order.
func ApplyAll(ctx context.Context, targets []*Target, tok token.Token) []Result {
	out := make([]Result, len(targets))
	byFile := map[string][]int{}
	var files []string
	for i, t := range targets {
		f := t.it.File()
		if _, ok := byFile[f]; !ok {
			files = append(files, f)
		}
		byFile[f] = append(byFile[f], i)
	}
	var wg sync.WaitGroup
	for _, f := range files {
		wg.Add(1)
		go func(idx []int) {
			defer wg.Done()
			for _, i := range idx {
				out[i] = targets[i].Apply(ctx, tok)
			}
		}(byFile[f])
	}
	wg.Wait()
	return out
}

// TokenFunc fetches the profile's token (only when a target needs one).
type TokenFunc func(ctx context.Context) (token.Token, error)

// Profile writes every target of p: the token is fetched only when a
// target needs it; without one those targets fail and the others are
// still written. A target whose configuration is wrong fails alone.
func (d *Deliverer) Profile(ctx context.Context, p *config.Profile, tokenFn TokenFunc) []Result {
	out := make([]Result, len(p.Targets))
	var ready []*Target
	var at []int
	var tok token.Token
	var tokErr error
	fetched := false
	for i, tc := range p.Targets {
		tc.Profile = p.Name
		out[i] = Result{Target: tc, Path: tc.Path, Word: Failed}
		t, err := d.Target(tc)
		if err != nil {
			out[i].Err = err
			continue
		}
		out[i].Path = t.Path()
		if t.NeedsToken() {
			if !fetched {
				fetched = true
				tok, tokErr = tokenFn(ctx)
			}
			if tokErr != nil {
				out[i].Err = tokErr
				continue
			}
		}
		ready = append(ready, t)
		at = append(at, i)
	}
	for j, r := range ApplyAll(ctx, ready, tok) {
		out[at[j]] = r
	}
	return out
}

// Scrub takes the token out of every target the ledger lists for the
// profile ("" = every profile), whatever config.toml says now: targets
// removed from it, the targets of a removed profile, an old path. A
// target that cannot be scrubbed (a file that does not parse, a read-only
// one) stays in the ledger, so the next logout tries again.
func (d *Deliverer) Scrub(ctx context.Context, profile string) ([]Result, error) {
	recs, err := d.ledger.Records(ctx, profile)
	if err != nil {
		return nil, err
	}
	var out []Result
	for _, rec := range recs {
		if !rec.hasSecret() {
			continue
		}
		t, err := d.Target(rec.Target())
		if err != nil {
			out = append(out, Result{Target: rec.Target(), Path: rec.File, Word: Failed, Err: err})
			continue
		}
		out = append(out, t.Remove(ctx))
	}
	return out, nil
}
