package cli

import (
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
)

// cmd/broker/hotpath answers `headers` and `token` before this package
// runs; it must ask for what these commands ask for.
func TestHotPathAsksForTheDefaultValidity(t *testing.T) {
	if hotpath.DefaultMinValidity != defaultMinValidity {
		t.Errorf("hotpath.DefaultMinValidity = %v, the command line's %v", hotpath.DefaultMinValidity, defaultMinValidity)
	}
}
