package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/doctor"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/installer"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
	"github.com/mcp-token-broker/mcp-token-broker/tray"
)

type doctorOptions struct {
	Probe bool
	JSON  bool
}

func newDoctorCmd(app *App) *cobra.Command {
	o := &doctorOptions{}
	cmd := &cobra.Command{
		Use:   "doctor",
		Short: "Check the setup and say what to fix",
		Long: `doctor checks, one line each with ok, warn or fail and a hint: the config;
the token storage (keyring or the plain-file fallback); the tray host; start at
login; per profile the sign-in, the token's claims (aud, scp, tid, upn, exp;
a Microsoft Graph audience is the missing-scope problem) and the clock against
the authority's; per target the file, its entry, whether it holds the current
token, whether git tracks it, and its permissions. --probe also calls each
target's MCP server with the token (initialize and tools/list) and explains a
401. It exits 0 only when nothing failed.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return doctorRun(cmd.Context(), app, o)
		},
	}
	cmd.Flags().BoolVar(&o.Probe, "probe", false, "call each target's MCP server with the token")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the checks as JSON")
	return cmd
}

func doctorRun(ctx context.Context, app *App, o *doctorOptions) error {
	opts := doctor.Options{
		Probe: o.Probe,
		Tray:  tray.Available,
		StartAtLogin: func(ctx context.Context) (*state.StartAtLogin, error) {
			env, err := installer.OSEnv()
			if err != nil {
				return nil, err
			}
			e, err := installer.Status(env)
			if err != nil {
				return nil, err
			}
			return e.State(), nil
		},
	}
	opts.Config, opts.ConfigErr = app.LoadConfig()
	if opts.Config != nil {
		eng, err := app.openEngine(ctx, false)
		if err != nil {
			opts.StorageErr = err
		} else {
			opts.Storage, opts.StorageWarning = eng.Store().Mode(), eng.Store().Warning()
			opts.Tokens = engineTokens{app: app, eng: eng}
		}
		env, err := envFor(opts.Config)
		if err == nil {
			creds := env.Proxy.(proxy.Endpoints).Credentials
			port := proxy.Port(opts.Config)
			opts.ProxyEndpoint = func(t config.Target) (string, string, bool) {
				c, ok := creds.Get(proxy.ID(t))
				return proxy.URL(port, t), c, ok
			}
			opts.Target = func(t config.Target) (doctor.Target, error) {
				it, err := integrations.New(t, env)
				if err != nil {
					return nil, err
				}
				return doctor.ForTarget(it), nil
			}
		}
	}
	rep := doctor.Run(ctx, opts)
	if o.JSON {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		fmt.Fprintf(app.Stdout, "%s\n", b)
	} else {
		for _, c := range rep.Checks {
			where := c.Name
			if c.Target != "" {
				where = c.Profile + " " + c.Target
			} else if c.Profile != "" {
				where = c.Profile + " " + c.Name
			}
			fmt.Fprintf(app.Stdout, "%-4s  %-28s %s\n", c.Level, where, c.Message)
			if c.Hint != "" && c.Level != doctor.OK {
				fmt.Fprintf(app.Stdout, "      %-28s hint: %s\n", "", c.Hint)
			}
		}
	}
	if rep.Failed() {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}

// engineTokens gives doctor tokens from the daemon or the cache, like
// `broker token` does.
type engineTokens struct {
	app *App
	eng *engine.Engine
}

func (e engineTokens) Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	c, err := e.eng.Client(profile)
	if err != nil {
		return token.Token{}, err
	}
	return c.Token(ctx, minValidity)
}
