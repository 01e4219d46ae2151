package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

type syncOptions struct {
	Profile string
}

func newSyncCmd(app *App) *cobra.Command {
	opts := syncOptions{}
	cmd := &cobra.Command{
		Use:   "sync",
		Short: "Write every target now",
		Long: `Write the current token (or the helper entry) to every target of the
profile, or of every profile, now. Prints one line per target: ok (written),
unchanged, or error with a hint. Exits 1 when any target failed; the others
are still written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return syncRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (default: every profile)")
	return cmd
}

// targetResult is one line of sync's report.
type targetResult struct {
	target  config.Target
	path    string
	changed bool
	err     error
	warning string
}

func syncRun(ctx context.Context, app *App, opts syncOptions) error {
	if c := app.daemon(ctx); c != nil {
		if err := app.syncViaDaemon(ctx, c, opts.Profile); !noDaemon(err) {
			return err
		}
	}
	eng, err := app.openEngine(ctx, false)
	if err != nil {
		return err
	}
	names := eng.Config().ProfileNames()
	if opts.Profile != "" {
		p, err := eng.Profile(opts.Profile)
		if err != nil {
			return err
		}
		names = []string{p.Name}
	}
	env, err := envFor(eng.Config())
	if err != nil {
		return err
	}
	var results []targetResult
	for _, name := range names {
		p := eng.Config().Profiles[name]
		results = append(results, syncProfile(ctx, app, eng, p, env)...)
	}
	if len(results) == 0 {
		fmt.Fprintln(app.Stdout, "no targets configured")
		return nil
	}
	if printResults(app.Stdout, results) {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}

// syncProfile writes every target of p. The token is fetched only when a
// target needs it; without one, those targets fail and the others are
// still written.
func syncProfile(ctx context.Context, app *App, eng *engine.Engine, p *config.Profile, env integrations.Env) []targetResult {
	results := make([]targetResult, len(p.Targets))
	var tok token.Token
	var tokErr error
	fetched := false
	for i, tc := range p.Targets {
		tc.Profile = p.Name
		results[i] = targetResult{target: tc, path: tc.Path}
		tg, err := integrations.New(tc, env)
		if err != nil {
			results[i].err = err
			continue
		}
		results[i].path = tg.Path()
		if tg.NeedsToken() && !fetched {
			fetched = true
			tok, tokErr = app.fetchToken(ctx, p.Name, defaultMinValidity)
		}
		if tg.NeedsToken() && tokErr != nil {
			results[i].err = tokErr
			continue
		}
		results[i].changed, results[i].err = tg.Sync(ctx, tok)
		if results[i].err == nil && tg.NeedsToken() {
			if fi, err := os.Stat(tg.Path()); err == nil && integrations.OpenToOthers(env.GOOS, fi.Mode()) {
				results[i].warning = "other users can read this file; run `chmod 600 " + tg.Path() + "`"
			}
		}
	}
	return results
}

// printResults writes one line per target and reports whether any failed.
func printResults(w io.Writer, results []targetResult) (failed bool) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	for _, r := range results {
		name := r.target.Server
		if name == "" {
			name = "-"
		}
		status := "unchanged"
		if r.changed {
			status = "ok"
		}
		if r.err != nil {
			failed = true
			status = "error: " + r.err.Error()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", r.target.Client, name, r.path, status)
		var h interface{ HintText() string }
		if r.err != nil && errors.As(r.err, &h) && h.HintText() != "" {
			fmt.Fprintf(tw, "\t\t\thint: %s\n", h.HintText())
		}
		if r.warning != "" {
			fmt.Fprintf(tw, "\t\t\twarning: %s\n", r.warning)
		}
	}
	tw.Flush()
	return failed
}
