// Package discover reads an MCP server's OAuth protected-resource metadata
// (RFC 9728) and proposes the broker profile that gets a token for it from
// Entra ID.
package discover

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/challenge"
)

// Metadata is RFC 9728 protected-resource metadata (the fields we use).
type Metadata struct {
	Resource               string   `json:"resource"`
	AuthorizationServers   []string `json:"authorization_servers"`
	ScopesSupported        []string `json:"scopes_supported"`
	BearerMethodsSupported []string `json:"bearer_methods_supported"`
	ResourceName           string   `json:"resource_name"`
}

// Result is what discovery found and what it proposes.
type Result struct {
	// URL is the MCP server that was asked.
	URL string
	// Status is the HTTP status of the unauthenticated request.
	Status int
	// MetadataURL is where the metadata was read (empty when none).
	MetadataURL string
	Metadata    Metadata
	// Authority and Tenant are derived from the first Entra authorization
	// server ("https://login.microsoftonline.com", "<tenant>").
	Authority string
	Tenant    string
	// Scopes are the scopes the broker should ask for.
	Scopes []string
	// ResourceNote explains Entra's rule for RFC 8707 `resource` when the
	// metadata's resource is not the API's Application ID URI ("" when it
	// is, or when there is nothing to say).
	ResourceNote string
}

// ErrNoMetadata means the server published no protected-resource metadata.
var ErrNoMetadata = errors.New("the server publishes no OAuth protected-resource metadata (RFC 9728)")

// Discover sends an unauthenticated MCP initialize to serverURL, reads the
// resource_metadata link of the 401's WWW-Authenticate header (or the
// well-known locations of RFC 9728 §3.1), fetches the metadata and derives
// an Entra tenant and scopes from it. It blocks until done or ctx ends.
func Discover(ctx context.Context, client *http.Client, serverURL string) (*Result, error) {
	u, err := url.Parse(serverURL)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return nil, fmt.Errorf("%q is not an http(s) URL", serverURL)
	}
	if client == nil {
		client = http.DefaultClient
	}
	res := &Result{URL: serverURL}
	body := `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"mcp-token-broker-discover","version":"1"}}}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, serverURL, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("cannot reach the MCP server: %w", err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	res.Status = resp.StatusCode

	var candidates []string
	if link := resourceMetadataParam(resp.Header.Values("WWW-Authenticate")); link != "" {
		ref, err := u.Parse(link)
		if err == nil {
			candidates = append(candidates, ref.String())
		}
	}
	candidates = append(candidates, wellKnown(u)...)
	for _, c := range candidates {
		md, err := fetchMetadata(ctx, client, c)
		if err != nil {
			continue
		}
		res.MetadataURL = c
		res.Metadata = *md
		break
	}
	if res.MetadataURL == "" {
		return res, ErrNoMetadata
	}
	res.Authority, res.Tenant = entraAuthority(res.Metadata.AuthorizationServers)
	res.Scopes = apiScopes(res.Metadata)
	res.ResourceNote = resourceNote(res.Metadata.Resource, res.Scopes)
	return res, nil
}

// resourceNote explains why a client that sends the metadata's resource
// as RFC 8707 `resource` fails against Entra: since 2026 Entra v2 accepts
// `resource` only when it equals an Application ID URI of the API whose
// scopes are asked for (else AADSTS9010010; AADSTS901002 before, for any
// `resource`), and an https:// Application ID URI must be on a verified
// domain of the tenant, which APIM's *.azure-api.net hosts never are.
func resourceNote(resource string, scopes []string) string {
	if resource == "" || len(scopes) == 0 {
		return ""
	}
	api := scopes[0][:strings.LastIndex(scopes[0], "/")]
	if strings.EqualFold(strings.TrimSuffix(resource, "/"), strings.TrimSuffix(api, "/")) {
		return ""
	}
	note := fmt.Sprintf("the metadata's resource %s is not the API's Application ID URI %s: Entra refuses it as the RFC 8707 `resource` parameter (AADSTS9010010), so MCP clients that send it cannot sign in natively; broker never sends `resource` and asks for the API's scope instead", resource, api)
	if u, err := url.Parse(resource); err == nil && u.Scheme == "https" {
		note += "; an https:// Application ID URI must be on a verified domain of the tenant"
		if strings.HasSuffix(strings.ToLower(u.Hostname()), ".azure-api.net") {
			note += ", which API Management's default *.azure-api.net host can never be (use a custom domain for APIM, or api:// URIs)"
		}
	}
	return note
}

// wellKnown lists RFC 9728's well-known metadata URLs for u: with the path
// inserted after the well-known segment, then at the root.
func wellKnown(u *url.URL) []string {
	base := u.Scheme + "://" + u.Host + "/.well-known/oauth-protected-resource"
	p := strings.TrimSuffix(u.EscapedPath(), "/")
	if p == "" {
		return []string{base}
	}
	return []string{base + p, base}
}

func fetchMetadata(ctx context.Context, client *http.Client, mdURL string) (*Metadata, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, mdURL, nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: HTTP %d", mdURL, resp.StatusCode)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "" && mt != "application/json" {
		return nil, fmt.Errorf("%s: content type %s", mdURL, mt)
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	var md Metadata
	if err := json.NewDecoder(bytes.NewReader(data)).Decode(&md); err != nil {
		return nil, fmt.Errorf("%s: %w", mdURL, err)
	}
	if len(md.AuthorizationServers) == 0 && md.Resource == "" {
		return nil, fmt.Errorf("%s: no resource and no authorization servers", mdURL)
	}
	return &md, nil
}

// resourceMetadataParam returns the resource_metadata parameter of a Bearer
// challenge.
func resourceMetadataParam(headers []string) string {
	return challenge.Param(headers, "resource_metadata")
}

// entraAuthority splits an Entra authorization server URL
// ("https://login.microsoftonline.com/<tenant>/v2.0") into authority host
// and tenant. It returns empty strings when none fits.
func entraAuthority(servers []string) (authority, tenant string) {
	for _, s := range servers {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "https" || u.Host == "" {
			continue
		}
		parts := strings.Split(strings.Trim(u.Path, "/"), "/")
		if len(parts) == 0 || parts[0] == "" {
			continue
		}
		// sts.windows.net/<tenant>/ is the v1 issuer form.
		if u.Host == "sts.windows.net" {
			return "https://login.microsoftonline.com", parts[0]
		}
		return u.Scheme + "://" + u.Host, parts[0]
	}
	return "", ""
}

// apiScopes picks the scopes to ask Entra for: the metadata's scopes that
// name an API, else "<resource>/.default" when the resource is an API URI.
func apiScopes(md Metadata) []string {
	var out []string
	for _, s := range md.ScopesSupported {
		if i := strings.LastIndex(s, "/"); i > 0 && i < len(s)-1 {
			out = append(out, s)
		}
	}
	if len(out) == 0 && strings.HasPrefix(md.Resource, "api://") {
		out = []string{strings.TrimSuffix(md.Resource, "/") + "/.default"}
	}
	return out
}

// EntraConfig is what an authorization server's OpenID configuration says
// about it.
type EntraConfig struct {
	Issuer        string `json:"issuer"`
	TokenEndpoint string `json:"token_endpoint"`
	// Entra's own members: no other OpenID provider publishes them.
	CloudInstanceName string `json:"cloud_instance_name"`
	MSGraphHost       string `json:"msgraph_host"`
}

// CheckEntra reads the OpenID configuration of authority/tenant (the v2.0
// endpoint) and reports whether it is Microsoft Entra ID: Entra publishes
// cloud_instance_name and msgraph_host, and its token endpoint is
// …/oauth2/v2.0/token. It blocks until done or ctx ends.
func CheckEntra(ctx context.Context, client *http.Client, authority, tenant string) (bool, error) {
	if client == nil {
		client = http.DefaultClient
	}
	u := strings.TrimSuffix(authority, "/") + "/" + url.PathEscape(tenant) + "/v2.0/.well-known/openid-configuration"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return false, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return false, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Errorf("%s: HTTP %d", u, resp.StatusCode)
	}
	var c EntraConfig
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&c); err != nil {
		return false, fmt.Errorf("%s: %w", u, err)
	}
	return c.CloudInstanceName != "" && c.MSGraphHost != "" && strings.HasSuffix(c.TokenEndpoint, "/oauth2/v2.0/token"), nil
}
