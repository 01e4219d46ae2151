package delivery

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
)

// Changes of config.toml that Connect reports.
const (
	Added        = "added"
	Updated      = "updated"
	AlreadyThere = "already there"
)

// Connected says what Connect did.
type Connected struct {
	// Config is what happened to the target in config.toml: Added,
	// Updated or AlreadyThere.
	Config string
	// Mode is the target's effective mode.
	Mode string
	// Result is the client's file's write.
	Result Result
}

// Connect adds t (t.Profile set) to the config file and wires the client's
// file at once. When the wiring fails, the config file is put back as it
// was, byte for byte, so that no later `sync` trips over a target that
// never worked; the error is the wiring's. Running it again with the same
// client, server and profile updates the one target.
func (d *Deliverer) Connect(ctx context.Context, configFile string, t config.Target, tokenFn TokenFunc) (Connected, error) {
	tg, err := d.Target(t)
	if err != nil {
		return Connected{}, err
	}
	var tok token.Token
	if tg.NeedsToken() {
		if tok, err = tokenFn(ctx); err != nil {
			return Connected{}, err
		}
	}
	before, existed, err := readFile(configFile)
	if err != nil {
		return Connected{}, err
	}
	updated, changed, err := config.AddTarget(ctx, configFile, t)
	if err != nil {
		return Connected{}, err
	}
	after, _, err := readFile(configFile)
	if err != nil {
		return Connected{}, err
	}
	c := Connected{Config: AlreadyThere, Mode: tg.Mode()}
	switch {
	case !updated:
		c.Config = Added
	case changed:
		c.Config = Updated
	}
	c.Result = tg.Apply(ctx, tok)
	if c.Result.Err == nil || !changed {
		return c, c.Result.Err
	}
	if rerr := restore(ctx, configFile, before, existed, after); rerr != nil {
		return c, errors.Join(c.Result.Err, rerr)
	}
	return c, c.Result.Err
}

// restore puts the config file back to before (removes it when it did not
// exist) unless another program changed it since Connect wrote after.
func restore(ctx context.Context, path string, before []byte, existed bool, after []byte) error {
	changed := fmt.Errorf("%s changed meanwhile; the target broker added stays in it", path)
	if !existed {
		cur, ok, err := readFile(path)
		if err != nil || !ok {
			return err
		}
		if !bytes.Equal(cur, after) {
			return changed
		}
		if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("removing %s again: %w", path, err)
		}
		return nil
	}
	_, err := atomicfile.Update(ctx, path, func(cur []byte, exists bool) ([]byte, error) {
		if !exists || !bytes.Equal(cur, after) {
			return nil, changed
		}
		return before, nil
	})
	if err != nil {
		return fmt.Errorf("putting %s back: %w", path, err)
	}
	return nil
}

func readFile(path string) ([]byte, bool, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, true, nil
}

// Disconnected says what Disconnect did.
type Disconnected struct {
	// Removed reports whether config.toml held the target.
	Removed bool
	// Results are the unwiring of the client's file (one per file the
	// ledger knows for the target).
	Results []Result
}

// Disconnect removes the target with t's profile, client and server (for
// json, envfile and file: its path) from the config file, calls reload
// (nil: none; the running daemon stops writing it), and then unwires
// every file the ledger lists for it: the token scrubbed, the helper line
// or the bridge entry the broker created removed, the user's own entry and
// its other keys kept. A target that neither config.toml nor the ledger
// knows is a *config.Error.
func (d *Deliverer) Disconnect(ctx context.Context, configFile string, cfg *config.Config, t config.Target, reload func(context.Context) error) (Disconnected, error) {
	var out Disconnected
	var found *config.Target
	if p := cfg.Profiles[t.Profile]; p != nil {
		for _, c := range p.Targets {
			if same(c, t) {
				c.Profile = t.Profile
				found = &c
				break
			}
		}
	}
	var targets []*Target
	if found != nil {
		tg, err := d.Target(*found)
		if err != nil {
			return out, err
		}
		targets = append(targets, tg)
	}
	recs, err := d.ledger.Records(ctx, t.Profile)
	if err != nil {
		return out, err
	}
	for _, r := range recs {
		rt := r.Target()
		if rt.Client != t.Client || rt.Server != t.Server {
			continue
		}
		if t.Server == "" && t.Path != "" {
			if want, err := d.Target(t); err != nil || want.it.File() != r.File {
				continue
			}
		}
		if len(targets) > 0 && targets[0].it.File() == r.File {
			continue
		}
		tg, err := d.Target(rt)
		if err != nil {
			out.Results = append(out.Results, Result{Target: rt, Path: r.File, Word: Failed, Err: err})
			continue
		}
		targets = append(targets, tg)
	}
	if found == nil && len(targets) == 0 && len(out.Results) == 0 {
		return out, &config.Error{Path: configFile, Message: fmt.Sprintf("profile %s has no target %s", t.Profile, name(t)),
			Hint: "see `broker status` for the targets; nothing was changed"}
	}
	if found != nil {
		if out.Removed, err = config.RemoveTarget(ctx, configFile, *found); err != nil {
			return out, err
		}
		if reload != nil {
			if err := reload(ctx); err != nil {
				return out, err
			}
		}
	}
	for _, tg := range targets {
		out.Results = append(out.Results, tg.Unwire(ctx))
	}
	return out, nil
}

// same reports whether a and b are the same target of a profile, as
// config.AddTarget decides it.
func same(a, b config.Target) bool {
	if a.Client != b.Client || a.Server != b.Server {
		return false
	}
	return a.Server != "" || a.Path == b.Path
}

func name(t config.Target) string {
	n := t.Server
	if n == "" {
		n = t.Path
	}
	return strings.TrimSuffix(t.Client+"/"+n, "/")
}
