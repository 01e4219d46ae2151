package main

import (
	"bytes"
	"context"
	"crypto/x509"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestServe(t *testing.T) {
	ca := filepath.Join(t.TempDir(), "ca.pem")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"serve", "--addr", "127.0.0.1:0", "--ca-out", ca, "--lifetime", "65m"}, &out, io.Discard)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Ctrl-C") {
		if time.Now().After(deadline) {
			t.Fatalf("serve printed no banner: %q", out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	text := out.String()
	for _, want := range []string{"[profiles.sim]", `scopes = ["api://mcp-demo-api/.default"]`, "export SSL_CERT_FILE=" + ca, "export NODE_EXTRA_CA_CERTS=" + ca, " browse --ca " + ca, "/mcp"} {
		if !strings.Contains(text, want) {
			t.Errorf("banner lacks %q:\n%s", want, text)
		}
	}
	authority := regexp.MustCompile(`authority = "([^"]+)"`).FindStringSubmatch(text)
	tenant := regexp.MustCompile(`tenant = "([^"]+)"`).FindStringSubmatch(text)
	if authority == nil || tenant == nil {
		t.Fatalf("no authority or tenant in:\n%s", text)
	}
	pem, err := os.ReadFile(ca)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	resp, err := entrasim.ClientForCA(pool).Get(authority[1] + "/" + tenant[1] + "/v2.0/.well-known/openid-configuration")
	if err != nil {
		t.Fatalf("discovery with the written CA: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("discovery status %d", resp.StatusCode)
	}
	cancel()
	if err := <-done; err != nil {
		t.Errorf("serve: %v", err)
	}
}

func TestBrowse(t *testing.T) {
	s, err := entrasim.Start(entrasim.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	got := make(chan url.Values, 1)
	loopback := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			http.Error(w, "POST only", http.StatusMethodNotAllowed)
			return
		}
		_ = r.ParseForm()
		got <- r.PostForm
		_, _ = io.WriteString(w, "<html><body>Authentication complete.</body></html>")
	}))
	defer loopback.Close()
	v := url.Values{
		"client_id": {s.ClientID()}, "response_type": {"code"}, "redirect_uri": {loopback.URL},
		"scope": {s.Scope() + " openid offline_access profile"}, "state": {"xyz"},
		"code_challenge": {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"}, "code_challenge_method": {"S256"},
		"response_mode": {"form_post"},
	}
	u := s.Authority() + "/oauth2/v2.0/authorize?" + v.Encode()
	if err := run(context.Background(), []string{"browse", "--ca", ca, u}, io.Discard, io.Discard); err != nil {
		t.Fatalf("browse: %v", err)
	}
	form := <-got
	if form.Get("code") == "" || form.Get("state") != "xyz" {
		t.Errorf("loopback got %v", form)
	}
	// Without the CA the simulator is not trusted.
	t.Setenv("SSL_CERT_FILE", "")
	if err := run(context.Background(), []string{"browse", u}, io.Discard, io.Discard); err == nil {
		t.Error("browse trusted the simulator without its CA")
	}
}
