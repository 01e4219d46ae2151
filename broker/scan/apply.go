package scan

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"strings"
	"sync"

	"github.com/aymanbagabas/go-udiff"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files"
	"github.com/mcp-token-broker/mcp-token-broker/files/gitcheck"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Change is one file that a plan changes.
type Change struct {
	Path string
	// Exists reports whether the file is there now.
	Exists        bool
	Before, After []byte
}

// Diff is the change as a unified diff, with every secret in it (a
// token, a local credential, a subscription key…) shown as ***. home, when
// set, is written as ~ in the file names.
func (c Change) Diff(home string) string {
	name := c.Path
	if home != "" {
		if rel, ok := strings.CutPrefix(name, home+string(os.PathSeparator)); ok {
			name = "~" + string(os.PathSeparator) + rel
		}
	}
	from := name
	if !c.Exists {
		from = "/dev/null"
	}
	before, after := string(c.Before), string(c.After)
	// Only the lines between the common head and tail are compared:
	// Claude Code's ~/.claude.json can be tens of MB, of which a plan
	// changes a line or two.
	head := 0
	for head < len(before) && head < len(after) && before[head] == after[head] {
		head++
	}
	head = strings.LastIndexByte(before[:head], '\n') + 1
	tail := 0
	for tail < len(before)-head && tail < len(after)-head && before[len(before)-1-tail] == after[len(after)-1-tail] {
		tail++
	}
	if i := strings.IndexByte(before[len(before)-tail:], '\n'); i >= 0 {
		tail -= i + 1 // the tail starts at a line
	} else {
		tail = 0
	}
	edits := udiff.Lines(before[head:len(before)-tail], after[head:len(after)-tail])
	for i := range edits {
		edits[i].Start += head
		edits[i].End += head
	}
	u, err := udiff.ToUnified(from, name, before, edits, udiff.DefaultContextLines)
	if err != nil {
		// Cannot happen (the edits are udiff's own); the whole files then.
		u = udiff.Unified(from, name, before, after)
	}
	// Redacted after the diff: each line on its own, as printed.
	return Redact(u)
}

var (
	jwtRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*`)
	})
	// secretRE is a key whose name says it holds a secret, and its
	// string value: "Authorization": "…", Ocp-Apim-Subscription-Key = "…".
	secretRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`(?i)((?:"[^"\n]*(?:authorization|key|token|secret|password|credential)[^"\n]*"|[A-Za-z0-9_-]*(?:authorization|key|token|secret|password|credential)[A-Za-z0-9_-]*)\s*[:=]\s*")((?:[^"\\\n]|\\.)*)(")`)
	})
	envRefRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^(?:Bearer\s+)?(?:\$\{[^}]+\}|\$env:\w+|\{env:[^}]+\}|[A-Z_][A-Z0-9_]*)$`)
	})
)

// Redact replaces every secret in a client's or the broker's file by ***:
// JSON Web Tokens anywhere, and the string values of keys named like a
// secret (an Authorization header keeps its "Bearer "; a reference to an
// environment variable stays, it is no secret).
func Redact(s string) string {
	s = jwtRE().ReplaceAllString(s, "***")
	return secretRE().ReplaceAllStringFunc(s, func(m string) string {
		g := secretRE().FindStringSubmatch(m)
		v := g[2]
		if v == "" || v == "***" || v == "Bearer ***" || envRefRE().MatchString(v) {
			return m
		}
		if len(v) > 7 && strings.EqualFold(v[:7], "bearer ") {
			return g[1] + v[:7] + "***" + g[3]
		}
		return g[1] + "***" + g[3]
	})
}

// previewToken stands for a token that a preview does not have.
var previewToken = token.Token{Value: "(the token)"}

// Preview returns every file the plan changes (config.toml first) with
// its content now and after, as Apply would leave it, without writing
// anything. d must be a Deliverer whose proxy endpoints make no
// credential (a preview's). Warnings name what the plan cannot do (a
// pasted token in a place the broker does not manage stays).
// Header-mode targets get no token from Apply (the sign-in writes it):
// their preview is the pasted token's removal.
func (p Plan) Preview(ctx context.Context, d *delivery.Deliverer, configFile string) (changes []Change, warnings []string, err error) {
	byPath := map[string]*Change{}
	var order []string
	read := func(path string) (*Change, error) {
		if c := byPath[path]; c != nil {
			return c, nil
		}
		data, err := files.ReadRegular(path, files.MaxClientFile)
		c := &Change{Path: path, Exists: err == nil}
		switch {
		case errors.Is(err, fs.ErrNotExist):
		case err != nil:
			return nil, fmt.Errorf("reading %s: %w", path, err)
		}
		c.Before, c.After = data, data
		byPath[path] = c
		order = append(order, path)
		return c, nil
	}
	cfgc, err := read(configFile)
	if err != nil {
		return nil, nil, err
	}
	for _, pp := range p.Profiles {
		if pp.New {
			if cfgc.After, err = config.AppendedProfile(configFile, cfgc.After, pp.Profile); err != nil {
				return nil, nil, err
			}
		}
	}
	for _, pt := range p.Targets {
		if cfgc.After, _, err = config.AddedTarget(configFile, cfgc.After, pt.Target); err != nil {
			return nil, nil, err
		}
	}
	for _, pt := range p.Targets {
		tg, err := d.Target(pt.Target)
		if err != nil {
			return nil, nil, err
		}
		c, err := read(tg.Path())
		if err != nil {
			return nil, nil, err
		}
		after, err := tg.Preview(ctx, c.After, c.Exists || len(c.After) > 0, previewToken, pt.Replace, tg.NeedsToken())
		if err != nil {
			return nil, nil, err
		}
		c.After = after
		if pt.Entry.pasted != "" && bytes.Contains(after, []byte(pt.Entry.pasted.Reveal())) {
			warnings = append(warnings, fmt.Sprintf("%s: the pasted token of %s %s stays in the file (the broker does not manage the place it is in): remove it by hand",
				c.Path, pt.Target.Client, pt.Target.Server))
		}
	}
	for _, path := range order {
		if c := byPath[path]; !bytes.Equal(c.Before, c.After) || (!c.Exists && c.After != nil) {
			changes = append(changes, *c)
		}
	}
	return changes, warnings, nil
}

// Outcome is what applying one target did.
type Outcome struct {
	Target PlannedTarget
	// Mode is the target's effective mode.
	Mode string
	// Result is the client's file's write.
	Result delivery.Result
	// TokenLater reports that the target writes the token into the file
	// (header mode): the sign-in or the running daemon writes it.
	TokenLater bool
}

// Apply writes the plan: the new profiles into config.toml, then each
// target through the delivery engine, as `broker connect` does (a target
// whose wiring fails is taken out of config.toml again, and the others
// are still written). A pasted token is adopted first (see
// delivery.Target.Adopt), so the wiring replaces it; a header-mode
// target, which needs a token that a new profile does not have yet, has
// the pasted token scrubbed and gets the new one at sign-in. The error
// is one that stops everything (config.toml cannot be written).
func (p Plan) Apply(ctx context.Context, d *delivery.Deliverer, configFile string) ([]Outcome, error) {
	for _, pp := range p.Profiles {
		if pp.New {
			if err := config.AppendProfile(ctx, configFile, pp.Profile); err != nil {
				return nil, err
			}
		}
	}
	var out []Outcome
	for _, pt := range p.Targets {
		o := Outcome{Target: pt, Result: delivery.Result{Target: pt.Target, Path: pt.Entry.Path, Word: delivery.Failed}}
		tg, err := d.Target(pt.Target)
		if err != nil {
			o.Result.Err = err
			out = append(out, o)
			continue
		}
		o.Mode, o.Result.Path, o.TokenLater = tg.Mode(), tg.Path(), tg.NeedsToken()
		undo := func(context.Context) error { return nil }
		if pt.Replace {
			if undo, err = tg.Adopt(ctx); err != nil {
				o.Result.Err = err
				out = append(out, o)
				continue
			}
		}
		if tg.NeedsToken() {
			o.Result, err = addAndScrub(ctx, tg, configFile)
		} else {
			var c delivery.Connected
			c, err = d.Connect(ctx, configFile, pt.Target, func(context.Context) (token.Token, error) {
				return token.Token{}, fmt.Errorf("%s needs no token", tg)
			})
			o.Result = c.Result
			if o.Result.Path == "" {
				o.Result.Target, o.Result.Path, o.Result.Word = pt.Target, tg.Path(), delivery.Failed
			}
		}
		if err != nil {
			o.Result.Word, o.Result.Err = delivery.Failed, errors.Join(err, undo(ctx))
		}
		out = append(out, o)
	}
	return out, nil
}

// addAndScrub adds a header-mode target to config.toml and takes the
// adopted token out of its file; when that fails, the target goes from
// config.toml again.
func addAndScrub(ctx context.Context, tg *delivery.Target, configFile string) (delivery.Result, error) {
	fail := func(err error) (delivery.Result, error) {
		return delivery.Result{Target: tg.Config(), Path: tg.Path(), Word: delivery.Failed, Err: err}, err
	}
	// The sign-in could never write the token there: say so now, not
	// at every refresh.
	if tracked, err := gitcheck.Tracked(ctx, tg.Path()); err != nil {
		return fail(fmt.Errorf("%s: checking git for %s: %w", tg, tg.Path(), err))
	} else if tracked {
		return fail(&integrations.HintError{
			Err: fmt.Errorf("%s: not wired: its mode %s writes the token into %s, which git tracks or would commit", tg, tg.Mode(), tg.Path()),
			Hint: fmt.Sprintf("add the file to .gitignore and run `broker scan --apply` again, or wire it without a token in the file: `broker connect %s --server %s --path %s --mode bridge`",
				tg.Config().Client, tg.Config().Server, tg.Path()),
		})
	}
	updated, changed, err := config.AddTarget(ctx, configFile, tg.Config())
	if err != nil {
		return fail(err)
	}
	r := tg.Remove(ctx)
	if r.Err != nil && changed && !updated {
		if _, rerr := config.RemoveTarget(ctx, configFile, tg.Config()); rerr != nil {
			return r, errors.Join(r.Err, rerr)
		}
	}
	return r, r.Err
}
