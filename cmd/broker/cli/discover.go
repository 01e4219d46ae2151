package cli

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/discover"
)

type discoverOptions struct {
	URL      string
	Profile  string
	ClientID string
	Write    bool
}

func newDiscoverCmd(app *App) *cobra.Command {
	o := &discoverOptions{}
	cmd := &cobra.Command{
		Use:   "discover URL",
		Short: "Read an MCP server's protected-resource metadata and propose a profile",
		Long: `discover sends an unauthenticated request to the MCP server, follows the
resource_metadata link of its 401 answer (RFC 9728), and derives the Entra
tenant and the API scope from the metadata. It prints the profile it proposes;
with --write (and --client-id) it adds the profile to config.toml.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.URL = args[0]
			return discoverRun(cmd.Context(), app, o)
		},
	}
	cmd.Flags().StringVar(&o.Profile, "profile", "", "name of the proposed profile (default: derived from the URL)")
	cmd.Flags().StringVar(&o.ClientID, "client-id", "", "Application (client) ID of your public-client app registration")
	cmd.Flags().BoolVar(&o.Write, "write", false, "add the proposed profile to config.toml")
	return cmd
}

func discoverRun(ctx context.Context, app *App, o *discoverOptions) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	res, err := discover.Discover(ctx, http.DefaultClient, o.URL)
	if errors.Is(err, discover.ErrNoMetadata) {
		return WithHint(fmt.Errorf("%s answered HTTP %d and %w", o.URL, res.Status, err),
			"ask the API owner for the Entra tenant ID and the API's scope (api://<app-id>/.default),\n"+
				"or ask them to publish /.well-known/oauth-protected-resource (APIM can serve it from a policy)")
	}
	if err != nil {
		return WithHint(err, "check the URL and your network; the URL is the MCP endpoint itself, e.g. https://apim.contoso.com/mcp/data/mcp")
	}
	if res.Tenant == "" || len(res.Scopes) == 0 {
		return WithHint(fmt.Errorf("the metadata at %s names no Entra tenant or API scope (authorization servers %v, scopes %v)",
			res.MetadataURL, res.Metadata.AuthorizationServers, res.Metadata.ScopesSupported),
			"ask the API owner for the tenant ID and the API scope, then write the profile by hand (see `broker help config`)")
	}
	name := o.Profile
	if name == "" {
		name = profileNameFor(o.URL)
	}
	p := config.Profile{Name: name, Tenant: res.Tenant, ClientID: o.ClientID, Scopes: res.Scopes}
	if res.Authority != config.DefaultAuthority {
		p.Authority = res.Authority
	}
	fmt.Fprintf(app.Stderr, "metadata: %s\nauthorization server: %s\nscopes: %s\n\n",
		res.MetadataURL, strings.Join(res.Metadata.AuthorizationServers, ", "), strings.Join(res.Scopes, ", "))
	if res.ResourceNote != "" {
		fmt.Fprintf(app.Stderr, "note: %s\n\n", res.ResourceNote)
	}
	text := config.ProfileTOML(p)
	if !o.Write {
		fmt.Fprint(app.Stdout, text)
		if o.ClientID == "" {
			fmt.Fprintln(app.Stderr, "\nhint: client_id is the Application (client) ID of a public-client app registration in that tenant")
			fmt.Fprintln(app.Stderr, "hint: the README's set-up section has the `az ad app create` commands; then run again with --client-id ID --write")
		}
		return nil
	}
	if o.ClientID == "" {
		return UsageErrorf("--write needs --client-id: the profile cannot sign in without the app registration's ID")
	}
	path, err := app.ConfigFile()
	if err != nil {
		return err
	}
	if err := config.AppendProfile(ctx, path, p); err != nil {
		return err
	}
	fmt.Fprintf(app.Stderr, "added profile %q to %s\nnext: broker login --profile %s\n", name, path, name)
	return nil
}

// profileNameFor derives a profile name from the server URL: the last path
// segment that is not "mcp", else the host's first label.
func profileNameFor(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "default"
	}
	segs := strings.Split(strings.Trim(u.Path, "/"), "/")
	for i := len(segs) - 1; i >= 0; i-- {
		if s := sanitizeName(segs[i]); s != "" && s != "mcp" && s != "sse" {
			return s
		}
	}
	if s := sanitizeName(strings.Split(u.Hostname(), ".")[0]); s != "" {
		return s
	}
	return "default"
}

func sanitizeName(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') || r == '-' || r == '_' {
			b.WriteRune(r)
		}
	}
	return b.String()
}
