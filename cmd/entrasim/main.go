// Command entrasim runs the Entra ID simulator of entrasim on its
// own, for manual runs of the broker and of MCP clients without a tenant.
//
//	entrasim serve [--addr 127.0.0.1:8443] [--lifetime 65m] [--ca-out FILE] [-v]
//	entrasim browse [--ca FILE] URL
//
// browse is a $BROWSER stand-in: it opens an authorization URL and posts
// the form_post page to the loopback redirect like a browser.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

const usage = `usage:
  entrasim serve [--addr 127.0.0.1:8443] [--hostname localhost] [--lifetime 65m] [--ca-out FILE] [--strict-rotation] [--auto-approve-device] [--sse] [--no-metadata] [-v]
  entrasim browse [--ca FILE] URL
`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	if err != nil {
		fmt.Fprintf(os.Stderr, "entrasim: %v\n", err)
		var u usageError
		if errors.As(err, &u) {
			fmt.Fprint(os.Stderr, usage)
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ error }

// run runs one command; serve returns when ctx ends.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return usageError{errors.New("missing command")}
	}
	switch args[0] {
	case "serve":
		return serve(ctx, args[1:], stdout, stderr)
	case "browse":
		return browse(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	return usageError{fmt.Errorf("unknown command %q", args[0])}
}

func serve(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8443", "address to listen on")
	hostname := fs.String("hostname", "", "host to announce in URLs (default: the address; localhost for Go on Windows, which does not match IP certificates)")
	lifetime := fs.Duration("lifetime", 0, "access token lifetime (0: random 60–90 min like Entra; MSAL does not cache ≤ 5m)")
	caOut := fs.String("ca-out", "", "write the CA certificate here (default: a file in the temp dir)")
	strict := fs.Bool("strict-rotation", false, "refuse a refresh token after its first use (Entra does not)")
	autoApprove := fs.Bool("auto-approve-device", false, "approve device codes at once")
	sse := fs.Bool("sse", false, "answer MCP requests as text/event-stream")
	noMeta := fs.Bool("no-metadata", false, "do not publish RFC 9728 metadata for the MCP endpoint")
	verbose := fs.Bool("v", false, "log every request to stderr")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	level := slog.LevelInfo
	if *verbose {
		level = slog.LevelDebug
	}
	s, err := entrasim.Start(entrasim.Options{
		Addr:              *addr,
		Hostname:          *hostname,
		Lifetime:          *lifetime,
		StrictRotation:    *strict,
		AutoApproveDevice: *autoApprove,
		MCPSSE:            *sse,
		NoMetadata:        *noMeta,
		Logger:            slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level})),
	})
	if err != nil {
		return err
	}
	defer s.Close()
	ca := *caOut
	if ca == "" {
		ca = filepath.Join(os.TempDir(), "entrasim-ca.pem")
	}
	if ca, err = filepath.Abs(ca); err != nil {
		return err
	}
	if err := s.WriteCA(ca); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		self = "entrasim"
	}
	fmt.Fprintf(stdout, `entrasim: Entra ID simulator listening

  authority  %s
  tenant     %s (%s)
  client id  %s
  scope      %s
  user       %s
  MCP URL    %s
  CA         %s

config.toml profile:

%s
trust the CA, and sign in without a browser:

  export SSL_CERT_FILE=%s        # Go programs, the broker
  export NODE_EXTRA_CA_CERTS=%s  # node: Claude Code, mcp-remote
  export BROWSER="%s browse --ca %s"

Ctrl-C stops the simulator.
`, s.URL(), s.TenantID(), s.TenantDomain(), s.ClientID(), s.Scope(), s.Username(), s.MCPURL(), ca,
		s.ProfileTOML("sim"), ca, ca, self, ca)

	<-ctx.Done()
	return nil
}

func browse(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("browse", flag.ContinueOnError)
	caFile := fs.String("ca", os.Getenv("SSL_CERT_FILE"), "PEM file of the CA to trust (default $SSL_CERT_FILE, else the system roots)")
	if err := fs.Parse(args); err != nil {
		return usageError{err}
	}
	if fs.NArg() != 1 {
		return usageError{errors.New("browse takes one URL")}
	}
	var pool *x509.CertPool
	if *caFile != "" {
		pem, err := os.ReadFile(*caFile)
		if err != nil {
			return fmt.Errorf("reading CA: %w", err)
		}
		pool = x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s: no PEM certificate", *caFile)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	return entrasim.Browse(ctx, entrasim.ClientForCA(pool), fs.Arg(0))
}
