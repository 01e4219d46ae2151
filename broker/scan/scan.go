// Package scan is `broker scan`: it finds the remote MCP servers already
// configured in every client the broker knows, probes each URL without
// credentials (RFC 9728 protected-resource metadata, then the OpenID
// configuration of its authorization server) and tells which are
// protected by Microsoft Entra ID, with the tenant and scopes a profile
// needs, and what each client holds for them today.
//
// A probe never sends a token; probes run in parallel, each with its own
// timeout, and a server that does not answer is reported, never fatal.
package scan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/discover"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Options configure a scan.
type Options struct {
	// Env locates the clients' files.
	Env integrations.Env
	// ProjectDirs are project folders whose .mcp.json and .vscode/mcp.json
	// are read too (Claude Code's known projects always are).
	ProjectDirs []string
	// HTTPClient sends the probes (nil: http.DefaultClient).
	HTTPClient *http.Client
	// ProbeTimeout bounds each probe (default 10 s).
	ProbeTimeout time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
	// Targets are config.toml's targets (with their profiles): an entry
	// that one of them wires holds the broker's, whatever its file holds
	// now (a header-mode target before the first sign-in holds nothing).
	Targets []config.Target
}

// Holds says what a client's entry holds today for its server.
const (
	HoldsNothing     = "nothing"
	HoldsPasted      = "pasted-token"
	HoldsEnvVar      = "env-var"
	HoldsHelper      = "helper"
	HoldsBroker      = "broker"
	HoldsOtherHeader = "other"
)

// Server is one client's entry for a remote MCP server.
type Server struct {
	Client  string `json:"client"`
	Scope   string `json:"scope"`
	Project string `json:"project,omitempty"`
	Path    string `json:"path"`
	Name    string `json:"server"`
	URL     string `json:"url"`
	// Holds is one of the Holds… words; Detail says more ("expired 3h
	// ago", the variable's name, the helper's command).
	Holds  string `json:"holds"`
	Detail string `json:"detail,omitempty"`
	// ExpiresOn is the pasted token's expiry.
	ExpiresOn *time.Time `json:"expires_on,omitempty"`
	// OtherHeaders are the entry's other headers (a subscription key …).
	OtherHeaders []string `json:"other_headers,omitempty"`
	// Protection is what the probe found at URL.
	Protection Protection `json:"protection"`

	// pasted is the Authorization header's token when Holds is
	// HoldsPasted (never printed: `scan --apply` checks that it is gone).
	pasted token.Secret
}

// Protection is what a probe of one URL found.
type Protection struct {
	// Entra reports whether Microsoft Entra ID protects the server.
	Entra bool `json:"entra"`
	// Authority and Tenant of the Entra authorization server.
	Authority string `json:"authority,omitempty"`
	Tenant    string `json:"tenant,omitempty"`
	// Scopes the broker would ask for; AppIDURI is the API they name.
	Scopes   []string `json:"scopes,omitempty"`
	AppIDURI string   `json:"app_id_uri,omitempty"`
	// Status is the HTTP status of the unauthenticated request (0 when
	// none came back).
	Status int `json:"status"`
	// Note explains why the server is not (known to be) Entra's, or why
	// it could not be probed.
	Note string `json:"note,omitempty"`
}

// Report is the scan's result.
type Report struct {
	Servers []Server `json:"servers"`
	// Problems are the files that could not be read (PATH:LINE:COL: …).
	Problems []string `json:"problems,omitempty"`
}

// Entra returns the servers that Entra ID protects.
func (r Report) Entra() []Server {
	var out []Server
	for _, s := range r.Servers {
		if s.Protection.Entra {
			out = append(out, s)
		}
	}
	return out
}

// Run reads every client's file and probes every URL found, in parallel.
// It blocks until every probe ended or ctx ended.
func Run(ctx context.Context, o Options) Report {
	if o.HTTPClient == nil {
		o.HTTPClient = http.DefaultClient
	}
	if o.ProbeTimeout <= 0 {
		o.ProbeTimeout = 10 * time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	entries, errs := integrations.Entries(o.Env, o.ProjectDirs)
	var r Report
	for _, err := range errs {
		r.Problems = append(r.Problems, err.Error())
	}
	wired := configured(o.Env, o.Targets)
	// probeURL is what to probe for e: its URL, or for the broker's
	// loopback proxy the server it forwards to ("" when unknown).
	probeURL := func(e integrations.Entry) string {
		if !brokerProxy(e.URL) {
			return e.URL
		}
		return wired[entryKey{e.Client, filepath.Clean(e.Path), e.Project, e.Server}].URL
	}
	probes := map[string]*Protection{}
	for _, e := range entries {
		if u := probeURL(e); u != "" {
			probes[u] = nil
		}
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for u := range probes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			pctx, cancel := context.WithTimeout(ctx, o.ProbeTimeout)
			defer cancel()
			p := probe(pctx, o.HTTPClient, u)
			mu.Lock()
			probes[u] = &p
			mu.Unlock()
		}()
	}
	wg.Wait()
	now := o.Now()
	for _, e := range entries {
		s := Server{Client: e.Client, Scope: e.Scope, Project: e.Project, Path: e.Path, Name: e.Server, URL: e.URL,
			OtherHeaders: e.OtherHeaders}
		if p := probes[probeURL(e)]; p != nil {
			s.Protection = *p
		}
		s.Holds, s.Detail, s.ExpiresOn = holds(e, now)
		if s.Holds == HoldsPasted {
			s.pasted = bearerToken(e.Authorization.Reveal())
		}
		if t, ok := wired[entryKey{e.Client, filepath.Clean(e.Path), e.Project, e.Server}]; ok {
			s.Holds, s.Detail, s.ExpiresOn = HoldsBroker, "target of profile "+t.Profile, nil
		}
		r.Servers = append(r.Servers, s)
	}
	sort.SliceStable(r.Servers, func(i, j int) bool {
		a, b := r.Servers[i], r.Servers[j]
		if a.Client != b.Client {
			return a.Client < b.Client
		}
		return a.Path+"\x00"+a.Name < b.Path+"\x00"+b.Name
	})
	return r
}

// entryKey identifies a client's entry: its file, project and name.
type entryKey struct{ client, path, project, server string }

// configured maps the entries that config.toml's targets wire to the
// targets.
func configured(env integrations.Env, targets []config.Target) map[entryKey]config.Target {
	if env.BrokerPath == "" {
		env.BrokerPath = "/broker" // only paths are resolved here
	}
	out := map[entryKey]config.Target{}
	for _, t := range targets {
		// Only the file is wanted: any mode resolves it.
		r := t
		r.Mode, r.URL = "", ""
		tg, err := integrations.New(r, env)
		if err != nil {
			continue
		}
		out[entryKey{t.Client, filepath.Clean(tg.Path()), t.Project, t.Server}] = t
	}
	return out
}

// probe asks url without credentials who protects it.
func probe(ctx context.Context, client *http.Client, url string) Protection {
	res, err := discover.Discover(ctx, client, url)
	var p Protection
	if res != nil {
		p.Status = res.Status
	}
	switch {
	case errors.Is(err, discover.ErrNoMetadata) && res != nil && res.Status >= 200 && res.Status < 300:
		p.Note = "answers without sign-in"
		return p
	case errors.Is(err, discover.ErrNoMetadata):
		p.Note = fmt.Sprintf("HTTP %d and no protected-resource metadata (RFC 9728): not known to be Entra's", res.Status)
		return p
	case err != nil:
		p.Note = "did not answer: " + err.Error()
		return p
	case res.Tenant == "":
		p.Note = "its authorization server is not Entra ID (" + strings.Join(res.Metadata.AuthorizationServers, ", ") + ")"
		return p
	}
	entra, err := discover.CheckEntra(ctx, client, res.Authority, res.Tenant)
	switch {
	case err != nil:
		p.Note = "its authorization server's OpenID configuration could not be read: " + err.Error()
		return p
	case !entra:
		p.Note = "its authorization server " + res.Authority + " is not Entra ID"
		return p
	}
	p.Entra, p.Authority, p.Tenant, p.Scopes = true, res.Authority, res.Tenant, res.Scopes
	if len(res.Scopes) > 0 {
		p.AppIDURI = res.Scopes[0][:strings.LastIndex(res.Scopes[0], "/")]
	} else {
		p.Note = "Entra ID protects it, but its metadata names no API scope: ask the API owner for it"
	}
	return p
}

// brokerProxy reports whether url is the broker's own loopback proxy
// (http://127.0.0.1:PORT/PROFILE/CLIENT/SERVER), which is not probed.
func brokerProxy(u string) bool {
	rest, ok := strings.CutPrefix(u, "http://127.0.0.1:")
	return ok && strings.Count(strings.Trim(rest, "/"), "/") == 3
}

// holds classifies what the entry holds for its server today.
func holds(e integrations.Entry, now time.Time) (what, detail string, exp *time.Time) {
	auth := e.Authorization.Reveal()
	switch {
	case brokerProxy(e.URL):
		return HoldsBroker, "the broker's loopback proxy", nil
	case strings.Contains(e.Helper, "broker") && (strings.Contains(e.Helper, " headers") || strings.Contains(e.Helper, " token")):
		return HoldsBroker, "headers helper: " + e.Helper, nil
	case strings.Contains(e.Command, "broker") && e.Authorization == "":
		return HoldsBroker, "bridge: " + e.Command, nil
	case e.Helper != "":
		return HoldsHelper, e.Helper, nil
	case e.TokenEnvVar != "":
		return HoldsEnvVar, "$" + e.TokenEnvVar, nil
	case strings.Contains(auth, "${") || strings.Contains(auth, "$env:") || strings.Contains(auth, "{env:"):
		return HoldsEnvVar, strings.TrimSpace(strings.TrimPrefix(auth, "Bearer")), nil
	case auth == "":
		return HoldsNothing, "", nil
	}
	raw := bearerToken(auth).Reveal()
	c, err := token.ParseClaims(raw)
	if err != nil || c.Exp == 0 {
		return HoldsOtherHeader, "an Authorization header that is not a JWT", nil
	}
	t := time.Unix(c.Exp, 0)
	if t.After(now) {
		return HoldsPasted, fmt.Sprintf("a pasted token, expires in %s", roundDur(t.Sub(now))), &t
	}
	return HoldsPasted, fmt.Sprintf("a pasted token, expired %s ago", roundDur(now.Sub(t))), &t
}

// bearerToken is the token of an Authorization header's value.
func bearerToken(auth string) token.Secret {
	raw := strings.TrimSpace(auth)
	if len(raw) > 7 && strings.EqualFold(raw[:7], "bearer ") {
		raw = strings.TrimSpace(raw[7:])
	}
	return token.Secret(raw)
}

func roundDur(d time.Duration) string {
	switch {
	case d >= 48*time.Hour:
		return fmt.Sprintf("%dd", int(d.Hours()/24))
	case d >= time.Hour:
		return fmt.Sprintf("%dh", int(d.Hours()))
	case d >= time.Minute:
		return fmt.Sprintf("%dm", int(d.Minutes()))
	}
	return fmt.Sprintf("%ds", int(d.Seconds()))
}
