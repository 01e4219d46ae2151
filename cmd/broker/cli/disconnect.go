package cli

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
)

type disconnectOptions struct {
	Client  string
	Server  string
	Profile string
	Path    string
}

func newDisconnectCmd(app *App) *cobra.Command {
	opts := disconnectOptions{}
	cmd := &cobra.Command{
		Use:   "disconnect CLIENT --server NAME [--profile P]",
		Short: "Scrub, unwire and remove a target",
		Long: `Undo ` + "`broker connect`" + `: remove the target from your config.toml (every
other byte is kept), have a running daemon drop it, and unwire the client's
file: the token is scrubbed, and what the broker created goes (the server
entry it created, else its headersHelper line and header value); your own
entry and its other keys stay. Only values the ledger in the state folder
says the broker wrote are touched.

For json, envfile and file targets, name the file with --path instead of
--server. Running it again once it is done says there is no such target
(exit 2) and changes nothing; when unwiring a file failed, running it
again finishes the job.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = args[0]
			return disconnectRun(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Server, "server", "", "the MCP server's name in the client (required but for json, envfile and file)")
	f.StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	f.StringVar(&opts.Path, "path", "", "the target's file (json, envfile and file targets)")
	return cmd
}

func disconnectRun(ctx context.Context, app *App, opts disconnectOptions) error {
	serverless := opts.Client == "json" || opts.Client == "envfile" || opts.Client == "file"
	if opts.Server == "" && !serverless {
		return UsageErrorf("--server is required")
	}
	if serverless && opts.Path == "" {
		return UsageErrorf("--path is required for client %s", opts.Client)
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	p, err := engine.SelectProfile(cfg, opts.Profile)
	if err != nil {
		return err
	}
	t := config.Target{Client: opts.Client, Server: opts.Server, Profile: p.Name}
	if t.Path, err = absPath(opts.Path); err != nil {
		return err
	}
	file, err := app.ConfigFile()
	if err != nil {
		return err
	}
	d, err := app.deliverer()
	if err != nil {
		return err
	}
	res, err := d.Disconnect(ctx, file, cfg, t, func(ctx context.Context) error {
		app.reloadDaemon(ctx)
		return nil
	})
	if err != nil {
		return err
	}
	if res.Removed {
		fmt.Fprintf(app.Stdout, "removed target %s/%s from %s\n", t.Client, orPath(t), file)
	}
	if app.printResults(res.Results) {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}

func orPath(t config.Target) string {
	if t.Server != "" {
		return t.Server
	}
	return t.Path
}
