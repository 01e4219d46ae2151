package config

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"
)

// Defaults and limits.
const (
	DefaultAuthority     = "https://login.microsoftonline.com"
	DefaultRefreshBefore = 15 * time.Minute
	MinRefreshBefore     = 5 * time.Minute
	MaxRefreshBefore     = 50 * time.Minute
	// GraphAppID is Microsoft Graph's application ID: the audience Entra
	// falls back to when no API scope is asked.
	GraphAppID = "00000003-0000-0000-c000-000000000000"
)

// Clients lists the known target clients.
var Clients = []string{"claude", "claude-desktop", "vscode", "copilot", "gemini", "cursor", "windsurf", "codex", "opencode", "cline", "continue", "crush", "kilo", "qwen", "zed", "json", "envfile", "file"}

// modes lists the delivery modes each client accepts; the first is the default.
var modes = map[string][]string{
	"claude":         {"helper", "header", "proxy", "bridge"},
	"claude-desktop": {"bridge"},
	"vscode":         {"header", "proxy", "bridge"},
	"copilot":        {"proxy", "header", "bridge"},
	"gemini":         {"proxy", "header", "bridge"},
	"cursor":         {"proxy", "header", "bridge"},
	"windsurf":       {"proxy", "header", "bridge"},
	"codex":          {"helper", "header", "bridge"},
	"opencode":       {"proxy", "header", "bridge"},
	"kilo":           {"proxy", "header", "bridge"},
	"cline":          {"proxy", "header", "bridge"},
	"continue":       {"proxy", "header"},
	"crush":          {"helper", "proxy", "header", "bridge"},
	"qwen":           {"proxy", "header", "bridge"},
	"zed":            {"header", "proxy", "bridge"},
	"json":           {"header"},
	"envfile":        {"header"},
	"file":           {"header"},
}

// DefaultMode is a target's mode when it names none: the client's first
// mode, except that proxy (which forwards to the target's url) needs a
// url and falls back to the next one without.
func DefaultMode(allowed []string, url string) string {
	if len(allowed) > 1 && allowed[0] == "proxy" && url == "" {
		return allowed[1]
	}
	if len(allowed) == 0 {
		return ""
	}
	return allowed[0]
}

var (
	guidRE = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
	domainRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$`) })
	varRE    = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })
)

// oidcScopes may stand beside API scopes; they name no API.
var oidcScopes = map[string]bool{"openid": true, "profile": true, "offline_access": true, "email": true}

func validate(cfg *Config, pos map[string]where) error {
	loc := func(keys ...string) where {
		for _, k := range keys {
			if w, ok := pos[k]; ok {
				return w
			}
		}
		if len(cfg.Files) > 0 {
			return where{path: cfg.Files[len(cfg.Files)-1]}
		}
		return where{path: cfg.Path}
	}
	fail := func(w where, key, hint, format string, args ...any) error {
		return &Error{Path: w.path, Line: w.line, Col: w.col, Key: key, Message: fmt.Sprintf(format, args...), Hint: hint}
	}

	s := &cfg.Settings
	switch s.Storage {
	case "":
		s.Storage = "auto"
	case "auto", "keyring", "file":
	default:
		return fail(loc("settings.storage"), "settings.storage", `use "auto", "keyring" or "file"`,
			"settings.storage: unknown storage %q", s.Storage)
	}
	if s.RefreshBefore.Duration == 0 {
		s.RefreshBefore.Duration = DefaultRefreshBefore
	} else if s.RefreshBefore.Duration < MinRefreshBefore || s.RefreshBefore.Duration > MaxRefreshBefore {
		return fail(loc("settings.refresh_before"), "settings.refresh_before",
			"use a duration between 5m and 50m (MSAL itself refreshes below 5 min; tokens live 60–90 min)",
			"settings.refresh_before: %s is out of range", s.RefreshBefore.Duration)
	}
	if s.CAFile != "" {
		ca, err := caPath(s.CAFile)
		if err != nil {
			return fail(loc("settings.ca_file"), "settings.ca_file", "write the absolute path of a PEM file (~/ is allowed)",
				"settings.ca_file: %s", err)
		}
		s.CAFile = ca
	}
	switch s.LogLevel {
	case "":
		s.LogLevel = "info"
	case "debug", "info", "warn", "error":
	default:
		return fail(loc("settings.log_level"), "settings.log_level", `use "debug", "info", "warn" or "error"`,
			"settings.log_level: unknown level %q", s.LogLevel)
	}

	if s.ProxyPort < 0 || s.ProxyPort > 65535 {
		return fail(loc("settings.proxy_port"), "settings.proxy_port", "use a port between 1024 and 65535, or leave it out for the default",
			"settings.proxy_port: %d is not a port", s.ProxyPort)
	}

	for _, name := range cfg.ProfileNames() {
		p := cfg.Profiles[name]
		base := "profiles." + name
		if err := validateProfile(p, base, loc, fail); err != nil {
			return err
		}
		seen := map[string]int{}
		var kept []Target
		for i := range p.Targets {
			t := &p.Targets[i]
			tkey := fmt.Sprintf("%s.targets[%d]", base, i)
			if err := validateTarget(t, tkey, loc, fail); err != nil {
				return err
			}
			// A later file's target for the same place replaces an earlier one.
			id := t.Client + "\x00" + t.Server + "\x00" + t.Path + "\x00" + t.Project + "\x00" + t.Pointer
			if j, ok := seen[id]; ok {
				kept[j] = *t
				continue
			}
			seen[id] = len(kept)
			kept = append(kept, *t)
		}
		p.Targets = kept
	}
	return nil
}

type locFunc func(keys ...string) where
type failFunc func(w where, key, hint, format string, args ...any) error

func validateProfile(p *Profile, base string, loc locFunc, fail failFunc) error {
	if !varRE().MatchString(strings.ReplaceAll(p.Name, "-", "_")) {
		return fail(loc(base), base, "use letters, digits, - and _ in profile names",
			"profile name %q is not valid", p.Name)
	}
	if IsUnattended(p.Login) {
		return validateUnattended(p, base, loc, fail) // unattended.go
	}
	missing := func(key, hint string) error {
		return fail(loc(base+"."+key, base), base+"."+key, hint, "%s.%s is required", base, key)
	}
	p.Tenant = strings.TrimSpace(p.Tenant)
	if p.Tenant == "" {
		return missing("tenant", `set tenant to your directory's ID (a GUID) or domain, e.g. "contoso.onmicrosoft.com"`)
	}
	if !guidRE().MatchString(p.Tenant) && !domainRE().MatchString(p.Tenant) && p.Tenant != "organizations" {
		return fail(loc(base+".tenant"), base+".tenant", "use the tenant ID (a GUID) or a verified domain; `az account show --query tenantId` prints the ID",
			"%s.tenant: %q is neither a tenant ID nor a domain", base, p.Tenant)
	}
	if err := validateLogin(p, base, loc, fail); err != nil {
		return err
	}
	p.ClientID = strings.TrimSpace(p.ClientID)
	switch {
	case p.ClientID == "" && ownClientID(p.Login):
	case p.ClientID == "":
		return missing("client_id", "set client_id to the Application (client) ID of your public-client app registration (see the README's set-up section)")
	case !guidRE().MatchString(p.ClientID):
		return fail(loc(base+".client_id"), base+".client_id", "copy the Application (client) ID from the app registration's overview page",
			"%s.client_id: %q is not an application ID (a GUID)", base, p.ClientID)
	}
	if len(p.Scopes) == 0 {
		return fail(loc(base+".scopes", base), base+".scopes",
			`set scopes to your API's scope, e.g. ["api://<api-app-id>/.default"]; without it Entra issues a Microsoft Graph token your API must reject`,
			"%s.scopes is required and must name your API", base)
	}
	api := false
	first := "" // the first API scope, for the message
	for _, sc := range p.Scopes {
		sc = strings.TrimSpace(sc)
		if oidcScopes[sc] {
			continue
		}
		if isGraphScope(sc) {
			return fail(loc(base+".scopes"), base+".scopes",
				`use your API's scope, e.g. "api://<api-app-id>/.default"; a Graph scope gets a token for Microsoft Graph, not your API`,
				"%s.scopes: %q is a Microsoft Graph scope, not your API's", base, sc)
		}
		if !namesAPI(sc) {
			return fail(loc(base+".scopes"), base+".scopes",
				`write the scope with its API, e.g. "api://<api-app-id>/.default" or "api://<api-app-id>/access_as_user"`,
				"%s.scopes: %q names no API", base, sc)
		}
		if first != "" && !sameAPI(first, sc) {
			return fail(loc(base+".scopes"), base+".scopes",
				"a token is for one API: keep the scopes of one API in this profile and add another profile for the other",
				"%s.scopes: %q and %q are scopes of two different APIs, which Entra refuses in one request", base, first, sc)
		}
		if first == "" {
			first = sc
		}
		api = true
	}
	if !api {
		return fail(loc(base+".scopes"), base+".scopes",
			`add your API's scope, e.g. "api://<api-app-id>/.default"`,
			"%s.scopes names no API (only sign-in scopes)", base)
	}
	if p.CAFile != "" {
		ca, err := caPath(p.CAFile)
		if err != nil {
			return fail(loc(base+".ca_file"), base+".ca_file", "write the absolute path of a PEM file (~/ is allowed)",
				"%s.ca_file: %s", base, err)
		}
		p.CAFile = ca
	}
	if p.Authority == "" {
		p.Authority = DefaultAuthority
	}
	p.Authority = strings.TrimRight(p.Authority, "/")
	if u, err := url.Parse(p.Authority); err != nil || u.Scheme != "https" || u.Host == "" {
		return fail(loc(base+".authority"), base+".authority", `use the https URL of the cloud, e.g. "https://login.microsoftonline.com"`,
			"%s.authority: %q is not an https URL", base, p.Authority)
	}
	return nil
}

// Sign-in methods: a profile's `login`, which says where its tokens come
// from (auth's credential seam).
const (
	LoginBrowser    = "browser"     // MSAL, PKCE in the browser (the default)
	LoginDeviceCode = "device-code" // MSAL, device code
	LoginAzureCLI   = "azurecli"    // az account get-access-token
	LoginAzd        = "azd"         // azd auth token
	LoginAzureAuth  = "azureauth"   // Microsoft's AzureAuth CLI (azureauth aad)
)

// loginMethods are the valid values of `login`, in the order the hint
// lists them.
var loginMethods = []string{LoginBrowser, LoginDeviceCode, LoginAzureCLI, LoginAzd, LoginAzureAuth,
	LoginCertificate, LoginWorkloadIdentity, LoginManagedIdentity} // the last three: unattended.go

// ownClientID reports whether the sign-in method uses a client ID of its
// own, so that the profile's client_id is optional (and unused): az and
// azd sign in with their own app registrations.
func ownClientID(login string) bool { return login == LoginAzureCLI || login == LoginAzd }

// validateLogin checks (and defaults) the profile's sign-in method.
func validateLogin(p *Profile, base string, loc locFunc, fail failFunc) error {
	p.Login = strings.TrimSpace(p.Login)
	if p.Login == "" {
		p.Login = LoginBrowser
	}
	if slices.Contains(loginMethods, p.Login) {
		return nil
	}
	return fail(loc(base+".login"), base+".login", `use one of "`+strings.Join(loginMethods, `", "`)+`"`,
		"%s.login: unknown sign-in method %q", base, p.Login)
}

// isGraphScope reports whether scope is for Microsoft Graph.
func isGraphScope(scope string) bool {
	l := strings.ToLower(scope)
	return strings.HasPrefix(l, "https://graph.microsoft.com/") || strings.HasPrefix(l, GraphAppID+"/") ||
		strings.HasPrefix(l, "https://graph.microsoft.us/") || strings.HasPrefix(l, "https://microsoftgraph.chinacloudapi.cn/")
}

// sameAPI reports whether two API scopes name the same resource ("api://x"
// and "x" for an application ID count as one).
func sameAPI(a, b string) bool {
	res := func(s string) string {
		s = strings.ToLower(strings.TrimSpace(s))
		s = s[:strings.LastIndex(s, "/")]
		return strings.TrimPrefix(s, "api://")
	}
	return res(a) == res(b)
}

// caPath expands and checks a ca_file path (the file is read when a
// client is built, so that a bundle replaced later is picked up).
func caPath(p string) (string, error) {
	abs, err := expandHome(p)
	if err != nil || !filepath.IsAbs(abs) {
		return "", fmt.Errorf("%q is not absolute", p)
	}
	return abs, nil
}

// namesAPI reports whether scope has a resource part ("api://x/.default",
// "https://host/x", "<guid>/x").
func namesAPI(scope string) bool {
	i := strings.LastIndex(scope, "/")
	if i <= 0 || i == len(scope)-1 {
		return false
	}
	res := scope[:i]
	if guidRE().MatchString(res) {
		return true
	}
	u, err := url.Parse(res)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

// APIResource returns the resource part of the profile's first API scope
// ("api://x" for "api://x/.default"): the audience its tokens must carry.
func (p *Profile) APIResource() string {
	for _, sc := range p.Scopes {
		if !oidcScopes[sc] && namesAPI(sc) {
			return sc[:strings.LastIndex(sc, "/")]
		}
	}
	return ""
}

func validateTarget(t *Target, key string, loc locFunc, fail failFunc) error {
	at := func(k string) where { return loc(key+"."+k, key) }
	allowed, ok := modes[t.Client]
	if !ok {
		w := at("client")
		if t.Client == "" {
			return fail(w, key+".client", "set client to one of: "+strings.Join(Clients, ", "), "%s.client is required", key)
		}
		return fail(w, key+".client", "use one of: "+strings.Join(Clients, ", "), "%s.client: unknown client %q", key, t.Client)
	}
	if t.Mode == "" {
		t.Mode = DefaultMode(allowed, t.URL)
	} else if !contains(allowed, t.Mode) {
		return fail(at("mode"), key+".mode", fmt.Sprintf("%s accepts mode %s", t.Client, strings.Join(allowed, ", ")),
			"%s.mode: %q does not work for %s", key, t.Mode, t.Client)
	}
	if t.Mode == "proxy" && t.URL == "" {
		return fail(at("mode"), key+".url", "set url to the MCP server's real URL: the proxy forwards to it",
			"%s: mode proxy needs the server's url", key)
	}
	switch t.Client {
	case "json", "envfile", "file":
		if t.Path == "" {
			return fail(at("path"), key+".path", "set path to the file to write", "%s.path is required for client %s", key, t.Client)
		}
	default:
		if t.Server == "" {
			return fail(at("server"), key+".server", "set server to the MCP server's name in that client's config",
				"%s.server is required for client %s", key, t.Client)
		}
	}
	if t.Path != "" {
		p, err := expandHome(t.Path)
		if err != nil || !filepath.IsAbs(p) {
			return fail(at("path"), key+".path", "write an absolute path (~/ is allowed)", "%s.path: %q is not absolute", key, t.Path)
		}
		t.Path = p
	}
	if t.Project != "" {
		if t.Client != "claude" {
			return fail(at("project"), key+".project", "project is Claude Code's local scope; remove it", "%s.project only applies to client claude", key)
		}
		p, err := expandHome(t.Project)
		if err != nil || !filepath.IsAbs(p) {
			return fail(at("project"), key+".project", "write the project folder as an absolute path", "%s.project: %q is not absolute", key, t.Project)
		}
		t.Project = filepath.Clean(p)
	}
	if t.URL != "" {
		if u, err := url.Parse(t.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return fail(at("url"), key+".url", "write the MCP server's full http(s) URL", "%s.url: %q is not an http(s) URL", key, t.URL)
		}
	}
	if t.Client == "json" {
		if t.Pointer == "" || !strings.HasPrefix(t.Pointer, "/") {
			return fail(at("pointer"), key+".pointer", `write an RFC 6901 pointer, e.g. "/servers/api/headers/Authorization"`,
				"%s.pointer is required for client json and starts with /", key)
		}
	}
	if t.Template == "" {
		t.Template = "Bearer {token}"
	} else if !strings.Contains(t.Template, "{token}") {
		return fail(at("template"), key+".template", `put {token} where the token goes, e.g. "Bearer {token}"`,
			"%s.template has no {token}", key)
	}
	if t.Client == "envfile" {
		if t.Var == "" {
			t.Var = "MCP_TOKEN"
		} else if !varRE().MatchString(t.Var) {
			return fail(at("var"), key+".var", "use letters, digits and _", "%s.var: %q is not a variable name", key, t.Var)
		}
		switch t.Format {
		case "", "sh", "powershell", "dotenv": // "": the OS's default (integrations)
		default:
			return fail(at("format"), key+".format", `use "sh", "powershell" or "dotenv"`, "%s.format: unknown format %q", key, t.Format)
		}
	}
	return nil
}

func expandHome(p string) (string, error) {
	if p == "~" || strings.HasPrefix(p, "~/") || strings.HasPrefix(p, `~\`) {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", err
		}
		return filepath.Join(home, p[1:]), nil
	}
	return filepath.Clean(p), nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
