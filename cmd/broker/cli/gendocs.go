package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

// newGenDocsCmd is the hidden `broker gen-docs DIR` that `make install`,
// `make dist` and `make deb` use: man pages, shell completions and the
// autostart entry template, all generated from this binary.
func newGenDocsCmd(app *App) *cobra.Command {
	var exe string
	cmd := &cobra.Command{
		Use:    "gen-docs DIR",
		Short:  "Write man pages, shell completions and the autostart entry template into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			dir := args[0]
			root := cmd.Root()
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
					return UsageErrorf("SOURCE_DATE_EPOCH=%q is not a number", s)
				}
				date = time.Unix(n, 0).UTC()
			}
			hdr := &doc.GenManHeader{Title: "BROKER", Section: "1", Source: "broker " + version, Manual: "mcp-token-broker", Date: &date}
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
			fmt.Fprintf(app.Stderr, "wrote man pages, completions and the autostart entry into %s\n", dir)
			return nil
		},
	}
	cmd.Flags().StringVar(&exe, "exec", "/usr/bin/broker", "the binary the autostart entry template starts")
	return cmd
}
