package entrasim

import (
	"fmt"
	"slices"
	"strings"
)

// Delegated scopes and consent, as Entra keeps them.
//
// The API's registration exposes several delegated scopes
// (Options.APIScopes: access_as_user, Tools.Write and Tools.Admin by
// default). The
// user has consented to access_as_user only (an admin consented to the
// app's static permissions). A token request that names a scope nobody
// consented to is an interactive matter: the refresh_token grant fails
// with AADSTS65001 (invalid_grant, suberror consent_required), while an
// interactive sign-in (authorization code, device code) asks the user,
// who consents. An access token's scp holds every scope consented to for
// the API, whichever were asked for (Entra's behaviour), so a consent
// given meanwhile (GrantConsent, an admin's) reaches the next token.
//
// RequireScope makes the MCP endpoint's tool calls demand a scope: a valid
// token without it gets 403 and
//
//	WWW-Authenticate: Bearer error="insufficient_scope", scope="<App ID URI>/<scope>"
//
// (RFC 6750 §3.1, the MCP authorization spec's scope challenge).

// DefaultAPIScopes are the API's delegated scopes by default.
var DefaultAPIScopes = []string{"access_as_user", "Tools.Write", "Tools.Admin"}

// APIScope is the full name of one of the API's scopes (App ID URI/name).
func (s *Server) APIScope(name string) string { return s.opts.APIAudience + "/" + name }

// GrantConsent consents to the API's scopes for the user, as an admin
// granting consent in the portal does. Unknown names are an error.
func (s *Server) GrantConsent(names ...string) error {
	for _, n := range names {
		if s.exposed(n) == "" {
			return fmt.Errorf("entrasim: the API exposes no scope %q", n)
		}
	}
	s.consent(names)
	return nil
}

// RequireScope makes the MCP endpoint's tool calls demand one of the
// API's scopes (by name, such as "Tools.Write"), or a full scope of
// another API ("api://other/Files.Read", which no token of this API
// carries: a misconfigured server); "" stops it.
func (s *Server) RequireScope(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requiredScope = name
}

// exposed returns the API's scope named name (its own spelling), "" when
// the API exposes none of that name.
func (s *Server) exposed(name string) string {
	for _, sc := range s.opts.APIScopes {
		if strings.EqualFold(sc, name) {
			return sc
		}
	}
	return ""
}

// consent records the user's consent to the API's scopes names.
func (s *Server) consent(names []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.consented == nil {
		s.consented = map[string]bool{}
	}
	for _, n := range names {
		if sc := s.exposed(n); sc != "" {
			s.consented[sc] = true
		}
	}
}

// notConsented returns the names among names the user has not consented to.
func (s *Server) notConsented(names []string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, n := range names {
		if sc := s.exposed(n); !s.consented[sc] {
			out = append(out, n)
		}
	}
	return out
}

// consentedScopes is the scp of an API token: every consented scope, in
// the registration's order.
func (s *Server) consentedScopes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, sc := range s.opts.APIScopes {
		if s.consented[sc] {
			out = append(out, sc)
		}
	}
	return out
}

// scopeCheck applies RequireScope to a tool call with a token whose scp
// is scp: the WWW-Authenticate challenge of the 403 ("" when the token
// passes) and why.
func (s *Server) scopeCheck(scp string) (challenge, reason string) {
	s.mu.Lock()
	need := s.requiredScope
	s.mu.Unlock()
	full := need
	if !strings.Contains(need, "/") {
		full = s.APIScope(need)
		if slices.ContainsFunc(strings.Fields(scp), func(v string) bool { return strings.EqualFold(v, need) }) {
			return "", ""
		}
	}
	if need == "" {
		return "", ""
	}
	params := []string{`error="insufficient_scope"`, fmt.Sprintf("scope=%q", full)}
	if !s.opts.NoMetadata {
		params = append(params, fmt.Sprintf("resource_metadata=%q", s.ResourceMetadataURL()))
	}
	params = append(params, fmt.Sprintf(`error_description="the tool needs scope %s"`, need))
	return "Bearer " + strings.Join(params, ", "), "scope " + need + " required"
}
