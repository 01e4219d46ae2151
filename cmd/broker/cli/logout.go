package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
)

type logoutOptions struct {
	Profile string
	All     bool
}

func newLogoutCmd(app *App) *cobra.Command {
	opts := logoutOptions{}
	cmd := &cobra.Command{
		Use:   "logout",
		Short: "Forget the account and tokens and scrub them from every target",
		Long: `Forget the profile's account and tokens (with --all: every profile's) and
scrub the token from every file the broker wrote it to, as the ledger in
the state folder lists them, whatever config.toml says now: a target
removed from it, the targets of a removed profile (--all), an old path.
Only values the broker wrote go; a header you wrote yourself stays.

Prints one line per scrubbed target. When a token cannot be removed (the
file does not parse, is read-only, ...) it exits 1 naming the file (and
PATH:LINE:COL where known) and keeps the target in the ledger, so that the
next logout tries again.

The scopes that servers' scope challenges added to a profile are forgotten
too: the next sign-in asks for the profile's scopes alone.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.All && opts.Profile != "" {
				return UsageErrorf("--all and --profile cannot be used together")
			}
			return logoutRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	cmd.Flags().BoolVar(&opts.All, "all", false, "sign out of every profile")
	return cmd
}

func logoutRun(ctx context.Context, app *App, opts logoutOptions) error {
	viaDaemon := false
	if c := app.daemon(ctx); c != nil {
		// The daemon stops delivering and scrubs its targets; the ledger
		// pass below scrubs whatever else the broker ever wrote. With
		// --all the local pass also reports each profile and forgets the
		// tokens of profiles no longer configured.
		err := app.logoutViaDaemon(ctx, c, opts.Profile, opts.All)
		if !noDaemon(err) {
			if err != nil {
				return err
			}
			viaDaemon = true
		}
	}
	eng, err := app.openEngine(ctx, false)
	if err != nil {
		return err
	}
	names := []string{}
	if opts.All {
		names = eng.Config().ProfileNames()
	} else {
		p, err := eng.Profile(opts.Profile)
		if err != nil {
			return err
		}
		names = append(names, p.Name)
	}
	if !viaDaemon || opts.All {
		for _, name := range names {
			if err := eng.Logout(ctx, name); err != nil {
				return fmt.Errorf("signing out of profile %s: %w", name, err)
			}
			fmt.Fprintf(app.Stdout, "signed out of profile %s\n", name)
		}
	}
	if opts.All {
		// Tokens of profiles that are no longer configured go too.
		cached, err := eng.Store().Profiles(ctx)
		if err != nil {
			return fmt.Errorf("reading the token cache: %w", err)
		}
		for _, name := range cached {
			if _, ok := eng.Config().Profiles[name]; ok {
				continue
			}
			if err := eng.Store().Forget(ctx, name); err != nil {
				return fmt.Errorf("forgetting the tokens of profile %s: %w", name, err)
			}
			fmt.Fprintf(app.Stdout, "forgot the tokens of profile %s (no longer configured)\n", name)
		}
	}
	d, err := app.deliverer()
	if err != nil {
		return err
	}
	if opts.All {
		names = []string{""}
	}
	var results []delivery.Result
	for _, name := range names {
		rs, err := d.Scrub(ctx, name)
		if err != nil {
			return err
		}
		results = append(results, rs...)
	}
	if app.printResults(results) {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}
