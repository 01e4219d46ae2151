package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

func newInstallCmd(app *App) *cobra.Command {
	var o installer.Options
	cmd := &cobra.Command{
		Use:   "install",
		Short: "Start the broker at login",
		Long: `Makes the broker start at login with this binary's absolute path:

  Linux desktop   ~/.config/autostart/mcp-token-broker.desktop runs "broker run"
  Linux headless  a systemd user unit runs "broker run --no-tray" (--headless,
                  or when no desktop session is visible)
  macOS           ~/Library/LaunchAgents/mcp-token-broker.plist (RunAtLoad)
  Windows         HKCU\Software\Microsoft\Windows\CurrentVersion\Run

Running it again changes nothing. "broker uninstall" removes the entry.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := installer.OSEnv()
			if err != nil {
				return err
			}
			res, err := installer.Install(cmd.Context(), env, o)
			if errors.Is(err, installer.ErrNoUserManager) {
				return WithHint(err, "run `broker install` inside your desktop session for the tray, or ask an admin for `loginctl enable-linger $USER` so that a systemd user manager runs")
			}
			if err != nil {
				return WithHint(err, "see `broker install --help`")
			}
			fmt.Fprintln(app.Stdout, res.Message)
			return nil
		},
	}
	cmd.Flags().BoolVar(&o.Headless, "headless", false, "Linux: install a systemd user unit that runs without a tray")
	return cmd
}

func newUninstallCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "uninstall",
		Short: "Stop starting the broker at login",
		Long: `Removes every start-at-login entry that "broker install" made. A broker that
is running now keeps running. Running it again changes nothing.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			env, err := installer.OSEnv()
			if err != nil {
				return err
			}
			res, err := installer.Uninstall(cmd.Context(), env)
			if err != nil {
				return err
			}
			fmt.Fprintln(app.Stdout, res.Message)
			return nil
		},
	}
}
