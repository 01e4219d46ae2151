package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"
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
		Args:  cobra.NoArgs,
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
	if c := app.daemon(ctx); c != nil {
		// With --all the local pass below then reports each profile and
		// forgets the tokens of profiles no longer configured.
		if err := app.logoutViaDaemon(ctx, c, opts.Profile, opts.All); !noDaemon(err) && (err != nil || !opts.All) {
			return err
		}
	}
	eng, err := app.openEngine(ctx, false)
	if err != nil {
		return err
	}
	names := []string{opts.Profile}
	if opts.All {
		names = eng.Config().ProfileNames()
	}
	for _, name := range names {
		p, err := eng.Profile(name)
		if err != nil {
			return err
		}
		if err := eng.Logout(ctx, p.Name); err != nil {
			return fmt.Errorf("signing out of profile %s: %w", p.Name, err)
		}
		app.scrub(ctx, p)
		fmt.Fprintf(app.Stdout, "signed out of profile %s\n", p.Name)
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
	return nil
}
