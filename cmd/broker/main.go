// Command broker keeps an Entra ID access token for an MCP API fresh and
// delivers it to AI coding clients. See `broker help`.
package main

import (
	"os"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
