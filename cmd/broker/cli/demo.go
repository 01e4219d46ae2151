package cli

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/demo"
)

type demoOptions struct {
	Dir          string
	Once         bool
	TokenVersion int
}

func newDemoCmd(app *App) *cobra.Command {
	opts := demoOptions{}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Watch the whole loop against a built-in Entra ID simulator (no tenant needed)",
		Long: `Run the whole loop on this machine, offline, with no Entra tenant: an Entra ID
simulator and a protected MCP server (the API Management stand-in) start in
this process; a sandbox HOME holds a Claude Code, a VS Code and a Copilot
CLI configuration and an env file; a demo user signs in by itself; and the
real daemon keeps a short-lived token fresh in all of them.

It shows each sign-in and refresh, each file written (the changed line,
the token masked), and the MCP server accepting the token read back from
each client's file (for Claude Code, by running its headersHelper). A new
token comes every minute or so without anyone doing anything.

Nothing outside the sandbox is touched (not your home, not your keyring).
The sandbox is a temporary folder, removed when you press Ctrl-C; with
--dir it is kept. --once runs one sign-in, write and check cycle and exits
0 only when every client's token was accepted.

The demo API issues v2.0 tokens, whose aud is the API's application ID (a
GUID), as Entra does for an API registered with requestedAccessTokenVersion
2; --token-version 1 shows v1.0 tokens (aud the Application ID URI, issuer
https://sts.windows.net/TENANT/).`,
		Example: "  broker demo\n  broker demo --once\n  broker demo --dir /tmp/broker-demo",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return demoRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "keep the sandbox in `DIR` (new, empty, or an earlier demo's)")
	cmd.Flags().BoolVar(&opts.Once, "once", false, "one sign-in, write and check cycle; exit 0 only if every check passed")
	cmd.Flags().IntVar(&opts.TokenVersion, "token-version", 2, "the demo API's access tokens: `1` or 2 (Entra's v1.0 or v2.0 shape)")
	return cmd
}

func demoRun(ctx context.Context, app *App, opts demoOptions) error {
	if opts.TokenVersion != 1 && opts.TokenVersion != 2 {
		return WithHint(UsageErrorf("--token-version is %d", opts.TokenVersion), "use --token-version 1 or --token-version 2")
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("finding the broker binary: %w", err)
	}
	if r, err := filepath.EvalSymlinks(exe); err == nil {
		exe = r
	}
	// `broker demo | head`: a write to the closed pipe fails instead of
	// killing the process, so the demo still stops its daemon and removes
	// its sandbox.
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
	return demo.Run(ctx, demo.Options{
		Dir:           opts.Dir,
		Once:          opts.Once,
		Out:           app.Stdout,
		Color:         wantColor(app.Stdout),
		BrokerPath:    exe,
		SetProcessEnv: true,
		TokenVersion:  opts.TokenVersion,
	})
}

// wantColor reports whether w is a terminal, NO_COLOR is unset or empty
// (https://no-color.org) and TERM is not "dumb".
func wantColor(w any) bool {
	if os.Getenv("NO_COLOR") != "" || os.Getenv("TERM") == "dumb" {
		return false
	}
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
