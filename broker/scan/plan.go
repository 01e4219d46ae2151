package scan

import (
	"fmt"
	"net"
	"net/url"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Plan is what `broker scan --apply` proposes for a scan's report: one
// profile per API (the entries that share authority, tenant and scopes
// share one; a profile of config.toml that already matches is reused)
// and one target per client entry, in the client's default mode.
type Plan struct {
	// Profiles are the profiles the targets use, the new ones to be
	// appended to config.toml.
	Profiles []PlannedProfile
	// Targets are the entries to wire, each with its profile.
	Targets []PlannedTarget
	// Skipped are the Entra-protected entries left as they are, and why.
	Skipped []Skipped
}

// PlannedProfile is a profile the plan's targets use.
type PlannedProfile struct {
	Profile config.Profile
	// New reports that config.toml does not have it yet.
	New bool
}

// PlannedTarget is one client entry to wire.
type PlannedTarget struct {
	// Target is config.toml's target for the entry (Mode empty: the
	// client's default).
	Target config.Target
	// Entry is the entry as the scan found it.
	Entry Server
	// Replace reports that the entry holds a pasted token that the
	// wiring takes out of the file (the broker adopts it: see
	// delivery.Target.Adopt).
	Replace bool
}

// Skipped is an Entra-protected entry that the plan leaves alone.
type Skipped struct {
	Entry Server
	Why   string
}

// Empty reports whether the plan changes nothing.
func (p Plan) Empty() bool { return len(p.Targets) == 0 }

// ClientIDError is a plan that needs a new profile for a tenant of which
// config.toml has no profile to take the app registration from.
type ClientIDError struct {
	// Tenants are the tenants that need one.
	Tenants []string
}

func (e *ClientIDError) Error() string {
	return "a new profile needs the application (client) ID of your public-client app registration in tenant " +
		strings.Join(e.Tenants, ", ")
}

// HintText says where to find it.
func (e *ClientIDError) HintText() string {
	return "pass --client-id ID: Entra admin center > App registrations > your app > Overview > " +
		"Application (client) ID (the app needs the \"Mobile and desktop applications\" platform with redirect URI http://localhost)"
}

// Propose makes the plan for r. cfg is the current configuration (nil:
// none yet); clientID is --client-id ("": the client ID of a profile of
// the same tenant, else a *ClientIDError); env locates the clients'
// default files. It reads and writes nothing.
func Propose(r Report, cfg *config.Config, clientID string, env integrations.Env) (Plan, error) {
	if env.BrokerPath == "" {
		env.BrokerPath = "/broker" // only paths are resolved here
	}
	var plan Plan
	type api struct {
		authority, tenant string
		scopes            []string
		entries           []Server
	}
	groups := map[string]*api{}
	var keys []string
	for _, s := range r.Entra() {
		switch {
		case s.Holds == HoldsBroker:
			continue
		case len(s.Protection.Scopes) == 0:
			plan.Skipped = append(plan.Skipped, Skipped{s, "its metadata names no API scope: ask the API owner for it, then `broker connect`"})
			continue
		}
		scopes := slices.Clone(s.Protection.Scopes)
		sort.Strings(scopes)
		a := authority(s.Protection.Authority)
		k := a + "\x00" + strings.ToLower(s.Protection.Tenant) + "\x00" + strings.Join(scopes, " ")
		g := groups[k]
		if g == nil {
			g = &api{authority: a, tenant: s.Protection.Tenant, scopes: s.Protection.Scopes}
			groups[k] = g
			keys = append(keys, k)
		}
		g.entries = append(g.entries, s)
	}
	sort.Strings(keys)
	var profiles []*config.Profile
	if cfg != nil {
		for _, n := range cfg.ProfileNames() {
			profiles = append(profiles, cfg.Profiles[n])
		}
	}
	taken := map[string]bool{}
	// used are the targets' names per profile: config.toml holds one
	// target per profile, client and server name.
	used := map[string]bool{}
	for _, p := range profiles {
		taken[p.Name] = true
		for _, t := range p.Targets {
			used[p.Name+"\x00"+t.Client+"\x00"+t.Server] = true
		}
	}
	var missing []string
	for _, k := range keys {
		g := groups[k]
		var prof config.Profile
		isNew := false
		if i := slices.IndexFunc(profiles, func(p *config.Profile) bool {
			return authority(p.Authority) == g.authority && strings.EqualFold(p.Tenant, g.tenant) && sameSet(p.Scopes, g.scopes)
		}); i >= 0 {
			prof = *profiles[i]
			prof.Targets = nil
		} else {
			id := clientID
			if id == "" {
				if i := slices.IndexFunc(profiles, func(p *config.Profile) bool {
					return authority(p.Authority) == g.authority && strings.EqualFold(p.Tenant, g.tenant) && p.ClientID != ""
				}); i >= 0 {
					id = profiles[i].ClientID
				}
			}
			if id == "" && !slices.Contains(missing, g.tenant) {
				missing = append(missing, g.tenant)
			}
			prof = config.Profile{Name: profileName(g.scopes[0], g.entries[0].URL, taken), Tenant: g.tenant, ClientID: id, Scopes: g.scopes}
			if g.authority != config.DefaultAuthority {
				prof.Authority = g.authority
			}
			taken[prof.Name] = true
			isNew = true
		}
		n := len(plan.Targets)
		for _, s := range g.entries {
			if k := prof.Name + "\x00" + s.Client + "\x00" + s.Name; used[k] {
				plan.Skipped = append(plan.Skipped, Skipped{s, fmt.Sprintf(
					"profile %s has a %s target named %s already (config.toml holds one per client and server name): "+
						"wire this one with a profile of its own (`broker connect %s --server %s --path %s --profile OTHER`)",
					prof.Name, s.Client, s.Name, s.Client, s.Name, s.Path)})
				continue
			} else {
				used[k] = true
			}
			t := config.Target{Client: s.Client, Server: s.Name, URL: s.URL, Profile: prof.Name}
			if s.Scope == "local" {
				t.Project = s.Project
			}
			if s.Scope == "project" || !defaultFile(t, env, s.Path) {
				t.Path = s.Path
			}
			plan.Targets = append(plan.Targets, PlannedTarget{Target: t, Entry: s, Replace: s.Holds == HoldsPasted})
		}
		// A new profile always has a target (its first entry); a reused
		// one is listed only when the plan gives it one.
		if len(plan.Targets) > n {
			plan.Profiles = append(plan.Profiles, PlannedProfile{Profile: prof, New: isNew})
		}
	}
	if len(missing) > 0 {
		return plan, &ClientIDError{Tenants: missing}
	}
	return plan, nil
}

// defaultFile reports whether path is the target's default file.
func defaultFile(t config.Target, env integrations.Env, path string) bool {
	t.URL = ""
	tg, err := integrations.New(t, env)
	return err == nil && filepath.Clean(tg.Path()) == filepath.Clean(path)
}

// authority is an authority as config.toml's profiles compare ("" is the
// public cloud's).
func authority(a string) string {
	a = strings.TrimRight(a, "/")
	if a == "" {
		return config.DefaultAuthority
	}
	return strings.ToLower(a)
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	sort.Strings(a)
	sort.Strings(b)
	return slices.Equal(a, b)
}

var (
	guidPrefix = sync.OnceValue(func() *regexp.Regexp {
		return regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	})
	notNameChars = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`[^a-z0-9_]+`) })
)

// profileName names the profile of an API after its Application ID URI
// (the scope without its last part): api://data-platform is
// "data-platform", https://contoso.com/data-api "data-api"; an App ID URI
// that is a GUID (api://<app id>) names nothing, so the server's host
// does ("contoso-apim" of contoso-apim.azure-api.net). The name never
// clashes with one in taken: it gets -2, -3… instead.
func profileName(scope, serverURL string, taken map[string]bool) string {
	appID := scope
	if i := strings.LastIndex(scope, "/"); i > 0 {
		appID = scope[:i]
	}
	// The path's parts, last first, then the host's first label.
	_, rest, _ := strings.Cut(appID, "://")
	parts := strings.Split(strings.Trim(rest, "/"), "/")
	words := append([]string{}, parts[1:]...)
	slices.Reverse(words)
	words = append(words, hostLabel(parts[0]))
	name := ""
	for _, w := range words {
		if w != "" && !guidPrefix().MatchString(w) {
			if name = cleanName(w); name != "" {
				break
			}
		}
	}
	if name == "" {
		if u, err := url.Parse(serverURL); err == nil {
			name = cleanName(hostLabel(u.Hostname()))
		}
	}
	if name == "" {
		name = "api"
	}
	if !taken[name] {
		return name
	}
	for n := 2; ; n++ {
		if c := name + "-" + strconv.Itoa(n); !taken[c] {
			return c
		}
	}
}

// hostLabel is a host's first label ("" for an IP address).
func hostLabel(host string) string {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if net.ParseIP(host) != nil || host == "localhost" {
		return ""
	}
	label, _, _ := strings.Cut(host, ".")
	return label
}

// cleanName makes s a profile name: lower case letters, digits, - and _,
// starting with a letter.
func cleanName(s string) string {
	s = strings.ToLower(strings.ReplaceAll(s, "-", "_"))
	s = strings.Trim(notNameChars().ReplaceAllString(s, "_"), "_")
	s = strings.ReplaceAll(s, "_", "-")
	if s == "" {
		return ""
	}
	if c := s[0]; c < 'a' || c > 'z' {
		s = "api-" + s
	}
	return s
}

// String is the target as the plan prints it: "claude data (~/.claude.json)".
func (t PlannedTarget) String() string {
	return fmt.Sprintf("%s %s", t.Target.Client, t.Target.Server)
}
