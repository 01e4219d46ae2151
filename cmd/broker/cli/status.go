package cli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

type statusOptions struct {
	JSON bool
}

func newStatusCmd(app *App) *cobra.Command {
	opts := statusOptions{}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show accounts, token expiry, state and targets",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return statusRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON (the shape of broker/state.Status)")
	return cmd
}

func statusRun(ctx context.Context, app *App, opts statusOptions) error {
	ctx, cancel := context.WithTimeout(ctx, quickTimeout)
	defer cancel()
	st, err := state.Status{}, error(nil)
	if c := app.daemon(ctx); c != nil {
		st, err = c.Status(ctx)
	}
	if !st.Daemon.Running || err != nil {
		eng, err := app.openEngine(ctx, false)
		if err != nil {
			return err
		}
		st = eng.Status(ctx)
		targetPaths(eng.Config(), &st)
		st.Proxy = offlineProxy(eng.Config())
		var na *localapi.NotAnsweringError
		if errors.As(app.daemonDown, &na) {
			st.Daemon = state.Daemon{Running: true, PID: na.PID, Error: na.Error()}
		}
	}
	if env, err := installer.OSEnv(); err == nil {
		if e, err := installer.StatusContext(ctx, env); err == nil {
			st.StartAtLogin = e.State()
		}
	}
	if opts.JSON {
		b, err := json.MarshalIndent(st, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(app.Stdout, "%s\n", b)
		return err
	}
	writeStatus(app.Stdout, st, time.Now())
	return nil
}

// writeStatus prints st for people, with the same words as the JSON.
func writeStatus(w io.Writer, st state.Status, now time.Time) {
	switch {
	case st.Daemon.Error != "":
		fmt.Fprintf(w, "daemon: not answering (pid %d): %s; the rest is read from the token cache\n", st.Daemon.PID, st.Daemon.Error)
	case st.Daemon.Running:
		fmt.Fprintf(w, "daemon: running (pid %d)\n", st.Daemon.PID)
	default:
		fmt.Fprintf(w, "daemon: not running\n")
	}
	fmt.Fprintf(w, "storage: %s\n", st.Storage)
	if st.StorageWarning != "" {
		fmt.Fprintf(w, "warning: %s\n", st.StorageWarning)
	}
	if a := st.StartAtLogin; a != nil {
		switch {
		case !a.Installed:
			fmt.Fprintf(w, "start at login: no (run `broker install`)\n")
		case !a.Current:
			fmt.Fprintf(w, "start at login: %s (%s) does not start this binary: %s\n", a.Kind, a.Path, a.Problem)
		default:
			fmt.Fprintf(w, "start at login: %s (%s)\n", a.Kind, a.Path)
		}
	}
	if st.ConfigError != "" {
		fmt.Fprintf(w, "config error: %s\n", st.ConfigError)
	}
	if len(st.Profiles) == 0 {
		fmt.Fprintf(w, "no profiles configured\n")
	}
	for _, p := range st.Profiles {
		fmt.Fprintf(w, "profile %s: %s\n", p.Name, p.State)
		if p.Account != "" {
			fmt.Fprintf(w, "  account: %s\n", p.Account)
		}
		if p.Source != "" {
			fmt.Fprintf(w, "  source: %s (%s)\n", p.Source, auth.SourceDescription(p.Source))
		}
		if p.ExpiresOn != nil {
			left := p.ExpiresOn.Sub(now).Round(time.Minute)
			if left > 0 {
				fmt.Fprintf(w, "  expires_on: %s (in %s)\n", p.ExpiresOn.Local().Format(time.DateTime), strings.TrimSuffix(left.String(), "0s"))
			} else {
				fmt.Fprintf(w, "  expires_on: %s (expired; the next `broker token` refreshes it)\n", p.ExpiresOn.Local().Format(time.DateTime))
			}
		}
		if p.NextRefresh != nil {
			fmt.Fprintf(w, "  next_refresh: %s\n", p.NextRefresh.Local().Format(time.DateTime))
		}
		if p.LastError != "" {
			fmt.Fprintf(w, "  last_error: %s\n", p.LastError)
		}
		if p.ChallengedBy != "" {
			fmt.Fprintf(w, "  challenged_by: %s\n", p.ChallengedBy)
		}
		if len(p.AddedScopes) > 0 {
			fmt.Fprintf(w, "  added_scopes: %s (servers asked for them; `broker logout` forgets them)\n", strings.Join(p.AddedScopes, " "))
		}
		if p.SignInPrompt != "" {
			fmt.Fprintf(w, "  sign_in_prompt: %s\n", p.SignInPrompt)
		}
		for _, t := range p.Targets {
			line := "  target " + t.Client
			if t.Server != "" {
				line += " " + t.Server
			}
			if t.Path != "" {
				line += " (" + t.Path + ")"
			}
			line += ": " + t.State
			if t.Error != "" {
				line += ": " + t.Error
			}
			fmt.Fprintln(w, line)
		}
	}
	writeProxyStatus(w, st.Proxy)
}

// offlineProxy is the proxy's part of the status when no daemon serves
// it: the proxied targets' URLs, and why nothing answers there.
func offlineProxy(cfg *config.Config) *state.Proxy {
	ts := proxy.Targets(cfg)
	if len(ts) == 0 {
		return nil
	}
	px := &state.Proxy{Error: "the daemon is not running, so nothing answers the proxied URLs: start it with `broker run` (or `broker install`)"}
	for _, t := range ts {
		px.Targets = append(px.Targets, state.ProxyTarget{Profile: t.Profile, Client: t.Client, Server: t.Server,
			URL: proxy.URL(proxy.Port(cfg), t), Upstream: t.URL})
	}
	return px
}

// writeProxyStatus prints the loopback proxy's part of the status.
func writeProxyStatus(w io.Writer, px *state.Proxy) {
	if px == nil {
		return
	}
	switch {
	case px.Address != "":
		fmt.Fprintf(w, "proxy: listening on %s\n", px.Address)
	case px.Error != "":
		fmt.Fprintf(w, "proxy: not listening: %s\n", px.Error)
	default:
		fmt.Fprintf(w, "proxy: not listening\n")
	}
	for _, t := range px.Targets {
		fmt.Fprintf(w, "  %s → %s (%s %s, profile %s): %d requests\n", t.URL, t.Upstream, t.Client, t.Server, t.Profile, t.Requests)
		if t.SignInRequired {
			fmt.Fprintf(w, "    sign-in required: run `broker login --profile %s`\n", t.Profile)
		}
		if t.LastError != "" {
			at := ""
			if t.LastErrorAt != nil {
				at = " (" + t.LastErrorAt.Local().Format(time.DateTime) + ")"
			}
			fmt.Fprintf(w, "    last_error%s: %s\n", at, t.LastError)
		}
	}
}
