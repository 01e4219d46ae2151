package cli

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/fetch"
)

type headersOptions struct {
	Profile string
}

func newHeadersCmd(app *App) *cobra.Command {
	opts := headersOptions{}
	cmd := &cobra.Command{
		Use:   "headers",
		Short: `Print {"Authorization":"Bearer …"} for headersHelper-style hooks`,
		Long: `Print one JSON object {"Authorization":"Bearer …"} with a token that has at
least 5 minutes left, for Claude Code's headersHelper and similar hooks. It
never opens a browser, gives up after 8 seconds, and exits 3 when you must
sign in (run ` + "`broker login`" + `). A daemon that does not answer within 2
seconds is left for the token cache (stderr says so). Only a checked answer
is printed: one Authorization header with a bearer token.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return headersRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	return cmd
}

func headersRun(ctx context.Context, app *App, opts headersOptions) error {
	b, err := fetch.Headers(ctx, app.fetchOptions(opts.Profile, defaultMinValidity))
	if err != nil {
		return err
	}
	_, err = app.Stdout.Write(b)
	return err
}
