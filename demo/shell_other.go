//go:build !windows

package demo

import (
	"context"
	"os/exec"
)

// shellCommand runs line the way Claude Code runs a headersHelper (Node's
// spawn with shell: true): /bin/sh -c LINE.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	return exec.CommandContext(ctx, "/bin/sh", "-c", line)
}
