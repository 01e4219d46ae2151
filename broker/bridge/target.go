package bridge

import (
	"fmt"
	"sort"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
)

// Resolve finds what `broker bridge` forwards to: with url, that URL and
// the named profile ("" = the only one); else the profile and URL of the
// target whose server is name (in the named profile, when given). The
// errors are *config.Error with a hint: no such server, a target without
// a url, several targets of that name that differ.
func Resolve(cfg *config.Config, name, url, profile string) (*config.Profile, string, error) {
	if url != "" {
		p, err := engine.SelectProfile(cfg, profile)
		return p, url, err
	}
	var found []config.Target
	servers := map[string]bool{}
	for _, pn := range cfg.ProfileNames() {
		if profile != "" && pn != profile {
			continue
		}
		for _, t := range cfg.Profiles[pn].Targets {
			if t.Server == "" {
				continue
			}
			servers[t.Server] = true
			if t.Server == name {
				t.Profile = pn
				found = append(found, t)
			}
		}
	}
	var withURL []config.Target
	for _, t := range found {
		if t.URL != "" {
			withURL = append(withURL, t)
		}
	}
	switch {
	case len(found) == 0:
		known := make([]string, 0, len(servers))
		for s := range servers {
			known = append(known, s)
		}
		sort.Strings(known)
		hint := "no target names a server; add one with `broker connect CLIENT --server NAME --url URL`"
		if len(known) > 0 {
			hint = "known servers: " + strings.Join(known, ", ")
		}
		return nil, "", &config.Error{Path: cfg.Path, Message: fmt.Sprintf("no target has the server name %q", name), Hint: hint}
	case len(withURL) == 0:
		return nil, "", &config.Error{Path: cfg.Path, Message: fmt.Sprintf("the target of server %q has no url", name),
			Hint: "add `url = \"https://…/mcp\"` to the target, or run `broker bridge --url URL`"}
	}
	first := withURL[0]
	for _, t := range withURL[1:] {
		if t.URL != first.URL || t.Profile != first.Profile {
			return nil, "", &config.Error{Path: cfg.Path, Message: fmt.Sprintf("several targets named %q differ (profiles %s and %s)", name, first.Profile, t.Profile),
				Hint: "name the profile with --profile"}
		}
	}
	return cfg.Profiles[first.Profile], first.URL, nil
}
