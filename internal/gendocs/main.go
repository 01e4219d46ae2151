// Command gendocs writes the broker's man pages, shell completions (bash,
// zsh, fish) and the autostart entry template into a folder, for
// `make install`, `make dist` and `make deb`. It is a program of its own so
// that the man-page generator is not linked into the broker binary, whose
// start-up time every `broker headers` pays.
//
//	go run ./internal/gendocs [-exec /usr/bin/broker] DIR
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra/doc"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/cli"
	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

func main() {
	exe := flag.String("exec", "/usr/bin/broker", "the binary the autostart entry template starts")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gendocs [-exec PATH] DIR")
		os.Exit(2)
	}
	if err := run(flag.Arg(0), *exe); err != nil {
		fmt.Fprintln(os.Stderr, "gendocs:", err)
		os.Exit(1)
	}
}

func run(dir, exe string) error {
	root := cli.RootCommand()
	root.DisableAutoGenTag = true
	for _, d := range []string{"man/man1", "completions", "autostart"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			return err
		}
	}
	// Reproducible builds: the pages' date is SOURCE_DATE_EPOCH when set.
	date := time.Now().UTC()
	if s := os.Getenv("SOURCE_DATE_EPOCH"); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			return fmt.Errorf("SOURCE_DATE_EPOCH=%q is not a number", s)
		}
		date = time.Unix(n, 0).UTC()
	}
	hdr := &doc.GenManHeader{Title: "BROKER", Section: "1", Source: "broker " + cli.Version(), Manual: "mcp-token-broker", Date: &date}
	if err := doc.GenManTree(root, hdr, filepath.Join(dir, "man/man1")); err != nil {
		return fmt.Errorf("writing man pages: %w", err)
	}
	comp := filepath.Join(dir, "completions")
	if err := root.GenBashCompletionFileV2(filepath.Join(comp, "broker.bash"), true); err != nil {
		return err
	}
	if err := root.GenZshCompletionFile(filepath.Join(comp, "_broker")); err != nil {
		return err
	}
	if err := root.GenFishCompletionFile(filepath.Join(comp, "broker.fish"), true); err != nil {
		return err
	}
	entry, err := installer.RenderDesktopEntry(exe)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "autostart", installer.Name+".desktop"), entry, 0o644); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "wrote man pages, completions and the autostart entry into %s\n", dir)
	return nil
}
