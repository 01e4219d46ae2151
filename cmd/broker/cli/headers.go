package cli

import (
	"context"
	"os"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/fetch"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/reask"
	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath/memo"
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
is printed: one Authorization header with a bearer token.

Claude Code names the server it runs the helper for
(CLAUDE_CODE_MCP_SERVER_NAME, CLAUDE_CODE_MCP_SERVER_URL). When the same
server asks again within a minute for the token it was just given, the
server refused it although it is still valid (revoked, Continuous Access
Evaluation, a key rollover): it then gets a freshly redeemed token, at most
once a minute per server.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return headersRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	return cmd
}

func headersRun(ctx context.Context, app *App, opts headersOptions) error {
	o := app.fetchOptions(opts.Profile, defaultMinValidity)
	o.Server, o.ServerURL = helperServer()
	if o.Server != "" {
		if dir, err := paths.StateDir(); err == nil {
			o.Asks = reask.InDir(filepath.Join(dir, "asks"))
		}
	}
	m := app.hotMemo(opts.Profile, o.Server == "")
	b, err := fetch.Headers(ctx, o)
	if err != nil {
		return err
	}
	tok := strings.TrimSuffix(strings.TrimPrefix(string(b), `{"Authorization":"Bearer `), `"}`+"\n")
	m.Remember(tok)
	_, err = app.Stdout.Write(b)
	return err
}

// helperServer is the MCP server Claude Code runs the helper for ("" when
// not run by Claude Code).
func helperServer() (name, url string) {
	return os.Getenv("CLAUDE_CODE_MCP_SERVER_NAME"), os.Getenv("CLAUDE_CODE_MCP_SERVER_URL")
}

// hotMemo is what cmd/broker/hotpath needs to answer the next such
// command itself when no daemon runs (nil when it cannot: --config, or
// not when).
func (a *App) hotMemo(profile string, when bool) *memo.Snapshot {
	if !when || a.ConfigPath != "" {
		return nil
	}
	return memo.Take(profile)
}
