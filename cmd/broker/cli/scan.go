package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/scan"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

type scanOptions struct {
	JSON bool
	Dirs []string
}

func newScanCmd(app *App) *cobra.Command {
	opts := scanOptions{}
	cmd := &cobra.Command{
		Use:   "scan",
		Short: "Find the Entra-protected MCP servers already configured in your clients",
		Long: `Read every client's configuration that the broker knows (Claude Code's
~/.claude.json and its projects' .mcp.json, Claude Desktop, VS Code's user
and workspace mcp.json, Copilot CLI, Gemini CLI, Cursor, Windsurf, Codex,
opencode, Kilo Code, Cline, Continue, Crush, Qwen Code, Zed),
list each remote MCP server with the client and file it is in, and probe
each URL without credentials: the 401's resource_metadata link, then the
RFC 9728 protected-resource metadata, then the OpenID configuration of its
authorization server. Servers protected by Microsoft Entra ID are marked,
with the tenant and the scopes a profile needs, and so is what each client
holds for them today: a pasted token (and when it expires or expired), an
environment variable, a headers helper, the broker, or nothing.

A probe never sends a token, and trusts the CA bundle of settings.ca_file
when a config exists. Probes run in parallel with a 10-second
timeout each; a server that does not answer is reported, never fatal. A
file that does not parse is reported as PATH:LINE:COL and left alone.
Project folders: those Claude Code knows, the current folder, and --dir.`,
		Example: "  broker scan\n  broker scan --json\n  broker scan --dir ~/src/data-platform",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return scanRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringArrayVar(&opts.Dirs, "dir", nil, "also read the project files in `DIR` (repeatable)")
	return cmd
}

func scanRun(ctx context.Context, app *App, opts scanOptions) error {
	env, err := integrations.DefaultEnv()
	if err != nil {
		return err
	}
	dirs := opts.Dirs
	if wd, err := os.Getwd(); err == nil {
		dirs = append(dirs, wd)
	}
	// Probes trust the CA of settings.ca_file, as sign-in does; with no
	// config (the usual case before the first profile) the system's roots.
	var client *http.Client
	if cfg, err := app.LoadConfig(); err == nil {
		if client, err = auth.HTTPClient(cfg, nil); err != nil {
			return err
		}
	}
	r := scan.Run(ctx, scan.Options{Env: env, ProjectDirs: dirs, HTTPClient: client})
	for _, p := range r.Problems {
		fmt.Fprintf(app.Stderr, "broker: warning: %s\n", p)
	}
	if opts.JSON {
		if r.Servers == nil {
			r.Servers = []scan.Server{}
		}
		b, err := json.MarshalIndent(r, "", "  ")
		if err != nil {
			return err
		}
		_, err = fmt.Fprintf(app.Stdout, "%s\n", b)
		return err
	}
	if len(r.Servers) == 0 {
		fmt.Fprintln(app.Stdout, "no remote MCP server is configured in any client the broker knows")
		return nil
	}
	tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tFILE\tPROTECTED BY\tHOLDS")
	for _, s := range r.Servers {
		by := "-"
		if s.Protection.Entra {
			by = "Entra ID " + s.Protection.Tenant + " " + strings.Join(s.Protection.Scopes, " ")
		}
		what := s.Holds
		if s.Detail != "" {
			what = s.Detail
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", s.Client, s.Name, tildePath(s.Path, env.Home), by, what)
		if s.Protection.Note != "" {
			fmt.Fprintf(tw, "\t\t\t%s\t\n", s.Protection.Note)
		}
	}
	tw.Flush()
	if n := len(r.Entra()); n > 0 {
		fmt.Fprintf(app.Stdout, "\n%d of %d entries are protected by Entra ID: `broker discover URL --client-id ID --write` makes a profile, `broker connect` wires each client\n", n, len(r.Servers))
	}
	return nil
}

// tildePath writes path under home as ~/….
func tildePath(path, home string) string {
	if rel, ok := strings.CutPrefix(path, home+string(os.PathSeparator)); ok && home != "" {
		return "~" + string(os.PathSeparator) + rel
	}
	return path
}
