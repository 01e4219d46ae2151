package cli

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"
)

type loginOptions struct {
	Profile    string
	DeviceCode bool
}

func newLoginCmd(app *App) *cobra.Command {
	opts := loginOptions{}
	cmd := &cobra.Command{
		Use:   "login",
		Short: "Sign in (browser, or --device-code) and write every target",
		Long: `Sign in to Microsoft Entra ID for a profile: in the browser ($BROWSER when
set, else the system's default) or, with --device-code (or login =
"device-code" in the profile), with a code entered on another device. Then
write the token to every target of the profile; a failed target is a warning.

The sign-in also asks for what servers asked for since the last one: the
claims of a Conditional Access challenge, and the scopes of a scope
challenge (403 insufficient_scope) beyond the profile's, with consent
(` + "`broker status`" + ` lists them as added_scopes).

A profile whose tokens come from a credential tool (login = "azurecli",
"azd" or "azureauth") runs that tool's own sign-in in this terminal, even
when the daemon runs, and then takes the tool's token:
  azurecli   az login --tenant T --scope S --allow-no-subscriptions
             (--device-code adds --use-device-code)
  azd        azd auth login --tenant-id T --scope S [--use-device-code]
  azureauth  azureauth aad --client C --tenant T --scope S --mode broker
             --mode web (--device-code: --mode devicecode)
The tool keeps the sign-in; ` + "`broker logout`" + ` forgets only the broker's copy of
the token (run az logout or azd auth logout to sign out of the tool).

An unattended profile (login = "certificate", "workload-identity" or
"managed-identity") has no user: login just gets an app token from its
certificate, federated token file or managed identity.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return loginRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	cmd.Flags().BoolVar(&opts.DeviceCode, "device-code", false, "sign in with a device code (for SSH sessions; a credential tool's own device code)")
	return cmd
}

func loginRun(ctx context.Context, app *App, opts loginOptions) error {
	ctx, cancel := context.WithTimeout(ctx, loginTimeout)
	defer cancel()
	if c := app.daemon(ctx); c != nil {
		if err := loginWithDaemon(ctx, app, c, opts); !noDaemon(err) {
			return err
		}
	}
	eng, err := app.openEngine(ctx, true)
	if err != nil {
		return err
	}
	c, err := eng.Client(opts.Profile)
	if err != nil {
		return err
	}
	p := c.Profile()
	tok, err := c.Login(ctx, opts.DeviceCode || p.Login == "device-code")
	if err != nil {
		return err
	}
	printSignedIn(app.Stdout, p.Name, tok.Account, tok.ExpiresOn.Local().Format(time.DateTime), p.IsUnattended())
	app.deliver(ctx, p, tok)
	return nil
}

// printSignedIn is login's report. An unattended profile (certificate,
// workload or managed identity) has no user: it just got a token.
func printSignedIn(w io.Writer, profile, account, until string, unattended bool) {
	if unattended {
		fmt.Fprintf(w, "got a token for profile %s (%s, no user); valid until %s\n", profile, account, until)
		return
	}
	fmt.Fprintf(w, "signed in to profile %s as %s; token valid until %s\n", profile, account, until)
}
