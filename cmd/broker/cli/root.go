// Package cli is the command line: one file per verb, flag parsing and
// output only. The behaviour lives in broker/ and integrations/.
package cli

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
)

// App is what every command shares: streams and global flags.
type App struct {
	Stdout io.Writer
	Stderr io.Writer
	Stdin  io.Reader
	// ConfigPath is --config; empty means $BROKER_CONFIG or the default.
	ConfigPath string
	// daemonDown is set once the daemon did not answer: not asked again.
	daemonDown error
}

// ConfigFile returns the user's config file path.
func (a *App) ConfigFile() (string, error) {
	if a.ConfigPath != "" {
		return a.ConfigPath, nil
	}
	return paths.ConfigFile()
}

// LoadConfig reads the admin file and the user's file.
func (a *App) LoadConfig() (*config.Config, error) {
	p, err := a.ConfigFile()
	if err != nil {
		return nil, err
	}
	return config.Load(paths.AdminConfigFile(), p)
}

// Main runs the command line and returns the exit code.
func Main(args []string) int {
	done, down := fastHeaders(args, os.Stdout)
	if done {
		return ExitOK
	}
	app := &App{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin}
	if down != nil {
		app.daemonNotice(down)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	root := newRootCmd(app)
	root.SetArgs(args)
	err := fromCobra(root.ExecuteContext(ctx))
	if err != nil {
		printError(app.Stderr, err)
	}
	return exitCode(err)
}

// RootCommand returns the whole command tree on the process's streams, for
// tools that generate documentation from it (internal/gendocs).
func RootCommand() *cobra.Command {
	return newRootCmd(&App{Stdout: os.Stdout, Stderr: os.Stderr, Stdin: os.Stdin})
}

func newRootCmd(app *App) *cobra.Command {
	root := &cobra.Command{
		Use:   "broker",
		Short: "Keep an Entra ID token for your MCP API fresh in every AI coding client",
		Long: `broker signs you in to Microsoft Entra ID, keeps an access token for your
own API fresh, and delivers it to Claude Code, VS Code, Copilot CLI and other
MCP clients before it expires.

Exit codes: 0 ok, 1 error, 2 usage or configuration error, 3 sign-in
required, 4 temporary failure (authority unreachable, timeout).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(app.Stdout)
	root.SetErr(app.Stderr)
	root.SetIn(app.Stdin)
	root.PersistentFlags().StringVar(&app.ConfigPath, "config", "", "config file (default $BROKER_CONFIG or the user config folder)")
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return WithHint(usageError{err}, "see `"+c.CommandPath()+" --help`")
	})
	root.AddCommand(newConfigHelpTopic()) // `broker help config`
	// One line per verb; each lives in its own file.
	root.AddCommand(
		newVersionCmd(app),
		newDiscoverCmd(app),
		newScanCmd(app),
		newDoctorCmd(app),
		newInstallCmd(app),
		newUninstallCmd(app),
		newLoginCmd(app),
		newLogoutCmd(app),
		newTokenCmd(app),
		newHeadersCmd(app),
		newStatusCmd(app),
		newBridgeCmd(app),
		newSyncCmd(app),
		newConnectCmd(app),
		newDisconnectCmd(app),
		newDemoCmd(app),
		newRunCmd(app),
	)
	return root
}
