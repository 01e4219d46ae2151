package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// How the verbs report delivery (the delivery itself is broker/delivery):
// one line per target on stdout, "client server path word" with the
// words ok, unchanged and error; each error ("PATH:LINE:COL: message"
// where the file does not parse) and warning on stderr with its hint.

// deliverer is the delivery engine of this machine, its ledger in the
// state folder.
func (a *App) deliverer() (*delivery.Deliverer, error) {
	env, err := a.envOfApp() // with the loopback proxy's endpoints
	if err != nil {
		return nil, err
	}
	dir, err := paths.StateDir()
	if err != nil {
		return nil, err
	}
	return delivery.New(env, dir), nil
}

// deliver writes tok to every target of p after `login`. Failures are
// warnings on stderr: login still succeeds, and `status` shows them.
func (a *App) deliver(ctx context.Context, p *config.Profile, tok token.Token) {
	d, err := a.deliverer()
	if err != nil {
		fmt.Fprintf(a.Stderr, "broker: warning: targets of profile %s: %s\n", p.Name, err)
		return
	}
	a.printWarnings(d.Profile(ctx, p, func(context.Context) (token.Token, error) { return tok, nil }))
}

// printResults writes one line per target to stdout, the errors and
// warnings to stderr, and reports whether any target failed.
func (a *App) printResults(results []delivery.Result) (failed bool) {
	return a.report(results, false)
}

// printWarnings is printResults for `login`, where a failed target is a
// warning (the sign-in succeeded; status shows the target's error).
func (a *App) printWarnings(results []delivery.Result) {
	a.report(results, true)
}

func (a *App) report(results []delivery.Result, errorsAreWarnings bool) (failed bool) {
	tw := tabwriter.NewWriter(a.Stdout, 0, 4, 2, ' ', 0)
	for _, r := range results {
		server := r.Target.Server
		if server == "" {
			server = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.Target.Client, server, r.Path, r.Word)
	}
	tw.Flush()
	for _, r := range results {
		if r.Err != nil {
			failed = true
			printTargetError(a.Stderr, r, errorsAreWarnings)
		}
		if r.Warning != "" {
			fmt.Fprintf(a.Stderr, "broker: warning: %s: %s\n", r.Path, r.Warning)
		}
	}
	return failed
}

// printTargetError writes a target's error and its hint.
func printTargetError(w io.Writer, r delivery.Result, warning bool) {
	if warning {
		fmt.Fprintf(w, "broker: warning: %s\n", r.Err)
	} else {
		fmt.Fprintf(w, "broker: %s\n", r.Err)
	}
	if h := r.Hint(); h != "" {
		fmt.Fprintf(w, "hint: %s\n", h)
	}
}

// statusResults turns the daemon's target states into results.
func statusResults(p state.Profile) []delivery.Result {
	var out []delivery.Result
	for _, t := range p.Targets {
		r := delivery.Result{Target: config.Target{Client: t.Client, Server: t.Server, Profile: p.Name}, Path: t.Path, Word: t.Result, Warning: t.Warning}
		switch {
		case t.State == state.TargetError:
			r.Word, r.Err = delivery.Failed, hintedText{t.Error, t.Hint}
		case r.Word == "":
			r.Word = t.State
		}
		out = append(out, r)
	}
	return out
}

// warnTarget reports a problem that does not stop the command.
func (a *App) warnTarget(err error) {
	fmt.Fprintf(a.Stderr, "broker: warning: %s\n", err)
	if h := hintOf(err); h != "" {
		fmt.Fprintf(a.Stderr, "hint: %s\n", h)
	}
}

// hintOf is err's hint ("" when none).
func hintOf(err error) string {
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		return h.HintText()
	}
	return ""
}

// hintedText is an error that came as text (over the local API).
type hintedText struct{ msg, hint string }

func (e hintedText) Error() string    { return e.msg }
func (e hintedText) HintText() string { return e.hint }

// targetPaths fills in each target's file in an offline status.
func targetPaths(cfg *config.Config, st *state.Status) {
	env, err := envFor(cfg)
	if err != nil {
		return
	}
	for i := range st.Profiles {
		p := cfg.Profiles[st.Profiles[i].Name]
		if p == nil {
			continue
		}
		for j := range st.Profiles[i].Targets {
			if j >= len(p.Targets) {
				break
			}
			t, err := integrations.New(p.Targets[j], env)
			if err != nil {
				st.Profiles[i].Targets[j].State = state.TargetError
				st.Profiles[i].Targets[j].Error = err.Error()
				continue
			}
			st.Profiles[i].Targets[j].Path = t.Path()
		}
	}
}
