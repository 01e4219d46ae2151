package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

const goodProfile = `
[profiles.data]
tenant = "contoso.onmicrosoft.com"
client_id = "11111111-2222-3333-4444-555555555555"
scopes = ["api://data-api/.default"]
`

func write(t *testing.T, name, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadValid(t *testing.T) {
	t.Parallel()
	p := write(t, "config.toml", `
[settings]
refresh_before = "20m"
`+goodProfile+`
login_hint = "alice@contoso.com"

[[profiles.data.targets]]
client = "claude"
server = "data-platform"
url = "https://apim.example.com/mcp/data/mcp"

[[profiles.data.targets]]
client = "envfile"
path = "/tmp/x/mcp.env"
`)
	c, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.Storage != "auto" || c.Settings.RefreshBefore.Duration != 20*time.Minute || c.Settings.LogLevel != "info" {
		t.Errorf("settings = %+v", c.Settings)
	}
	pr := c.Profiles["data"]
	want := &Profile{
		Name: "data", Tenant: "contoso.onmicrosoft.com", ClientID: "11111111-2222-3333-4444-555555555555",
		Scopes: []string{"api://data-api/.default"}, Authority: DefaultAuthority, Login: "browser",
		LoginHint: "alice@contoso.com",
		Targets: []Target{
			{Client: "claude", Server: "data-platform", URL: "https://apim.example.com/mcp/data/mcp", Mode: "helper", Template: "Bearer {token}", Profile: "data"},
			{Client: "envfile", Path: "/tmp/x/mcp.env", Mode: "header", Template: "Bearer {token}", Var: "MCP_TOKEN", Profile: "data"},
		},
	}
	if d := cmp.Diff(want, pr); d != "" {
		t.Errorf("profile (-want +got):\n%s", d)
	}
	if got := pr.APIResource(); got != "api://data-api" {
		t.Errorf("APIResource = %q", got)
	}
}

func TestLoadMissingFilesIsEmpty(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c, err := Load(filepath.Join(dir, "admin.toml"), filepath.Join(dir, "user.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Profiles) != 0 || len(c.Files) != 0 || c.Settings.RefreshBefore.Duration != DefaultRefreshBefore {
		t.Errorf("got %+v", c)
	}
}

func TestAdminLayerOverriddenByUser(t *testing.T) {
	t.Parallel()
	admin := write(t, "admin.toml", `
[settings]
storage = "keyring"
refresh_before = "30m"
`+goodProfile+`
[[profiles.data.targets]]
client = "vscode"
server = "data"
`)
	user := write(t, "user.toml", `
[settings]
refresh_before = "10m"

[profiles.data]
login_hint = "bob@contoso.com"
scopes = ["api://data-api/access_as_user"]

[[profiles.data.targets]]
client = "claude"
server = "data"
`)
	c, err := Load(admin, user)
	if err != nil {
		t.Fatal(err)
	}
	if c.Settings.Storage != "keyring" || c.Settings.RefreshBefore.Duration != 10*time.Minute {
		t.Errorf("settings = %+v", c.Settings)
	}
	p := c.Profiles["data"]
	if p.Tenant != "contoso.onmicrosoft.com" || p.LoginHint != "bob@contoso.com" || p.Scopes[0] != "api://data-api/access_as_user" {
		t.Errorf("profile = %+v", p)
	}
	if len(p.Targets) != 2 || p.Targets[0].Client != "vscode" || p.Targets[1].Client != "claude" {
		t.Errorf("targets = %+v", p.Targets)
	}
	if d := cmp.Diff([]string{admin, user}, c.Files); d != "" {
		t.Errorf("files: %s", d)
	}
}

func TestLoadErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name      string
		text      string
		line, col int
		key, msg  string
	}{
		{"unknown key", goodProfile + "colour = \"blue\"\n", 6, 1, "profiles.data.colour", `unknown key "profiles.data.colour"`},
		{"unknown settings key", "[settings]\nstorage = \"auto\"\nrefresh = \"5m\"\n", 3, 1, "settings.refresh", "unknown key"},
		{"syntax", "[settings\nstorage = 1\n", 1, 10, "", ""},
		{"missing tenant", "\n[profiles.data]\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"api://x/.default\"]\n", 2, 2, "profiles.data.tenant", "profiles.data.tenant is required"},
		{"missing client id", "[profiles.data]\ntenant = \"contoso.com\"\nscopes = [\"api://x/.default\"]\n", 1, 2, "profiles.data.client_id", "is required"},
		{"bad client id", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"my-app\"\nscopes = [\"api://x/.default\"]\n", 3, 1, "profiles.data.client_id", "is not an application ID"},
		{"empty scopes", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = []\n", 4, 1, "profiles.data.scopes", "is required and must name your API"},
		{"no scopes", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\n", 1, 2, "profiles.data.scopes", "is required"},
		{"scope names no api", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"access_as_user\"]\n", 4, 1, "profiles.data.scopes", `"access_as_user" names no API`},
		{"only oidc scopes", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"openid\", \"offline_access\"]\n", 4, 1, "profiles.data.scopes", "names no API"},
		{"graph scope", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"https://graph.microsoft.com/.default\"]\n", 4, 1, "profiles.data.scopes", "Microsoft Graph scope"},
		{"refresh_before too short", "[settings]\nrefresh_before = \"4m\"\n", 2, 1, "settings.refresh_before", "out of range"},
		{"refresh_before too long", "[settings]\nrefresh_before = \"51m\"\n", 2, 1, "settings.refresh_before", "out of range"},
		{"refresh_before not a duration", "[settings]\nrefresh_before = \"soon\"\n", 2, 18, "", "invalid duration"},
		{"storage", "[settings]\nstorage = \"vault\"\n", 2, 1, "settings.storage", "unknown storage"},
		{"refresh_before without unit", "[settings]\nrefresh_before = 15\n", 2, 1, "settings.refresh_before", "15 is not a duration (missing unit"},
		{"refresh_before zero", "[settings]\nrefresh_before = \"0s\"\n", 2, 1, "settings.refresh_before", "0s is out of range"},
		{"scopes of two APIs", "[profiles.data]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"api://one/.default\", \"openid\", \"api://two/read\"]\n", 4, 1, "profiles.data.scopes", `"api://one/.default" and "api://two/read" are scopes of two different APIs`},
		{"relative ca_file", "[settings]\nca_file = \"corp.pem\"\n", 2, 1, "settings.ca_file", "is not absolute"},
		{"relative profile ca_file", goodProfile + "ca_file = \"corp.pem\"\n", 6, 1, "profiles.data.ca_file", "is not absolute"},
		{"authority http", goodProfile + "authority = \"http://login.example.com\"\n", 6, 1, "profiles.data.authority", "not an https URL"},
		{"unknown client", goodProfile + "[[profiles.data.targets]]\nclient = \"emacs\"\nserver = \"x\"\n", 7, 1, "profiles.data.targets[0].client", `unknown client "emacs"`},
		{"target without server", goodProfile + "[[profiles.data.targets]]\nclient = \"claude\"\n", 6, 3, "profiles.data.targets[0].server", "server is required"},
		{"second target bad mode", goodProfile + "[[profiles.data.targets]]\nclient = \"claude\"\nserver = \"a\"\n[[profiles.data.targets]]\nclient = \"vscode\"\nserver = \"b\"\nmode = \"helper\"\n", 12, 1, "profiles.data.targets[1].mode", `"helper" does not work for vscode`},
		{"json without pointer", goodProfile + "[[profiles.data.targets]]\nclient = \"json\"\npath = \"/tmp/a.json\"\n", 6, 3, "profiles.data.targets[0].pointer", "pointer is required"},
		{"relative path", goodProfile + "[[profiles.data.targets]]\nclient = \"file\"\npath = \"token.txt\"\n", 8, 1, "profiles.data.targets[0].path", "is not absolute"},
		{"template without token", goodProfile + "[[profiles.data.targets]]\nclient = \"vscode\"\nserver = \"a\"\ntemplate = \"Bearer\"\n", 9, 1, "profiles.data.targets[0].template", "has no {token}"},
		{"wrong type", "[profiles.data]\ntenant = 5\n", 2, 10, "", ""},
		{"proxy_port not a port", "[settings]\nproxy_port = 70000\n", 2, 1, "settings.proxy_port", "is not a port"},
		{"unknown login", goodProfile + "login = \"wam\"\n", 6, 1, "profiles.data.login", `unknown sign-in method "wam"`},
		{"azureauth needs its client id", "[profiles.data]\ntenant = \"contoso.com\"\nscopes = [\"api://x/.default\"]\nlogin = \"azureauth\"\n", 1, 2, "profiles.data.client_id", "is required"},
		{"azurecli graph scope", "[profiles.data]\ntenant = \"contoso.com\"\nlogin = \"azurecli\"\nscopes = [\"https://graph.microsoft.com/.default\"]\n", 4, 1, "profiles.data.scopes", "Microsoft Graph scope"},
		{"proxy without url", goodProfile + "[[profiles.data.targets]]\nclient = \"copilot\"\nserver = \"a\"\nmode = \"proxy\"\n", 9, 1, "profiles.data.targets[0].url", "mode proxy needs the server's url"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := write(t, "config.toml", tc.text)
			_, err := Load("", p)
			var ce *Error
			if !errors.As(err, &ce) {
				t.Fatalf("err = %v (%T), want *config.Error", err, err)
			}
			if ce.Path != p || ce.Line != tc.line || (tc.col != 0 && ce.Col != tc.col) {
				t.Errorf("at %s:%d:%d, want %s:%d:%d (%v)", ce.Path, ce.Line, ce.Col, p, tc.line, tc.col, err)
			}
			if tc.key != "" && ce.Key != tc.key {
				t.Errorf("key = %q, want %q", ce.Key, tc.key)
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Errorf("message %q does not contain %q", err.Error(), tc.msg)
			}
			if !strings.HasPrefix(err.Error(), p+":") {
				t.Errorf("message %q does not start with the path", err.Error())
			}
			if ce.Hint == "" {
				t.Errorf("no hint for %v", err)
			}
		})
	}
}

func TestUnreadableFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	_, err := Load("", dir) // a folder cannot be read as a file
	var ce *Error
	if !errors.As(err, &ce) || ce.Path != dir {
		t.Fatalf("err = %v", err)
	}
}

func TestDuplicateTargetLaterWins(t *testing.T) {
	t.Parallel()
	admin := write(t, "admin.toml", goodProfile+"[[profiles.data.targets]]\nclient = \"claude\"\nserver = \"a\"\nmode = \"header\"\n")
	user := write(t, "user.toml", "[[profiles.data.targets]]\nclient = \"claude\"\nserver = \"a\"\n")
	c, err := Load(admin, user)
	if err != nil {
		t.Fatal(err)
	}
	ts := c.Profiles["data"].Targets
	if len(ts) != 1 || ts[0].Mode != "helper" {
		t.Errorf("targets = %+v", ts)
	}
}

func TestTargetErrorPointsIntoUserFileAfterAdminTargets(t *testing.T) {
	t.Parallel()
	admin := write(t, "admin.toml", goodProfile+"[[profiles.data.targets]]\nclient = \"claude\"\nserver = \"a\"\n")
	user := write(t, "user.toml", "\n\n[[profiles.data.targets]]\nclient = \"nope\"\n")
	_, err := Load(admin, user)
	var ce *Error
	if !errors.As(err, &ce) || ce.Path != user || ce.Line != 4 || ce.Key != "profiles.data.targets[1].client" {
		t.Fatalf("err = %v (%+v)", err, ce)
	}
}

// TestByteOrderMark: Windows Notepad saves UTF-8 with a BOM; the file is
// read as if it had none, and places in it stay right.
func TestByteOrderMark(t *testing.T) {
	t.Parallel()
	p := write(t, "config.toml", "\ufeff[settings]\nrefresh_before = \"20m\"\n"+goodProfile)
	cfg, err := Load("", p)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	if cfg.Settings.RefreshBefore.Duration != 20*time.Minute || cfg.Profiles["data"] == nil {
		t.Errorf("settings %+v, profiles %v", cfg.Settings, cfg.ProfileNames())
	}
	p = write(t, "bad.toml", "\ufeff[settings]\nstorage = \"vault\"\n")
	_, err = Load("", p)
	var ce *Error
	if !errors.As(err, &ce) || ce.Line != 2 || ce.Col != 1 {
		t.Errorf("err = %v, want at 2:1", err)
	}
}

// TestCAFile: settings.ca_file for every profile, a profile's own instead.
func TestCAFile(t *testing.T) {
	t.Parallel()
	p := write(t, "config.toml", "[settings]\nca_file = \"/etc/corp.pem\"\n"+goodProfile+
		"\n[profiles.other]\ntenant = \"contoso.com\"\nclient_id = \"11111111-2222-3333-4444-555555555555\"\nscopes = [\"api://x/.default\"]\nca_file = \"/opt/other.pem\"\n")
	cfg, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.CABundle(cfg.Profiles["data"]); got != "/etc/corp.pem" {
		t.Errorf("data: %q", got)
	}
	if got := cfg.CABundle(cfg.Profiles["other"]); got != "/opt/other.pem" {
		t.Errorf("other: %q", got)
	}
}

// TestProxyDefaults: proxy is the default mode of copilot, gemini, cursor
// and windsurf targets that name their server's url (the proxy forwards
// there), header without one; proxy_port is read.
func TestProxyDefaults(t *testing.T) {
	t.Parallel()
	text := "[settings]\nproxy_port = 18123\n\n" + goodProfile
	for _, c := range []string{"copilot", "gemini", "cursor", "windsurf", "claude", "vscode"} {
		text += "[[profiles.data.targets]]\nclient = \"" + c + "\"\nserver = \"with-url\"\nurl = \"https://apim.contoso.com/mcp\"\n"
		text += "[[profiles.data.targets]]\nclient = \"" + c + "\"\nserver = \"no-url\"\n"
	}
	cfg, err := Load("", write(t, "config.toml", text))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Settings.ProxyPort != 18123 {
		t.Errorf("proxy_port = %d", cfg.Settings.ProxyPort)
	}
	want := map[string]string{"claude": "helper", "vscode": "header"}
	for _, tg := range cfg.Profiles["data"].Targets {
		w := want[tg.Client]
		if w == "" {
			w = "header"
			if tg.URL != "" {
				w = "proxy"
			}
		}
		if tg.Mode != w {
			t.Errorf("%s/%s: mode %q, want %q", tg.Client, tg.Server, tg.Mode, w)
		}
	}
}

func TestLoginMethods(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ login, clientID, want string }{
		{"", "client_id = \"11111111-2222-3333-4444-555555555555\"\n", LoginBrowser},
		{"login = \"device-code\"\n", "client_id = \"11111111-2222-3333-4444-555555555555\"\n", LoginDeviceCode},
		{"login = \"azurecli\"\n", "", LoginAzureCLI}, // az signs in with its own app registration
		{"login = \"azd\"\n", "", LoginAzd},
		{"login = \"azureauth\"\n", "client_id = \"11111111-2222-3333-4444-555555555555\"\n", LoginAzureAuth},
	} {
		t.Run(tc.want, func(t *testing.T) {
			t.Parallel()
			p := write(t, "config.toml", "[profiles.data]\ntenant = \"contoso.com\"\nscopes = [\"api://x/.default\"]\n"+tc.clientID+tc.login)
			cfg, err := Load("", p)
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.Profiles["data"].Login; got != tc.want {
				t.Errorf("login = %q, want %q", got, tc.want)
			}
		})
	}
	p := write(t, "config.toml", goodProfile+"login = \"wam\"\n")
	_, err := Load("", p)
	var ce *Error
	if !errors.As(err, &ce) {
		t.Fatalf("err = %v", err)
	}
	for _, v := range loginMethods {
		if !strings.Contains(ce.Hint, `"`+v+`"`) {
			t.Errorf("hint %q does not list %q", ce.Hint, v)
		}
	}
}
