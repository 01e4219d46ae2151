package cli

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

type connectOptions struct {
	Client   string
	Server   string
	URL      string
	Mode     string
	Profile  string
	Path     string
	Project  string
	Pointer  string
	Template string
	Var      string
	Format   string
}

func newConnectCmd(app *App) *cobra.Command {
	opts := connectOptions{}
	var bridge bool
	cmd := &cobra.Command{
		Use:   "connect CLIENT --server NAME [--url URL]",
		Short: "Add a target to the config and wire the client now",
		Long: `Add a target to your config.toml (the rest of the file is kept byte for
byte; the same client, server and profile update one target, never two) and
write the client's file at once. Clients: ` + strings.Join(integrations.Clients(), ", ") + `.

With --url, broker creates the server's entry when the client has none.
Modes:
  helper  the default of Claude Code and Codex (0.171 and later): the
          client runs ` + "`broker headers`" + ` (no token in the file, no sign-in
          needed now).
  proxy   the default for Copilot CLI, Gemini CLI, Cursor and Windsurf when
          --url is given: the entry gets a loopback URL of the daemon's
          proxy (http://127.0.0.1:PORT/PROFILE/CLIENT/SERVER, PORT from
          [settings] proxy_port) and a local credential (never an Entra
          token) once; the daemon forwards each request to --url with the
          current token, so the file never changes on rotation. Needs
          ` + "`broker run`" + ` (or ` + "`broker install`" + `).
  header  writes the token into the file (VS Code's default; needs a
          signed-in profile; the daemon rewrites it at each rotation).
  bridge  the client starts ` + "`broker bridge NAME`" + ` over stdio.

In a project's .mcp.json (--path; usually committed to git) the helper
line is ` + "`broker headers --profile P`" + ` without a path, so that it runs from
each teammate's PATH. When wiring the client's file fails, config.toml is
left as it was, byte for byte. A running daemon reads the new config before
connect returns (` + "`status`" + ` and ` + "`sync`" + ` know the target at once).
` + "`broker disconnect`" + ` undoes it.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Client = args[0]
			if bridge {
				if opts.Mode != "" && opts.Mode != "bridge" {
					return UsageErrorf("--bridge and --mode %s contradict each other", opts.Mode)
				}
				opts.Mode = "bridge"
			}
			return connectRun(cmd.Context(), app, opts)
		},
	}
	f := cmd.Flags()
	f.StringVar(&opts.Server, "server", "", "the MCP server's name in the client (required)")
	f.StringVar(&opts.URL, "url", "", "the MCP server's URL, to create the entry when it is missing")
	f.StringVar(&opts.Mode, "mode", "", "helper, proxy, header or bridge (default: the client's best)")
	f.BoolVar(&bridge, "bridge", false, "same as --mode bridge: the client starts `broker bridge NAME` over stdio")
	f.StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	f.StringVar(&opts.Path, "path", "", "the client's file, when not its default")
	f.StringVar(&opts.Project, "project", "", "Claude Code local scope: the project folder")
	f.StringVar(&opts.Pointer, "pointer", "", "client json: the RFC 6901 pointer of the value")
	f.StringVar(&opts.Template, "template", "", `client json: the value, with {token} (default "Bearer {token}")`)
	f.StringVar(&opts.Var, "var", "", "client envfile: the variable (default MCP_TOKEN)")
	f.StringVar(&opts.Format, "format", "", "client envfile: sh, powershell or dotenv (default sh)")
	return cmd
}

func connectRun(ctx context.Context, app *App, opts connectOptions) error {
	if opts.Server == "" && opts.Client != "json" && opts.Client != "envfile" && opts.Client != "file" {
		return UsageErrorf("--server is required")
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	p, err := engine.SelectProfile(cfg, opts.Profile)
	if err != nil {
		return err
	}
	t := config.Target{Client: opts.Client, Server: opts.Server, URL: opts.URL, Mode: opts.Mode, Profile: p.Name,
		Pointer: opts.Pointer, Template: opts.Template, Var: opts.Var, Format: opts.Format}
	if t.Path, err = absPath(opts.Path); err != nil {
		return err
	}
	if t.Project, err = absPath(opts.Project); err != nil {
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
	needToken := func(ctx context.Context) (token.Token, error) {
		tok, err := app.fetchToken(ctx, p.Name, defaultMinValidity)
		if err != nil {
			return tok, WithHint(fmt.Errorf("target %s/%s needs a token and profile %s has none: %w", t.Client, t.Server, p.Name, err),
				"run `broker login"+profileFlag(cfg, p.Name)+"`; it writes every target")
		}
		return tok, nil
	}
	c, err := d.Connect(ctx, file, t, needToken)
	if err != nil {
		if c.Config != "" {
			fmt.Fprintf(app.Stderr, "broker: %s is as it was: the target was not added\n", file)
		}
		return err
	}
	switch c.Config {
	case delivery.Added:
		fmt.Fprintf(app.Stdout, "added target %s/%s to %s\n", t.Client, t.Server, file)
	case delivery.Updated:
		fmt.Fprintf(app.Stdout, "updated target %s/%s in %s\n", t.Client, t.Server, file)
	default:
		fmt.Fprintf(app.Stdout, "target %s/%s already in %s\n", t.Client, t.Server, file)
	}
	state := "already wired"
	if c.Result.Word == delivery.Wrote {
		state = "wired"
	}
	fmt.Fprintf(app.Stdout, "%s %s (mode %s)\n", state, c.Result.Path, c.Mode)
	if c.Result.Warning != "" {
		fmt.Fprintf(app.Stderr, "broker: warning: %s: %s\n", c.Result.Path, c.Result.Warning)
	}
	if c.Mode == integrations.ModeProxy {
		fmt.Fprintf(app.Stdout, "%s/%s calls %s; the daemon (`broker run`) forwards to %s with the current token\n",
			t.Client, t.Server, proxy.URL(proxy.Port(cfg), t), t.URL)
		checkProxyPort(ctx, app, proxy.Port(cfg))
	}
	app.reloadDaemon(ctx)
	return nil
}

// reloadTimeout bounds the wait for the daemon to take a config edit.
const reloadTimeout = 10 * time.Second

// reloadDaemon has a running daemon read the config now and waits for it
// (bounded), so that `sync` and `status` know a target as soon as
// `connect` or `disconnect` returns. A daemon that cannot is a warning.
func (a *App) reloadDaemon(ctx context.Context) {
	c := a.daemon(ctx)
	if c == nil {
		return
	}
	defer c.Close()
	rctx, cancel := context.WithTimeout(ctx, reloadTimeout)
	defer cancel()
	if err := c.Reload(rctx); err != nil && !noDaemon(err) {
		fmt.Fprintf(a.Stderr, "broker: warning: the running daemon did not take the change yet: %v\n", err)
		if h := hintOf(err); h != "" {
			fmt.Fprintf(a.Stderr, "hint: %s\n", h)
		}
	}
}

// checkProxyPort warns, when no daemon runs yet, that another program
// holds the proxy's port (the daemon would not be able to serve it).
func checkProxyPort(ctx context.Context, app *App, port int) {
	if c := app.daemon(ctx); c != nil {
		c.Close()
		return // the daemon serves it (or says why not in `broker status`)
	}
	l, err := proxy.Listen(port)
	if err != nil {
		app.warnTarget(err)
		return
	}
	l.Close()
	fmt.Fprintln(app.Stdout, "start the daemon so that it answers: `broker run`, or `broker install` to start it at login")
}

// profileFlag is " --profile P" when there is more than one profile.
func profileFlag(cfg *config.Config, name string) string {
	if len(cfg.ProfileNames()) > 1 {
		return " --profile " + name
	}
	return ""
}

func absPath(p string) (string, error) {
	if p == "" || filepath.IsAbs(p) || strings.HasPrefix(p, "~") {
		return p, nil
	}
	wd, err := os.Getwd()
	if err != nil {
		return "", err
	}
	return filepath.Join(wd, p), nil
}
