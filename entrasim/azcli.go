package entrasim

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"
)

// What the real Azure CLI (az, MSAL Python inside) needs of the simulator
// to sign in against it as a custom cloud (`az cloud register
// --endpoint-active-directory URL()`, `--endpoint-resource-manager
// URL()+"/"`, `--endpoint-active-directory-resource-id APIAudience()`), so
// that its tokens are the API's:
//
//   - MSAL Python asks Microsoft's instance discovery
//     (https://login.microsoftonline.com/common/discovery/instance, a fixed
//     host: msal/authority.py WORLD_WIDE) about any authority it does not
//     know, and az 2.45 cannot turn that off; it also asks about
//     login.microsoftonline.com itself when a refresh token fails (for the
//     aliases of the account's authority). The simulator answers it
//     under its own host and under WorldwideHost (its TLS certificate names
//     it); StartWorldwideProxy gives an HTTPS proxy (for HTTPS_PROXY, with
//     NO_PROXY=127.0.0.1) that tunnels WorldwideHost:443, and nothing else,
//     to the simulator.
//   - `az login --tenant T --allow-no-subscriptions` lists the
//     subscriptions of the tenant (GET {arm}/subscriptions): there are
//     none, so az keeps a tenant-level account. GET {arm}/tenants answers
//     the one tenant.

// WorldwideHost is the host of Microsoft's instance discovery, which the
// simulator's certificate also names.
const WorldwideHost = "login.microsoftonline.com"

// azureCLIRoutes adds the endpoints above to mux.
func (s *Server) azureCLIRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /common/discovery/instance", s.logged(s.handleInstanceDiscovery))
	mux.HandleFunc("GET /subscriptions", s.logged(s.handleSubscriptions))
	mux.HandleFunc("GET /tenants", s.logged(s.handleTenants))
}

// handleInstanceDiscovery answers like Entra for an authorize endpoint of
// the simulator (any tenant it knows): the tenant's OpenID configuration,
// and the simulator's host as the one alias.
func (s *Server) handleInstanceDiscovery(w http.ResponseWriter, r *http.Request) {
	ae := r.URL.Query().Get("authorization_endpoint")
	u, err := url.Parse(ae)
	self, _ := url.Parse(s.url)
	parts := strings.Split(strings.Trim(u.Path, "/"), "/")
	if err == nil && strings.EqualFold(u.Hostname(), WorldwideHost) && len(parts) >= 1 {
		// MSAL Python asks about Microsoft's own cloud too, for the
		// aliases of a cached account's authority (after a refresh
		// token fails, before it reports the error): Entra's answer.
		writeJSON(w, http.StatusOK, map[string]any{
			"tenant_discovery_endpoint": "https://" + WorldwideHost + "/" + parts[0] + "/v2.0/.well-known/openid-configuration",
			"api-version":               "1.1",
			"metadata": []map[string]any{{
				"preferred_network": WorldwideHost, "preferred_cache": "login.windows.net",
				"aliases": []string{WorldwideHost, "login.windows.net", "login.microsoft.com", "sts.windows.net"},
			}},
		})
		return
	}
	// MSAL Python sends the authority's hostname without its port.
	if err != nil || u.Hostname() != self.Hostname() || len(parts) < 1 {
		writeJSON(w, http.StatusBadRequest, map[string]any{"error": "invalid_instance",
			"error_description": "AADSTS50049: Unknown or invalid instance.", "error_codes": []int{50049}})
		return
	}
	if _, ok := s.resolveTenant(parts[0]); !ok {
		newAADError(90002, "invalid_tenant", parts[0]).write(w, r.Header.Get("client-request-id"))
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"tenant_discovery_endpoint": s.url + "/" + parts[0] + "/v2.0/.well-known/openid-configuration",
		"api-version":               "1.1",
		"metadata": []map[string]any{{
			"preferred_network": self.Host, "preferred_cache": self.Host, "aliases": []string{self.Host},
		}},
	})
}

// handleSubscriptions: the tenant has no subscription (ARM's list shape).
func (s *Server) handleSubscriptions(w http.ResponseWriter, r *http.Request) {
	if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer ") {
		writeJSON(w, http.StatusUnauthorized, map[string]any{"error": map[string]string{
			"code": "AuthenticationFailed", "message": "Authentication failed. The 'Authorization' header is missing."}})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"value": []any{}, "count": map[string]any{"type": "Total", "value": 0}})
}

// handleTenants lists the simulator's tenant (ARM's list shape).
func (s *Server) handleTenants(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"value": []map[string]any{{
		"id": "/tenants/" + s.opts.TenantID, "tenantId": s.opts.TenantID, "tenantCategory": "Home",
		"displayName": "entrasim", "defaultDomain": s.opts.TenantDomain, "domains": []string{s.opts.TenantDomain},
	}}})
}

// WorldwideProxy is a running proxy of StartWorldwideProxy.
type WorldwideProxy struct {
	srv *http.Server
	url string
	wg  sync.WaitGroup
}

// URL is the proxy's http:// URL, for HTTPS_PROXY.
func (p *WorldwideProxy) URL() string { return p.url }

// Close stops the proxy and its tunnels.
func (p *WorldwideProxy) Close() error {
	err := p.srv.Close()
	p.wg.Wait()
	return err
}

// StartWorldwideProxy starts an HTTP proxy on 127.0.0.1 that answers
// CONNECT WorldwideHost:443 with a tunnel to the simulator, and refuses
// every other destination (the tests have no internet, and nothing may
// reach it by mistake).
func (s *Server) StartWorldwideProxy() (*WorldwideProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("listening for the proxy: %w", err)
	}
	p := &WorldwideProxy{url: "http://" + ln.Addr().String()}
	target := s.ln.Addr().String()
	p.srv = &http.Server{ReadHeaderTimeout: 10 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodConnect || r.Host != WorldwideHost+":443" {
			http.Error(w, "entrasim proxy: only CONNECT "+WorldwideHost+":443", http.StatusForbidden)
			return
		}
		up, err := (&net.Dialer{Timeout: 5 * time.Second}).DialContext(r.Context(), "tcp", target)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		hj, ok := w.(http.Hijacker)
		if !ok {
			up.Close()
			http.Error(w, "no hijacking", http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
		down, buf, err := hj.Hijack()
		if err != nil {
			up.Close()
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			splice(down, buf, up)
		}()
	})}
	go func() {
		if err := p.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("entrasim proxy", "err", err)
		}
	}()
	return p, nil
}

// splice copies both ways until either side closes.
func splice(down net.Conn, buffered io.Reader, up net.Conn) {
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _, _ = io.Copy(up, buffered); cancel() }()
	go func() { _, _ = io.Copy(down, up); cancel() }()
	<-ctx.Done()
	down.Close()
	up.Close()
}
