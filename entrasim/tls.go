package entrasim

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"sync"
	"time"
)

// pki is the simulator's throwaway certificate authority, its TLS leaf for
// 127.0.0.1, ::1 and localhost, and the RSA key that signs tokens.
type pki struct {
	caPEM   []byte
	caPool  *x509.CertPool
	leaf    tls.Certificate
	signKey *rsa.PrivateKey
	// signCert is a self-signed certificate for signKey, published as x5c
	// in the JWKS like Entra does.
	signCert []byte
	kid      string

	rogueOnce sync.Once
	rogue     *tls.Certificate // made on first use: see Server.SetUntrustedCert
	rogueErr  error
}

func newPKI() (*pki, error) {
	now := time.Now()
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating CA key: %w", err)
	}
	sn := serial()
	caTmpl := &x509.Certificate{
		SerialNumber: sn,
		// A name of its own: two simulators' CAs trusted at once (the
		// Windows suite) must not be told apart by their key alone,
		// which Wine's chain engine does not do.
		Subject:               pkix.Name{CommonName: "entrasim test CA " + sn.Text(16), Organization: []string{"mcp-token-broker entrasim"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(7 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating CA certificate: %w", err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("parsing CA certificate: %w", err)
	}

	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generating TLS key: %w", err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(7 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"localhost", WorldwideHost}, // WorldwideHost: see azcli.go
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("creating TLS certificate: %w", err)
	}

	signKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("generating signing key: %w", err)
	}
	signTmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: "accounts.accesscontrol.windows.net"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(365 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	signDER, err := x509.CreateCertificate(rand.Reader, signTmpl, signTmpl, &signKey.PublicKey, signKey)
	if err != nil {
		return nil, fmt.Errorf("creating signing certificate: %w", err)
	}

	p := &pki{
		caPEM:    pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		caPool:   x509.NewCertPool(),
		leaf:     tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
		signKey:  signKey,
		signCert: signDER,
		kid:      thumbprint(signDER),
	}
	p.caPool.AddCert(caCert)
	return p, nil
}

// rogueCert returns a certificate for the same names as the leaf, signed
// by a CA that is in no pool.
func (p *pki) rogueCert() (*tls.Certificate, error) {
	p.rogueOnce.Do(func() {
		other, err := newPKI()
		if err != nil {
			p.rogueErr = err
			return
		}
		p.rogue = &other.leaf
	})
	return p.rogue, p.rogueErr
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 120))
	if err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return n
}

// CACertPEM returns the PEM of the CA that signed the simulator's TLS
// certificate: hand it to clients (SSL_CERT_FILE, NODE_EXTRA_CA_CERTS).
func (s *Server) CACertPEM() []byte { return append([]byte(nil), s.pki.caPEM...) }

// WriteCA writes the CA certificate (PEM) to path, mode 0644.
func (s *Server) WriteCA(path string) error {
	if err := os.WriteFile(path, s.pki.caPEM, 0o644); err != nil {
		return fmt.Errorf("writing CA certificate: %w", err)
	}
	return nil
}

// HTTPClient returns a new client that trusts the simulator's CA and no
// other, and uses no proxy. Clients share one transport (closed with the
// server); changing the returned client does not change the others. It has
// no overall timeout: callers bound requests with their context.
func (s *Server) HTTPClient() *http.Client { return &http.Client{Transport: s.transport} }

// ClientForCA returns an HTTP client that trusts only the CAs in pool (the
// system roots when pool is nil) and uses no proxy.
func ClientForCA(pool *x509.CertPool) *http.Client {
	return &http.Client{Transport: transportForCA(pool)}
}

func transportForCA(pool *x509.CertPool) *http.Transport {
	return &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12},
		ForceAttemptHTTP2:   true,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     30 * time.Second,
		TLSHandshakeTimeout: 10 * time.Second,
	}
}
