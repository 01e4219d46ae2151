package delivery

import (
	"os"

	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// permissionWarning is the warning for a file that holds the token and
// that other users can read on goos ("" when none; never on Windows,
// where the folder's ACL decides).
func permissionWarning(goos, path string) string {
	fi, err := os.Stat(path)
	if err != nil || !integrations.OpenToOthers(goos, fi.Mode()) {
		return ""
	}
	return "other users can read this file; run `chmod 600 " + path + "`"
}
