package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/brokerd"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/tray"
)

type runOptions struct {
	NoTray bool
}

func newRunCmd(app *App) *cobra.Command {
	opts := runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: keep every token fresh and delivered (tray when possible)",
		Long: `Run the daemon: refresh every signed-in profile's token before it expires
(also after the computer wakes from sleep), write it to every target, put it
back when a client overwrites it, and answer ` + "`broker token`" + `, ` + "`headers`" + `,
` + "`status`" + `, ` + "`login`" + ` and ` + "`sync`" + ` over a private local socket. With a tray host
it shows an icon and menu; otherwise (or with --no-tray) it runs headless.

One daemon runs per user: a second ` + "`broker run`" + ` says so and exits 0.
Edits of the config file are picked up without a restart. The log is
broker.log in the state folder.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.NoTray, "no-tray", false, "run headless, without a tray icon")
	return cmd
}

func runRun(ctx context.Context, app *App, opts runOptions) error {
	stateDir, err := paths.StateDir()
	if err != nil {
		return err
	}
	// One daemon per user, found the same way from every environment.
	lock, err := brokerd.Lock(stateDir)
	var running *brokerd.RunningError
	if errors.As(err, &running) {
		fmt.Fprintln(app.Stdout, running.Error())
		return nil
	}
	if err != nil {
		return err
	}
	defer lock.Unlock()

	cfgPath, err := app.ConfigFile()
	if err != nil {
		return err
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	d, err := brokerd.New(ctx, brokerd.Options{
		Config:        cfg,
		ConfigPath:    cfgPath,
		StateDir:      stateDir,
		DeviceCodeOut: app.Stderr,
	})
	if err != nil {
		return err
	}
	defer d.Close()
	return serveWithTray(ctx, d.Logger(), opts.NoTray, d.Daemon, d.Run, tray.Options{
		ConfigPath: cfgPath,
		LogPath:    d.LogPath(),
		Installer:  newStartAtLogin(),
	})
}
