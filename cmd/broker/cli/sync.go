package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
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
profile, or of every profile, now, through the running daemon when there
is one. Prints one line per target on stdout: client, server, file and ok
(written), unchanged, or error; each error goes to stderr as
"PATH:LINE:COL: message" where the file does not parse, with a hint.
Exits 1 when any target failed; the others are still written.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return syncRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (default: every profile)")
	return cmd
}

func syncRun(ctx context.Context, app *App, opts syncOptions) error {
	if c := app.daemon(ctx); c != nil {
		if err := app.syncViaDaemon(ctx, c, opts.Profile); !noDaemon(err) {
			return err
		}
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	names := cfg.ProfileNames()
	if opts.Profile != "" {
		p, err := engine.SelectProfile(cfg, opts.Profile)
		if err != nil {
			return err
		}
		names = []string{p.Name}
	}
	d, err := app.deliverer()
	if err != nil {
		return err
	}
	var results []delivery.Result
	for _, name := range names {
		results = append(results, d.Profile(ctx, cfg.Profiles[name], func(ctx context.Context) (token.Token, error) {
			return app.fetchToken(ctx, name, defaultMinValidity)
		})...)
	}
	if len(results) == 0 {
		fmt.Fprintln(app.Stdout, "no targets configured")
		return nil
	}
	if app.printResults(results) {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}
