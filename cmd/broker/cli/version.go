package cli

import (
	"fmt"
	"runtime"

	"github.com/spf13/cobra"
)

// Stamped at build time with -ldflags "-X .../cli.version=... ".
var (
	version = "dev"
	commit  = "unknown"
	date    = "unknown"
)

func newVersionCmd(app *App) *cobra.Command {
	return &cobra.Command{
		Use:   "version",
		Short: "Print the version, commit and build date",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			fmt.Fprintf(app.Stdout, "broker %s (commit %s, built %s, %s %s/%s)\n",
				version, commit, date, runtime.Version(), runtime.GOOS, runtime.GOARCH)
			return nil
		},
	}
}

// Version returns the stamped version ("dev" when not stamped).
func Version() string { return version }
