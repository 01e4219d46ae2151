package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

type tokenOptions struct {
	Profile     string
	Format      string
	MinValidity time.Duration
}

func newTokenCmd(app *App) *cobra.Command {
	opts := tokenOptions{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Print a valid access token (never opens a browser)",
		Long: `Print an access token with at least --min-validity left, from the running
daemon or the token cache, refreshing it silently when needed. It never opens
a browser and gives up after 8 seconds; a daemon that does not answer within
2 seconds is left for the token cache (stderr says so).

Formats: raw (the token), header ("Authorization: Bearer …"), json (Azure CLI's
shape: accessToken, expiresOn, expires_on, tenant, tokenType), env
("export MCP_TOKEN='…'").`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			switch opts.Format {
			case "raw", "header", "json", "env":
			default:
				return WithHint(UsageErrorf("unknown format %q", opts.Format), "use raw, header, json or env")
			}
			if opts.MinValidity < 0 {
				return UsageErrorf("--min-validity must not be negative")
			}
			return tokenRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().StringVarP(&opts.Profile, "profile", "p", "", "profile (may be left out when there is one)")
	cmd.Flags().StringVarP(&opts.Format, "format", "f", "raw", "raw, header, json or env")
	cmd.Flags().DurationVar(&opts.MinValidity, "min-validity", defaultMinValidity, "refresh first when less than this is left")
	return cmd
}

func tokenRun(ctx context.Context, app *App, opts tokenOptions) error {
	m := app.hotMemo(opts.Profile, true)
	tok, err := app.fetchToken(ctx, opts.Profile, opts.MinValidity)
	if err != nil {
		return err
	}
	m.Remember(tok.Value.Reveal())
	return writeToken(app.Stdout, tok, opts.Format)
}

// azureCLIToken is `az account get-access-token`'s output.
type azureCLIToken struct {
	AccessToken string `json:"accessToken"`
	ExpiresOn   string `json:"expiresOn"`
	ExpiresOnTS int64  `json:"expires_on"`
	Tenant      string `json:"tenant"`
	TokenType   string `json:"tokenType"`
}

// writeToken prints tok in format. This is where the secret is revealed.
func writeToken(w io.Writer, tok token.Token, format string) error {
	var err error
	switch format {
	case "header":
		_, err = fmt.Fprintf(w, "Authorization: Bearer %s\n", tok.Value.Reveal())
	case "json":
		b, merr := json.MarshalIndent(azureCLIToken{
			AccessToken: tok.Value.Reveal(),
			ExpiresOn:   tok.ExpiresOn.Local().Format("2006-01-02 15:04:05.000000"),
			ExpiresOnTS: tok.ExpiresOn.Unix(),
			Tenant:      tok.Tenant,
			TokenType:   "Bearer",
		}, "", "  ")
		if merr != nil {
			return merr
		}
		_, err = fmt.Fprintf(w, "%s\n", b)
	case "env":
		_, err = fmt.Fprintf(w, "export MCP_TOKEN=%s\n", shellQuote(tok.Value.Reveal()))
	default:
		_, err = fmt.Fprintf(w, "%s\n", tok.Value.Reveal())
	}
	return err
}

// shellQuote quotes s for a POSIX shell.
func shellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
