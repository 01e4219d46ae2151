package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os/signal"
	"sort"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
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
	p, url, err := bridgeTarget(cfg, opts)
	if err != nil {
		return err
	}
	log, closeLog := app.bridgeLogger(cfg, opts, p.Name)
	defer closeLog()
	b, err := bridge.New(bridge.Options{
		URL:        url,
		Tokens:     app.bridgeTokens(cfg, p.Name, log),
		Logger:     log,
		SignInHint: fmt.Sprintf("run `broker login --profile %s` (or choose Sign in in the broker's tray menu)", p.Name),
	})
	if err != nil {
		return err
	}
	// A client that dies closes our stdout: get EPIPE instead of dying by
	// SIGPIPE, so that stdin's end still closes the remote session.
	signal.Ignore(syscall.SIGPIPE)
	return b.Run(ctx, io.NopCloser(app.Stdin), nopWriteCloser{app.Stdout})
}

// bridgeTarget finds the profile and URL of the server to bridge.
func bridgeTarget(cfg *config.Config, opts bridgeOptions) (*config.Profile, string, error) {
	if opts.URL != "" {
		p, err := engine.SelectProfile(cfg, opts.Profile)
		return p, opts.URL, err
	}
	var found []config.Target
	servers := map[string]bool{}
	for _, name := range cfg.ProfileNames() {
		if opts.Profile != "" && name != opts.Profile {
			continue
		}
		for _, t := range cfg.Profiles[name].Targets {
			if t.Server == "" {
				continue
			}
			servers[t.Server] = true
			if t.Server == opts.Name {
				t.Profile = name
				found = append(found, t)
			}
		}
	}
	var withURL []config.Target
	for _, t := range found {
		if t.URL != "" {
			withURL = append(withURL, t)
		}
	}
	switch {
	case len(found) == 0:
		known := make([]string, 0, len(servers))
		for s := range servers {
			known = append(known, s)
		}
		sort.Strings(known)
		hint := "no target names a server; add one with `broker connect CLIENT --server NAME --url URL`"
		if len(known) > 0 {
			hint = "known servers: " + strings.Join(known, ", ")
		}
		return nil, "", WithHint(&config.Error{Path: cfg.Path, Message: fmt.Sprintf("no target has the server name %q", opts.Name)}, hint)
	case len(withURL) == 0:
		return nil, "", WithHint(&config.Error{Path: cfg.Path, Message: fmt.Sprintf("the target of server %q has no url", opts.Name)},
			"add `url = \"https://…/mcp\"` to the target, or run `broker bridge --url URL`")
	}
	first := withURL[0]
	for _, t := range withURL[1:] {
		if t.URL != first.URL || t.Profile != first.Profile {
			return nil, "", WithHint(&config.Error{Path: cfg.Path, Message: fmt.Sprintf("several targets named %q differ (profiles %s and %s)", opts.Name, first.Profile, t.Profile)},
				"name the profile with --profile")
		}
	}
	return cfg.Profiles[first.Profile], first.URL, nil
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
	dial := func(ctx context.Context) (bridge.Daemon, error) {
		if c := a.daemon(ctx); c != nil {
			return c, nil
		}
		return nil, localapi.ErrNoDaemon
	}
	return bridge.DaemonFirst(dial, profile, cache, log)
}

type nopWriteCloser struct{ io.Writer }

func (nopWriteCloser) Close() error { return nil }
