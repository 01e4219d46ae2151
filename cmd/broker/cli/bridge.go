package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/logging"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
)

type bridgeOptions struct {
	Name    string
	URL     string
	Profile string
}

func newBridgeCmd(app *App) *cobra.Command {
	opts := bridgeOptions{}
	cmd := &cobra.Command{
		Use:   "bridge NAME | --url URL [--profile P]",
		Short: "Run a stdio MCP server that forwards to the remote one with the current token",
		Long: `Run a local MCP server on stdin/stdout that forwards every message to the
remote MCP server (Streamable HTTP) with the profile's current access token,
refreshed as needed: a client that reads its configuration once never sees
the token expire. NAME is a server name of a target in config.toml; or give
the server's --url and the --profile.

Configure the client to start it as a stdio server:
  "command": "<path to broker>", "args": ["bridge", "NAME"]

Stdout carries only MCP messages; logs go to stderr and the broker log.`,
		Args: cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			switch {
			case opts.Name == "" && opts.URL == "":
				return WithHint(UsageErrorf("name a server or give --url"), "`broker bridge NAME` (a target's server in config.toml) or `broker bridge --url URL --profile P`")
			case opts.Name != "" && opts.URL != "":
				return UsageErrorf("give a server name or --url, not both")
			}
			return bridgeRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVar(&opts.URL, "url", "", "the remote MCP server's URL")
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	return cmd
}

func bridgeRun(ctx context.Context, app *App, opts bridgeOptions) error {
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	p, url, err := bridge.Resolve(cfg, opts.Name, opts.URL, opts.Profile)
	if err != nil {
		return err
	}
	log, closeLog := app.bridgeLogger(cfg, opts, p.Name)
	defer closeLog()
	tr, err := auth.Transport(cfg, p)
	if err != nil {
		return err
	}
	b, err := bridge.New(bridge.Options{
		URL:           url,
		Server:        opts.Name,
		HTTPTransport: tr,
		Tokens:        app.bridgeTokens(cfg, p.Name, log),
		Logger:        log,
		SignInHint:    fmt.Sprintf("run `broker login --profile %s` (or choose Sign in in the broker's tray menu)", p.Name),
	})
	if err != nil {
		return err
	}
	// A client that dies closes our stdout: get EPIPE instead of dying by
	// SIGPIPE, so that stdin's end still closes the remote session.
	signal.Ignore(syscall.SIGPIPE)
	return b.Run(ctx, io.NopCloser(app.Stdin), nopWriteCloser{app.Stdout})
}

// bridgeLogger logs to stderr and, when it can be opened, the broker log.
// Never stdout: it carries the protocol.
func (a *App) bridgeLogger(cfg *config.Config, opts bridgeOptions, profile string) (*slog.Logger, func()) {
	attrs := []any{"component", "bridge", "profile", profile}
	if opts.Name != "" {
		attrs = append(attrs, "server", opts.Name)
	}
	if path, err := paths.LogFile(); err == nil {
		if l, err := logging.Open(logging.Options{Path: path, Level: cfg.Settings.LogLevel, Also: a.Stderr, NoRotate: true}); err == nil {
			return l.Logger.With(attrs...), func() { l.Close() }
		}
	}
	lvl, _ := logging.ParseLevel(cfg.Settings.LogLevel)
	h := logging.Guard(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: lvl}))
	return slog.New(h).With(attrs...), func() {}
}

// bridgeTokens is where the bridge's tokens come from: the running
// daemon (the token it delivers everywhere, and its tray shows when
// sign-in is required), else the token cache, refreshing silently, never
// a browser. The cache is opened at its first use, so that the bridge
// answers its client at once.
func (a *App) bridgeTokens(cfg *config.Config, profile string, log *slog.Logger) bridge.TokenSource {
	cache := bridge.Lazy(func(ctx context.Context) (bridge.TokenSource, error) {
		eng, err := engine.Open(ctx, engine.Options{
			Config:        cfg,
			DeviceCodeOut: io.Discard,
			OpenURL:       func(string) error { return errNoBrowser },
			Logger:        log,
		})
		if err != nil {
			return nil, err
		}
		return eng.Client(profile)
	})
	// Dialled per call, each with localapi.AnswerWithin: a daemon that
	// stops answering is left for the cache, one that recovers is used.
	dial := func(ctx context.Context) (bridge.Daemon, error) {
		c, err := a.dialDaemon(ctx)
		if err != nil {
			return nil, err
		}
		return c, nil
	}
	return bridge.DaemonFirst(dial, profile, cache, log)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
