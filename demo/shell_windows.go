package demo

import (
	"context"
	"os"
	"os/exec"
	"syscall"
)

// shellCommand runs line the way Claude Code runs a headersHelper on
// Windows (Node's spawn with shell: true): %ComSpec% /d /s /c "LINE",
// passed verbatim (windowsVerbatimArguments), so that cmd.exe, not Go's
// argument quoting, reads the line's quotes.
func shellCommand(ctx context.Context, line string) *exec.Cmd {
	comspec := os.Getenv("ComSpec")
	if comspec == "" {
		comspec = "cmd.exe"
	}
	cmd := exec.CommandContext(ctx, comspec)
	cmd.SysProcAttr = &syscall.SysProcAttr{CmdLine: comspec + ` /d /s /c "` + line + `"`}
	return cmd
}
