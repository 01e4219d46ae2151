package cli

import "github.com/spf13/cobra"

// newConfigHelpTopic is `broker help config`: the reference of config.toml.
func newConfigHelpTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "config",
		Short: "Reference of config.toml: settings, profiles, targets",
		Long: `The config file is TOML. The user's file is
  Linux    ~/.config/mcp-token-broker/config.toml ($XDG_CONFIG_HOME)
  macOS    ~/Library/Application Support/mcp-token-broker/config.toml
  Windows  %AppData%\mcp-token-broker\config.toml
or the file named by --config or $BROKER_CONFIG. An administrator's file is
read first and the user's file overrides it key by key (a profile's targets
are the admin's followed by the user's):
  /etc/mcp-token-broker/config.toml (Linux)
  /Library/Application Support/mcp-token-broker/config.toml (macOS)
  %ProgramData%\mcp-token-broker\config.toml (Windows)
  $BROKER_ADMIN_CONFIG replaces that path.
Unknown keys, missing keys and wrong values are errors that name the file,
line and key (exit code 2). A UTF-8 byte order mark at the start is fine.

  [settings]
  storage = "auto"          # auto: key in the OS keyring, cache encrypted in a file;
                            #   falls back to a plain 0600 file (with a warning) when
                            #   there is no keyring. keyring: fail without one. file: plain.
  refresh_before = "15m"    # refresh when less than this is left (5m to 50m)
  log_level = "info"        # debug | info | warn | error
  ca_file = "/etc/ssl/corp-ca.pem"   # PEM bundle trusted beside the system's roots
                            #   (TLS-inspecting proxy, private CA): sign-in, refresh,
                            #   bridge, doctor, proxy; clients strip SSL_CERT_FILE, this stays
  proxy_port = 17000        # the loopback proxy's port on 127.0.0.1 (default 17000 + uid % 1000,
                            #   fixed per user); after a change, ` + "`broker sync`" + ` rewrites the URLs

  [profiles.data]                        # one profile per API / app registration
  tenant = "contoso.onmicrosoft.com"     # tenant ID (GUID) or domain
  client_id = "…"                        # your public-client app registration (a GUID);
                                         #   not used (and optional) with azurecli and azd
  scopes = ["api://…/.default"]          # required; must name your API, never Graph
  authority = "https://login.microsoftonline.com"   # other clouds or a test authority
  login = "browser"                      # where the tokens come from:
                                         #   browser | device-code: the broker signs in (MSAL)
                                         #   azurecli: az account get-access-token
                                         #   azd: azd auth token
                                         #   azureauth: azureauth aad (client_id required)
                                         #   the tools keep the sign-in (WAM on Windows, the
                                         #   macOS SSO extension: tenants that require a
                                         #   managed device or token protection); README,
                                         #   "Credential sources"
                                         #   certificate | workload-identity | managed-identity:
                                         #   no user, app tokens (roles); scopes then only
                                         #   "api://…/.default"; README, "Unattended"
  login_hint = "alice@contoso.com"       # optional
  ca_file = "~/corp-ca.pem"              # optional: this profile's bundle instead
  certificate = "~/agent.pem"            # certificate: PEM with the certificate and its
                                         #   unencrypted RSA key (keep it 0600); client_id = the app's
  federated_token_file = "/var/run/…"    # workload-identity: read at every acquisition (default
                                         #   $AZURE_FEDERATED_TOKEN_FILE; tenant and client_id default
                                         #   to $AZURE_TENANT_ID and $AZURE_CLIENT_ID)
  managed_identity_client_id = "…"       # managed-identity: a user-assigned identity (no client_id,
                                         #   tenant optional); left out: the system-assigned one

  [[profiles.data.targets]]              # where the token goes; any number
  client = "claude"       # claude, claude-desktop, vscode, copilot, gemini, cursor,
                          # windsurf, codex, opencode, kilo, cline, continue, crush, qwen,
                          # zed, json, envfile, file
  server = "data-platform"               # the MCP server's name in that client
  url = "https://apim…/mcp/data/mcp"     # lets broker create the entry when missing
  mode = "helper"         # claude: helper (default) | header | proxy; copilot, gemini, cursor,
                          # windsurf, opencode, kilo, cline, qwen, continue: proxy (default
                          # when url is set) | header; crush: helper (default) | proxy | header; codex:
                          # helper (default) | header; vscode, zed: header (default) | proxy;
                          # bridge (all but continue): a stdio entry that runs
                          # ` + "`broker bridge SERVER`" + `. proxy: the entry gets the daemon's loopback
                          # URL and a local credential once; the daemon forwards to url
                          # with the current token (needs url and ` + "`broker run`" + `)
  path = "/abs/file"      # another file than the client's default (~/ allowed)
  project = "/abs/dir"    # claude only: projects["/abs/dir"].mcpServers (local scope)
  pointer = "/a/b"        # json only: RFC 6901 pointer of the value
  template = "Bearer {token}"            # the value written (json and header modes)
  var = "MCP_TOKEN"       # envfile only
  format = "sh"           # envfile only: sh | powershell | dotenv

Files broker writes into are edited in place: only the managed value changes,
every other byte (comments, order, indentation, line endings) stays. A token
is never written into a file that git tracks or would commit.`,
	}
}
