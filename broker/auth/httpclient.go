package auth

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

// maxCABundle bounds a ca_file: a bundle of every public root is ~250 KB.
const maxCABundle = 4 << 20

// Transport returns the HTTP transport for profile p of cfg: the default
// one (proxy from the environment, HTTP/2) with a bounded dial, trusting
// the system's roots plus the PEM bundle of the profile's ca_file (else
// settings.ca_file). A private CA or a TLS-inspecting proxy's CA thus
// works even where SSL_CERT_FILE is stripped (MCP clients start bridges
// and helpers without it). Errors are *Error of ClassMisconfigured.
func Transport(cfg *config.Config, p *config.Profile) (*http.Transport, error) {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DialContext = (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	path := ""
	if cfg != nil {
		path = cfg.CABundle(p)
	}
	if path == "" {
		return t, nil
	}
	pool, err := caPool(path)
	if err != nil {
		return nil, &Error{Class: ClassMisconfigured, Message: err.Error(),
			Hint: "set ca_file in config.toml to a PEM file of your proxy's or company's CA (`broker help config`)", Err: err}
	}
	t.TLSClientConfig = t.TLSClientConfig.Clone()
	if t.TLSClientConfig == nil {
		t.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	t.TLSClientConfig.RootCAs = pool
	return t, nil
}

// HTTPClient is Transport in a client with a 60 s timeout: what sign-in,
// refresh, doctor and the proxy use to talk to the authority and to MCP
// servers.
func HTTPClient(cfg *config.Config, p *config.Profile) (*http.Client, error) {
	t, err := Transport(cfg, p)
	if err != nil {
		return nil, err
	}
	return &http.Client{Transport: t, Timeout: 60 * time.Second}, nil
}

// caPool is the system's roots plus the certificates of the PEM file.
func caPool(path string) (*x509.CertPool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading ca_file %s: %w", path, unwrapPath(err))
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("reading ca_file %s: %w", path, err)
	}
	if !fi.Mode().IsRegular() || fi.Size() > maxCABundle {
		return nil, fmt.Errorf("ca_file %s is not a regular file of at most %d MB", path, maxCABundle>>20)
	}
	pem, err := io.ReadAll(io.LimitReader(f, maxCABundle))
	if err != nil {
		return nil, fmt.Errorf("reading ca_file %s: %w", path, err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil || pool == nil {
		pool = x509.NewCertPool()
	}
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("ca_file %s holds no PEM certificate", path)
	}
	return pool, nil
}

func unwrapPath(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
