// Command broker keeps an Entra ID access token for an MCP API fresh and
// delivers it to AI coding clients. See `broker help`.
package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/cli"
	// Answers `broker headers` and `broker token` from the running daemon
	// in its init, before the rest of the program initialises (see there).
	_ "github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

func main() {
	// cobra's "mousetrap" ends a Windows program whose parent is
	// explorer.exe ("This is a command line tool…"). Explorer is what
	// starts the Run-key entry at login, shortcuts and double-clicks: the
	// broker must keep running then.
	cobra.MousetrapHelpText = ""
	os.Exit(cli.Main(os.Args[1:]))
}
