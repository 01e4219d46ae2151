package fetch

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

const cached = "eyJhbGciOiJSUzI1NiJ9.eyJjYWNoZSI6MX0.c2ln"

type cacheSource struct{ asked bool }

func (c *cacheSource) Token(context.Context, time.Duration) (token.Token, error) {
	c.asked = true
	return token.Token{Value: cached, ExpiresOn: time.Now().Add(time.Hour)}, nil
}

// daemonAt serves h on a private socket, as a daemon of this user would.
func daemonAt(t *testing.T, h http.HandlerFunc) func(context.Context) *localapi.Client {
	t.Helper()
	dir, err := os.MkdirTemp("", "fe")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	path := filepath.Join(dir, "rt", "broker.sock")
	l, err := localapi.Listen(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(l)
	t.Cleanup(func() { srv.Close() })
	return func(ctx context.Context) *localapi.Client {
		c, err := localapi.DialAddress(ctx, path)
		if err != nil {
			t.Errorf("dial: %v", err)
			return nil
		}
		return c
	}
}

// A daemon that answers status but never the token request (a refresh
// stuck inside it) leaves time for the cache: the answer comes from the
// cache, within Limit, and Notice is told.
func TestADaemonThatDoesNotAnswerLeavesTimeForTheCache(t *testing.T) {
	t.Parallel()
	dial := daemonAt(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			io.WriteString(w, `{"daemon":{"running":true}}`)
			return
		}
		<-r.Context().Done() // never answers
	})
	for _, headers := range []bool{false, true} {
		src := &cacheSource{}
		var told error
		o := Options{MinValidity: time.Minute, Daemon: dial,
			Cache:  func(context.Context) (Source, error) { return src, nil },
			Notice: func(err error) { told = err }}
		ctx, cancel := context.WithTimeout(t.Context(), Limit+2*time.Second) // the contract plus a margin
		var got string
		var err error
		if headers {
			var b []byte
			b, err = Headers(ctx, o)
			got = string(b)
		} else {
			var tok token.Token
			tok, err = Token(ctx, o)
			got = tok.Value.Reveal()
		}
		cancel()
		if err != nil || !strings.Contains(got, cached) || !src.asked {
			t.Fatalf("headers=%v: %q, %v; want the cache's token", headers, got, err)
		}
		var na *localapi.NotAnsweringError
		if !errors.As(told, &na) || !strings.Contains(told.Error(), "did not answer") {
			t.Errorf("headers=%v: Notice got %v", headers, told)
		}
	}
}

// The daemon's answer is final, errors included: sign-in required is not
// asked of the cache again.
func TestTheDaemonsAnswerIsFinal(t *testing.T) {
	t.Parallel()
	dial := daemonAt(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/v1/status" {
			io.WriteString(w, `{"daemon":{"running":true}}`)
			return
		}
		w.WriteHeader(http.StatusUnauthorized)
		io.WriteString(w, `{"error":"sign-in required","class":"sign-in-required","hint":"run broker login"}`)
	})
	src := &cacheSource{}
	_, err := Token(t.Context(), Options{Daemon: dial, Cache: func(context.Context) (Source, error) { return src, nil }})
	if !errors.Is(err, auth.ErrSignInRequired) || src.asked {
		t.Fatalf("Token = %v (cache asked: %v); want the daemon's sign-in required", err, src.asked)
	}
}
