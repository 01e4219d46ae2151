package cli

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/scan"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

type scanOptions struct {
	JSON     bool
	Dirs     []string
	Apply    bool
	Yes      bool
	ClientID string
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
Project folders: those Claude Code knows, the current folder, and --dir.
An entry that a target of config.toml wires is reported as the broker's.

--apply wires what the scan found, in one step:
  - one profile per API: the entries that share tenant and scopes share
    one; a profile of config.toml with the same tenant, scopes and
    authority is reused, else a new one is named after the API's
    Application ID URI (api://data-platform: "data-platform"; a GUID
    one: the server's host), never a name config.toml has;
  - one target per client entry, in the client's default mode (see
    ` + "`broker connect --help`" + `), its file edited in place;
  - a pasted token in an entry's Authorization header is taken out:
    helper and proxy modes replace it, and in header mode (VS Code)
    it is removed and the sign-in writes the fresh token. Other
    headers (a subscription key) stay.
It prints the plan as a unified diff of every file it would change
(config.toml first; secrets shown as ***) and asks before writing;
--yes applies without asking. Without a terminal and without --yes it
prints the plan, writes nothing and exits 2. The writes go through the
same delivery engine as ` + "`connect`" + `: every other byte of each file stays,
no token goes into a file git tracks, and a target whose wiring fails
is taken out of config.toml again (the others are still wired; exit 1). Run it
again and it proposes nothing.

A pasted token in a place the broker does not manage (an mcp-remote
argument) is named in a warning, to remove by hand.

A new profile needs your public-client app registration: --client-id (the
Application (client) ID: Entra admin center > App registrations > your
app > Overview), else the client ID of a profile of the same tenant in
config.toml; without either, nothing is written (exit 2). Sign
in afterwards with ` + "`broker login --profile P`" + ` (scan never opens a browser):
it writes the header-mode targets; helper and proxy targets fetch the
token themselves (proxy mode needs ` + "`broker run`" + `).`,
		Example: "  broker scan\n  broker scan --json\n  broker scan --dir ~/src/data-platform\n" +
			"  broker scan --apply --client-id 00000000-0000-0000-0000-000000000000\n  broker scan --apply --yes",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Apply && (opts.Yes || opts.ClientID != "") {
				return UsageErrorf("--yes and --client-id go with --apply")
			}
			if opts.ClientID != "" && !guidRE().MatchString(opts.ClientID) {
				return WithHint(UsageErrorf("--client-id %q is not an application ID (a GUID)", opts.ClientID),
					"copy the Application (client) ID from Entra admin center > App registrations > your app > Overview")
			}
			if opts.Apply && opts.JSON {
				return UsageErrorf("--apply prints a plan, not JSON: leave out --json")
			}
			return scanRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	cmd.Flags().StringArrayVar(&opts.Dirs, "dir", nil, "also read the project files in `DIR` (repeatable)")
	cmd.Flags().BoolVar(&opts.Apply, "apply", false, "propose profiles and targets for the Entra-protected entries, show the diff, and write it")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "with --apply: write without asking")
	cmd.Flags().StringVar(&opts.ClientID, "client-id", "", "with --apply: the Application (client) `ID` of your public-client app registration, for new profiles")
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
	cfg, cfgErr := app.LoadConfig()
	if cfgErr == nil {
		if client, err = auth.HTTPClient(cfg, nil); err != nil {
			return err
		}
	} else if opts.Apply {
		return cfgErr // --apply adds to it
	}
	r := scan.Run(ctx, scan.Options{Env: env, ProjectDirs: dirs, HTTPClient: client, Targets: configTargets(cfg)})
	for _, p := range r.Problems {
		fmt.Fprintf(app.Stderr, "broker: warning: %s\n", p)
	}
	if opts.Apply {
		return scanApply(ctx, app, opts, env, cfg, r)
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
		fmt.Fprintf(app.Stdout, "\n%d of %d entries are protected by Entra ID", n, len(r.Servers))
		if plan, _ := scan.Propose(r, cfg, "", env); !plan.Empty() {
			fmt.Fprintf(app.Stdout, "; %d not wired by the broker yet: `broker scan --apply` wires them", len(plan.Targets))
		}
		fmt.Fprintln(app.Stdout)
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

var guidRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
})

// configTargets are the targets of every profile of cfg (nil: none).
func configTargets(cfg *config.Config) []config.Target {
	if cfg == nil {
		return nil
	}
	var out []config.Target
	for _, n := range cfg.ProfileNames() {
		for _, t := range cfg.Profiles[n].Targets {
			t.Profile = n
			out = append(out, t)
		}
	}
	return out
}

// scanApply is `scan --apply`: the plan, its diff, the question, the
// writes, and what to do next.
func scanApply(ctx context.Context, app *App, opts scanOptions, env integrations.Env, cfg *config.Config, r scan.Report) error {
	file, err := app.ConfigFile()
	if err != nil {
		return err
	}
	plan, err := scan.Propose(r, cfg, opts.ClientID, env)
	if err != nil {
		return usageError{err}
	}
	for _, s := range plan.Skipped {
		fmt.Fprintf(app.Stderr, "broker: warning: %s %s in %s is left alone: %s\n", s.Entry.Client, s.Entry.Name, s.Entry.Path, s.Why)
	}
	if plan.Empty() {
		switch {
		case len(r.Entra()) == 0:
			fmt.Fprintln(app.Stdout, "nothing to apply: no entry protected by Entra ID was found")
		case len(plan.Skipped) > 0:
			fmt.Fprintln(app.Stdout, "nothing to apply: the broker wires the other Entra-protected entries already")
		default:
			fmt.Fprintln(app.Stdout, "nothing to apply: the broker wires every Entra-protected entry already")
		}
		return nil
	}
	// The preview's deliverer makes no proxy credential: it only shows
	// where the loopback URL and the credential go.
	stateDir, err := paths.StateDir()
	if err != nil {
		return err
	}
	penv := env
	penv.Proxy = previewProxy{port: proxy.Port(cfg)}
	pd := delivery.New(penv, stateDir)
	changes, warnings, err := plan.Preview(ctx, pd, file)
	if err != nil {
		return err
	}
	printPlan(app, plan, pd, env.Home)
	for _, c := range changes {
		fmt.Fprint(app.Stdout, c.Diff(env.Home))
	}
	for _, w := range warnings {
		fmt.Fprintf(app.Stderr, "broker: warning: %s\n", w)
	}
	if !opts.Yes {
		if !isTerminal(app.Stdin) {
			return usageError{WithHint(errors.New("nothing was written: --apply asks before writing, and there is no terminal to ask"),
				"run `broker scan --apply --yes` to write this plan without asking")}
		}
		fmt.Fprint(app.Stderr, "apply this plan? [y/N] ")
		answer, _ := bufio.NewReader(app.Stdin).ReadString('\n')
		if a := strings.ToLower(strings.TrimSpace(answer)); a != "y" && a != "yes" {
			fmt.Fprintln(app.Stdout, "nothing was written")
			return nil
		}
	}
	d, err := app.deliverer()
	if err != nil {
		return err
	}
	outs, err := plan.Apply(ctx, d, file)
	if err != nil {
		return err
	}
	var results []delivery.Result
	for _, o := range outs {
		results = append(results, o.Result)
	}
	failed := app.printResults(results)
	app.reloadDaemon(ctx)
	printNextSteps(ctx, app, plan, outs)
	if failed {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}

// printPlan says which profiles and targets the plan makes.
func printPlan(app *App, plan scan.Plan, d *delivery.Deliverer, home string) {
	for _, pp := range plan.Profiles {
		p := pp.Profile
		if pp.New {
			fmt.Fprintf(app.Stdout, "new profile %s: tenant %s, scopes %s, client ID %s\n", p.Name, p.Tenant, strings.Join(p.Scopes, " "), p.ClientID)
		} else {
			fmt.Fprintf(app.Stdout, "profile %s (in config.toml already): tenant %s, scopes %s\n", p.Name, p.Tenant, strings.Join(p.Scopes, " "))
		}
	}
	tw := tabwriter.NewWriter(app.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "CLIENT\tSERVER\tFILE\tPROFILE\tMODE\tNOW")
	for _, pt := range plan.Targets {
		mode := "?"
		if tg, err := d.Target(pt.Target); err == nil {
			mode = tg.Mode()
		}
		now := pt.Entry.Holds
		if pt.Entry.Detail != "" {
			now = pt.Entry.Detail
		}
		if pt.Replace {
			now += " (replaced)"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", pt.Target.Client, pt.Target.Server, tildePath(pt.Entry.Path, home), pt.Target.Profile, mode, now)
	}
	tw.Flush()
	fmt.Fprintln(app.Stdout)
}

// printNextSteps names the sign-in each profile still needs, and the
// daemon that proxied targets need.
func printNextSteps(ctx context.Context, app *App, plan scan.Plan, outs []scan.Outcome) {
	proxied, later := false, map[string]bool{}
	for _, o := range outs {
		if o.Result.Err != nil {
			continue
		}
		proxied = proxied || o.Mode == integrations.ModeProxy
		later[o.Target.Target.Profile] = later[o.Target.Target.Profile] || o.TokenLater
	}
	for _, pp := range plan.Profiles {
		name := pp.Profile.Name
		if !pp.New {
			fctx, cancel := context.WithTimeout(ctx, 8*time.Second)
			_, err := app.fetchToken(fctx, name, defaultMinValidity)
			cancel()
			if err == nil {
				if later[name] {
					fmt.Fprintf(app.Stdout, "profile %s is signed in: `broker sync --profile %s` writes its token now (the running daemon does by itself)\n", name, name)
				}
				continue
			}
		}
		what := "its targets fetch the token from the broker"
		if later[name] {
			what = "it writes the token where a client keeps one, and its other targets fetch it from the broker"
		}
		fmt.Fprintf(app.Stdout, "sign in next: `broker login --profile %s` (%s)\n", name, what)
	}
	if proxied {
		if c := app.daemon(ctx); c != nil {
			c.Close()
		} else {
			fmt.Fprintln(app.Stdout, "proxied targets need the daemon: `broker run`, or `broker install` to start it at login")
		}
	}
}

// previewProxy shows a proxied target's loopback URL without making its
// local credential.
type previewProxy struct{ port int }

func (p previewProxy) Endpoint(t config.Target) (string, string, error) {
	return proxy.URL(p.port, t), "(a local credential)", nil
}

func (previewProxy) Revoke(config.Target) error { return nil }

// isTerminal reports whether r is a terminal (/dev/null is not).
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
