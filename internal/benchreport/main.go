//go:build linux

// Command benchreport is `make bench`: it measures the real broker binary
// (whole processes against the Entra ID simulator in temporary HOMEs), runs
// the Go benchmarks that exist for the parts that have no process of their
// own, and writes BENCHMARKS.md from scratch with every number from that
// run. Nothing in the report is typed in by hand.
//
//	benchreport -broker bin/broker -out BENCHMARKS.md
//
// It is also its own helper: `benchreport browse --ca FILE URL` is the
// $BROWSER stand-in that signs in against the simulator, and
// `benchreport rewrite ...` is the child process whose time and memory the
// file rewrite measurement reads.
package main

import (
	"context"
	"crypto/x509"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "browse":
			exit(browse(os.Args[2:]))
		case "rewrite":
			exit(rewriteChild(os.Args[2:]))
		case "claude-json": // claude-json MB FILE: a file to profile with
			if len(os.Args) == 4 {
				n, err := strconv.Atoi(os.Args[2])
				if err == nil {
					err = os.WriteFile(os.Args[3], claudeJSON(n<<20), 0o600)
				}
				exit(err)
			}
		}
	}
	exit(bench(os.Args[1:]))
}

func exit(err error) {
	if err != nil {
		fmt.Fprintf(os.Stderr, "benchreport: %v\n", err)
		os.Exit(1)
	}
	os.Exit(0)
}

// browse opens an authorization URL like a browser (see cmd/entrasim).
func browse(args []string) error {
	fs := flag.NewFlagSet("browse", flag.ContinueOnError)
	caFile := fs.String("ca", "", "PEM file of the simulator's CA")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("browse takes one URL")
	}
	pem, err := os.ReadFile(*caFile)
	if err != nil {
		return err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return entrasim.Browse(ctx, entrasim.ClientForCA(pool), fs.Arg(0))
}

// options of one benchmark run.
type options struct {
	broker      string // the binary `make build` built
	out         string
	repo        string // the module's root, for go test
	runs        int    // whole-process runs per latency measurement
	idle        time.Duration
	npmRoot     string // where scripts/test-deps installs mcp-remote
	onlyLatency bool   // section 1 alone, to iterate on start-up cost
}

func bench(args []string) error {
	testing.Init() // testing.Benchmark (the desktop helpers) reads its flags
	fs := flag.NewFlagSet("benchreport", flag.ContinueOnError)
	var o options
	fs.StringVar(&o.broker, "broker", "bin/broker", "the broker binary to measure (built by make build)")
	fs.StringVar(&o.out, "out", "BENCHMARKS.md", "the report to write")
	fs.IntVar(&o.runs, "runs", 60, "whole-process runs per latency measurement (after 5 warm-up runs)")
	fs.DurationVar(&o.idle, "idle", 2*time.Minute, "the idle window of the daemon")
	fs.StringVar(&o.npmRoot, "npm", ".cache/npm/node_modules", "node_modules holding mcp-remote")
	fs.BoolVar(&o.onlyLatency, "only-latency", false, "measure section 1 (headers and token) alone, in about a minute")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var err error
	if o.broker, err = filepath.Abs(o.broker); err != nil {
		return err
	}
	if o.npmRoot, err = filepath.Abs(o.npmRoot); err != nil {
		return err
	}
	if o.repo, err = os.Getwd(); err != nil {
		return err
	}
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo})))
	r, err := newRun(o)
	if err != nil {
		return err
	}
	defer r.close()
	r.measureAll()
	if err := os.WriteFile(o.out, r.report(), 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "benchreport: wrote %s in %s\n", o.out, time.Since(r.started).Round(time.Second))
	if r.failed > 0 {
		return fmt.Errorf("%d measurements failed (see %s)", r.failed, o.out)
	}
	return nil
}
