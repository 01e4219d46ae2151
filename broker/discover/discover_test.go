package discover

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

func TestDiscoverFromSimulatorMetadata(t *testing.T) {
	t.Parallel()
	sim, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	res, err := Discover(context.Background(), sim.HTTPClient(), sim.MCPURL())
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != http.StatusUnauthorized {
		t.Errorf("status = %d, want 401", res.Status)
	}
	if res.MetadataURL != sim.URL()+"/.well-known/oauth-protected-resource/mcp" {
		t.Errorf("metadata URL = %q", res.MetadataURL)
	}
	if res.Authority != sim.URL() || res.Tenant != sim.TenantID() {
		t.Errorf("authority, tenant = %q, %q; want %q, %q", res.Authority, res.Tenant, sim.URL(), sim.TenantID())
	}
	if d := cmp.Diff([]string{sim.Scope()}, res.Scopes); d != "" {
		t.Errorf("scopes (-want +got):\n%s", d)
	}
	// The simulator's metadata names the MCP URL as resource, as APIM's
	// does: Entra would refuse that as `resource`.
	if !strings.Contains(res.ResourceNote, "AADSTS9010010") || !strings.Contains(res.ResourceNote, sim.APIAudience()) {
		t.Errorf("resource note = %q", res.ResourceNote)
	}
}

func TestResourceNote(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		resource string
		scopes   []string
		want     []string // substrings; none means no note
	}{
		{"api://data", []string{"api://data/.default"}, nil},
		{"API://data/", []string{"api://data/access_as_user"}, nil},
		{"", []string{"api://data/.default"}, nil},
		{"https://contoso.azure-api.net/mcp", []string{"api://data/.default"}, []string{"AADSTS9010010", "verified domain", "*.azure-api.net"}},
		{"https://apim.contoso.com/mcp", []string{"api://data/.default"}, []string{"AADSTS9010010", "verified domain"}},
	} {
		got := resourceNote(tc.resource, tc.scopes)
		if (got == "") != (len(tc.want) == 0) {
			t.Errorf("%q: note %q", tc.resource, got)
		}
		for _, w := range tc.want {
			if !strings.Contains(got, w) {
				t.Errorf("%q: note %q lacks %q", tc.resource, got, w)
			}
		}
		if strings.Contains(got, "azure-api.net host") && !strings.HasSuffix(tc.resource, "azure-api.net/mcp") {
			t.Errorf("%q: note speaks of azure-api.net: %q", tc.resource, got)
		}
	}
}

func TestDiscoverWithoutMetadata(t *testing.T) {
	t.Parallel()
	sim, err := entrasim.Start(entrasim.Options{NoMetadata: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	res, err := Discover(context.Background(), sim.HTTPClient(), sim.MCPURL())
	if !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("err = %v, want ErrNoMetadata", err)
	}
	if res.Status != http.StatusUnauthorized {
		t.Errorf("status = %d", res.Status)
	}
}

// A server that names no resource_metadata but serves the well-known
// document at the root (RFC 9728 §3.1) is found too.
func TestDiscoverWellKnownFallback(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.HandleFunc("/mcp/data", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="apim"`)
		w.WriteHeader(http.StatusUnauthorized)
	})
	mux.HandleFunc("/.well-known/oauth-protected-resource", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"resource":"api://data-api","authorization_servers":["https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/"]}`))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	res, err := Discover(context.Background(), srv.Client(), srv.URL+"/mcp/data")
	if err != nil {
		t.Fatal(err)
	}
	if res.Authority != "https://login.microsoftonline.com" || res.Tenant != "72f988bf-86f1-41af-91ab-2d7cd011db47" {
		t.Errorf("authority, tenant = %q, %q", res.Authority, res.Tenant)
	}
	if d := cmp.Diff([]string{"api://data-api/.default"}, res.Scopes); d != "" {
		t.Errorf("scopes: %s", d)
	}
}

func TestResourceMetadataParam(t *testing.T) {
	t.Parallel()
	cases := map[string]string{
		`Bearer resource_metadata="https://a/.well-known/x"`:                                                 "https://a/.well-known/x",
		`Bearer error="invalid_token", error_description="expired, really", resource_metadata="https://b/m"`: "https://b/m",
		`Basic realm="x", Bearer resource_metadata=https://c/m`:                                              "https://c/m",
		`Basic resource_metadata="https://nope"`:                                                             "",
		`Bearer realm="a\"b", resource_metadata="https://d/m"`:                                               "https://d/m",
		``: "",
	}
	for h, want := range cases {
		if got := resourceMetadataParam([]string{h}); got != want {
			t.Errorf("%s: got %q, want %q", h, got, want)
		}
	}
}
