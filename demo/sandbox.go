package demo

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// markerFile marks a folder as a demo sandbox: only such a folder (or an
// empty one) is ever overwritten or removed.
const markerFile = ".broker-demo"

// profileName is the demo's profile; serverName the MCP server's name in
// every client.
const (
	profileName = "demo"
	serverName  = "contoso-data"
)

// sandbox is the demo's HOME: every path the broker and the clients use
// lies inside it.
type sandbox struct {
	root string
	// keep: the folder was given with --dir and stays after the demo.
	keep bool
	// runtimeDir is XDG_RUNTIME_DIR: inside root unless the socket's path
	// would be too long for a Unix socket, then a short temporary folder.
	runtimeDir string
	ownRuntime bool
	// files are the paths the broker and the clients use (resolve).
	files struct {
		config, state, log, socket string
		claude, vscode, copilot    string
	}
}

// maxSocketPath is the longest Unix socket path that works everywhere
// (sun_path is 104 bytes on macOS and the BSDs, 108 on Linux).
const maxSocketPath = 100

// newSandbox creates the sandbox: a temporary folder, or dir (which must
// be empty, missing, or an earlier demo's sandbox, which is wiped).
func newSandbox(dir string) (*sandbox, error) {
	sb := &sandbox{}
	if dir == "" {
		d, err := os.MkdirTemp("", "broker-demo-")
		if err != nil {
			return nil, fmt.Errorf("creating the sandbox: %w", err)
		}
		sb.root = d
	} else {
		abs, err := filepath.Abs(dir)
		if err != nil {
			return nil, err
		}
		if err := prepareDir(abs); err != nil {
			return nil, err
		}
		sb.root, sb.keep = abs, true
	}
	// Resolve symlinks (macOS's /tmp), so that paths printed and paths
	// written agree.
	if r, err := filepath.EvalSymlinks(sb.root); err == nil {
		sb.root = r
	}
	sb.runtimeDir = filepath.Join(sb.root, "run")
	if goos() != "windows" && len(filepath.Join(sb.runtimeDir, paths.App, "broker.sock")) > maxSocketPath {
		d, err := os.MkdirTemp("", "bd-run-")
		if err != nil {
			sb.remove()
			return nil, fmt.Errorf("creating a folder for the socket: %w", err)
		}
		sb.runtimeDir, sb.ownRuntime = d, true
	}
	if err := os.MkdirAll(sb.runtimeDir, 0o700); err != nil {
		sb.remove()
		return nil, err
	}
	if err := sb.resolve(); err != nil {
		sb.remove()
		return nil, fmt.Errorf("finding the sandbox's paths: %w", err)
	}
	return sb, nil
}

// prepareDir makes dir an empty folder, refusing anything that is not
// empty and not an earlier demo's sandbox: --dir ~ must never wipe a home.
func prepareDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return os.MkdirAll(dir, 0o700)
	}
	if err != nil {
		return fmt.Errorf("reading %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, markerFile)); err != nil {
		return &hintError{
			err:  fmt.Errorf("%s is not empty and is not a sandbox of an earlier `broker demo`", dir),
			hint: "give --dir a new or empty folder",
		}
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return fmt.Errorf("clearing the earlier sandbox %s: %w", dir, err)
		}
	}
	return nil
}

// remove deletes the sandbox unless it is kept; the socket's own folder
// goes in any case.
func (sb *sandbox) remove() error {
	var errs []error
	if sb.ownRuntime {
		errs = append(errs, os.RemoveAll(sb.runtimeDir))
	}
	if !sb.keep {
		errs = append(errs, os.RemoveAll(sb.root))
	}
	return errors.Join(errs...)
}

func (sb *sandbox) path(parts ...string) string {
	return filepath.Join(append([]string{sb.root}, parts...)...)
}

// base is the environment that places every base folder of every OS
// inside the sandbox: HOME (USERPROFILE on Windows), the XDG folders and
// %APPDATA% / %LOCALAPPDATA%.
func (sb *sandbox) base() map[string]string {
	return map[string]string{
		"HOME":            sb.root,
		"USERPROFILE":     sb.root,
		"XDG_CONFIG_HOME": sb.path(".config"),
		"XDG_STATE_HOME":  sb.path(".local", "state"),
		"XDG_DATA_HOME":   sb.path(".local", "share"),
		"XDG_CACHE_HOME":  sb.path(".cache"),
		"XDG_RUNTIME_DIR": sb.runtimeDir,
		"APPDATA":         sb.path("AppData", "Roaming"),
		"LOCALAPPDATA":    sb.path("AppData", "Local"),
	}
}

// paths is the sandbox as broker/paths sees it on this OS: the same code
// finds the same folders in `broker headers`, run with the sandbox's
// environment.
func (sb *sandbox) paths() paths.OS {
	base := sb.base()
	return paths.OS{GOOS: goos(), Home: sb.root, Getenv: func(k string) string { return base[k] }}
}

// resolve finds every path of the sandbox as the broker and the clients
// find it on this OS with the sandbox's environment: the product's own
// code (broker/paths, integrations), not a copy of its rules.
func (sb *sandbox) resolve() error {
	o := sb.paths()
	var err error
	if sb.files.config, err = o.ConfigFile(); err != nil {
		return err
	}
	if sb.files.state, err = o.StateDir(); err != nil {
		return err
	}
	if sb.files.log, err = o.LogFile(); err != nil {
		return err
	}
	if sb.files.socket, err = o.SocketPath(); err != nil {
		return err
	}
	env := integrations.Env{Home: sb.root, Getenv: o.Getenv, GOOS: goos()}
	for client, p := range map[string]*string{"claude": &sb.files.claude, "vscode": &sb.files.vscode, "copilot": &sb.files.copilot} {
		tg, err := integrations.New(config.Target{Client: client, Server: serverName, Mode: integrations.ModeHeader}, env)
		if err != nil {
			return err
		}
		*p = tg.Path()
	}
	return nil
}

// Paths inside the sandbox (resolve found them).
func (sb *sandbox) configFile() string { return sb.files.config }
func (sb *sandbox) adminFile() string {
	return filepath.Join(filepath.Dir(sb.files.config), "admin-config-none.toml")
}
func (sb *sandbox) stateDir() string { return sb.files.state }
func (sb *sandbox) logFile() string  { return sb.files.log }
func (sb *sandbox) caFile() string {
	return filepath.Join(filepath.Dir(sb.files.config), "entrasim-ca.pem")
}
func (sb *sandbox) socketPath() string  { return sb.files.socket }
func (sb *sandbox) claudeFile() string  { return sb.files.claude }
func (sb *sandbox) vscodeFile() string  { return sb.files.vscode }
func (sb *sandbox) copilotFile() string { return sb.files.copilot }

// envFile is the file that scripts read: a PowerShell file on Windows
// (the env file target's default there), a POSIX one elsewhere.
func (sb *sandbox) envFile() string {
	if goos() == "windows" {
		return sb.path("mcp-token.ps1")
	}
	return sb.path(".config", "mcp-token.env")
}

// env is the environment of the sandbox: every base folder inside it, the
// simulator's CA for TLS, the config file, and nothing that would lead a
// client or the broker back to the real home (client overrides, the
// session bus, a browser).
func (sb *sandbox) env() map[string]string {
	env := sb.base()
	for k, v := range map[string]string{
		"SSL_CERT_FILE":            sb.caFile(),
		"BROKER_CONFIG":            sb.configFile(),
		"BROKER_ADMIN_CONFIG":      sb.adminFile(),
		"CLAUDE_CONFIG_DIR":        "",
		"COPILOT_HOME":             "",
		"CODEX_HOME":               "",
		"SSL_CERT_DIR":             "",
		"DBUS_SESSION_BUS_ADDRESS": "",
		"BROWSER":                  "",
	} {
		env[k] = v
	}
	return env
}

// environ is os.Environ with the sandbox's variables in place (empty ones
// removed): the environment of the client stand-ins the demo starts.
func (sb *sandbox) environ() []string {
	env := sb.env()
	var out []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if runtime.GOOS == "windows" {
			k = strings.ToUpper(k)
		}
		if _, ok := env[k]; ok {
			continue
		}
		out = append(out, kv)
	}
	for k, v := range env {
		if v != "" {
			out = append(out, k+"="+v)
		}
	}
	return out
}

// getenv reads the sandbox's environment, falling back to the process's
// for anything else.
func (sb *sandbox) getenv(k string) string {
	if v, ok := sb.env()[k]; ok {
		return v
	}
	return os.Getenv(k)
}

// setProcessEnv points this process's environment at the sandbox, so that
// nothing in the process can find the real home either.
func (sb *sandbox) setProcessEnv() error {
	for k, v := range sb.env() {
		var err error
		if v == "" {
			err = os.Unsetenv(k)
		} else {
			err = os.Setenv(k, v)
		}
		if err != nil {
			return fmt.Errorf("setting %s: %w", k, err)
		}
	}
	return nil
}

// fill writes the sandbox's files: the marker, a .gitignore (so that a
// sandbox inside a git work tree holds no file git would commit), the CA,
// config.toml and the three clients' files and the env file as a user
// would have them before running the broker.
func (sb *sandbox) fill(s *entrasim.Server, o Options) error {
	pasted := s.IssueAccessToken(entrasim.TokenOpts{ExpiresAt: time.Now().Add(-20 * time.Hour)})
	files := []struct {
		path string
		data string
	}{
		{sb.path(markerFile), "This folder is a sandbox of `broker demo`; it is safe to delete.\n"},
		{sb.path(".gitignore"), "# a `broker demo` sandbox: nothing here is meant for git\n*\n"},
		{sb.configFile(), configTOML(s, sb, o)},
		{sb.claudeFile(), claudeJSON(s.MCPURL())},
		{sb.vscodeFile(), vscodeJSONC(s.MCPURL(), s.APIAudience(), pasted)},
		{sb.copilotFile(), copilotJSON},
		{sb.envFile(), envFile(goos(), s.MCPURL())},
	}
	for _, f := range files {
		if err := os.MkdirAll(filepath.Dir(f.path), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(f.path, []byte(f.data), 0o600); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(sb.stateDir(), 0o700); err != nil {
		return err
	}
	return s.WriteCA(sb.caFile())
}

// configTOML is the demo's config.toml: one profile against the simulator
// and one target per client. Paths are absolute (the file is also read by
// `broker headers`, run by the Claude Code stand-in).
func configTOML(s *entrasim.Server, sb *sandbox, o Options) string {
	return fmt.Sprintf(`# Written by `+"`broker demo`"+`: one profile that signs in to the Entra ID
# simulator, and where its token goes.

[settings]
storage = "file"          # the demo never touches your keyring
refresh_before = %q     # refresh when less than this is left

%s
[[profiles.demo.targets]]   # Claude Code runs `+"`broker headers`"+` on every connect
client = "claude"
server = %q
url = %q
mode = "helper"

[[profiles.demo.targets]]   # VS Code: servers.%s.headers.Authorization
client = "vscode"
server = %q

[[profiles.demo.targets]]   # Copilot CLI: mcpServers.%s.headers.Authorization
client = "copilot"
server = %q
url = %q
mode = "header"

[[profiles.demo.targets]]   # scripts: %s
client = "envfile"
path = %q
var = "MCP_TOKEN"
`, shortDuration(o.RefreshBefore), s.ProfileTOML(profileName),
		serverName, s.MCPURL(),
		serverName, serverName,
		serverName, serverName, s.MCPURL(),
		sourceHow(goos()), sb.envFile())
}

// claudeJSON is a Claude Code ~/.claude.json of someone who uses it daily:
// settings, a user-scope stdio server, the API's entry as `claude mcp add
// --transport http` writes it, and projects with their own servers.
func claudeJSON(mcpURL string) string {
	return `{
  "numStartups": 214,
  "installMethod": "global",
  "autoUpdates": true,
  "theme": "dark",
  "hasCompletedOnboarding": true,
  "lastOnboardingVersion": "2.1.3",
  "tipsHistory": {
    "memory-command": 12,
    "shift-tab": 31
  },
  "mcpServers": {
    "github": {
      "type": "stdio",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {
        "GITHUB_PERSONAL_ACCESS_TOKEN": "${GITHUB_TOKEN}"
      }
    },
    "` + serverName + `": {
      "type": "http",
      "url": "` + mcpURL + `"
    }
  },
  "projects": {
    "/home/alice/src/billing-service": {
      "allowedTools": ["Bash(go test:*)", "Bash(make lint)"],
      "history": [
        {"display": "why does the invoice total drift by a cent?", "pastedContents": {}}
      ],
      "mcpServers": {},
      "hasTrustDialogAccepted": true,
      "projectOnboardingSeenCount": 3
    },
    "/home/alice/src/data-pipelines": {
      "allowedTools": [],
      "history": [
        {"display": "list the tables the nightly job touches", "pastedContents": {}}
      ],
      "mcpServers": {
        "postgres": {
          "type": "stdio",
          "command": "npx",
          "args": ["-y", "@modelcontextprotocol/server-postgres", "postgresql://localhost/pipelines"]
        }
      },
      "hasTrustDialogAccepted": true,
      "projectOnboardingSeenCount": 1
    }
  }
}
`
}

// vscodeJSONC is a VS Code user mcp.json: JSONC with comments and trailing
// commas, the API's entry holding a token pasted by hand from the Azure
// CLI that expired long ago (the manual workaround the broker replaces),
// and another server.
func vscodeJSONC(mcpURL, audience, pasted string) string {
	return `// VS Code user MCP servers ("MCP: Open User Configuration")
{
	"servers": {
		// Contoso's data platform, behind Azure API Management
		"` + serverName + `": {
			"type": "http",
			"url": "` + mcpURL + `",
			"headers": {
				// pasted from ` + "`az account get-access-token --resource " + audience + "`" + `;
				// dead after an hour
				"Authorization": "Bearer ` + pasted + `",
			},
		},
		"playwright": {
			"command": "npx",
			"args": ["@playwright/mcp@latest"],
		},
	},
	"inputs": [],
}
`
}

// copilotJSON is a Copilot CLI ~/.copilot/mcp-config.json with another
// server; the broker adds the API's entry (the target has a url).
const copilotJSON = `{
  "mcpServers": {
    "github-issues": {
      "type": "local",
      "command": "npx",
      "args": ["-y", "@modelcontextprotocol/server-github"],
      "env": {},
      "tools": ["*"]
    }
  }
}
`

// envFile is a file that scripts source, with the URL the user put there;
// the broker adds and rotates MCP_TOKEN. On Windows it is PowerShell with
// CRLF line ends, as a Windows user writes it.
func envFile(goos, mcpURL string) string {
	if goos == "windows" {
		return "# Dot-sourced by scripts that call the data platform's MCP API:\r\n" +
			"#   . $HOME\\mcp-token.ps1; Invoke-RestMethod -Headers @{Authorization = \"Bearer $env:MCP_TOKEN\"} $env:MCP_URL ...\r\n" +
			"$env:MCP_URL = '" + mcpURL + "'\r\n"
	}
	return `# Sourced by scripts that call the data platform's MCP API:
#   . ~/.config/mcp-token.env && curl -H "Authorization: Bearer $MCP_TOKEN" "$MCP_URL" ...
export MCP_URL='` + mcpURL + `'
`
}

// sourceHow is how a script reads the env file, for the config's comment.
func sourceHow(goos string) string {
	if goos == "windows" {
		return "`. $HOME\\mcp-token.ps1` (PowerShell)"
	}
	return "`. ~/.config/mcp-token.env`"
}

// shortDuration prints 5m0s as 5m and 6m15s as 6m15s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = s[:len(s)-2]
	}
	if strings.HasSuffix(s, "h0m") {
		s = s[:len(s)-2]
	}
	return s
}
