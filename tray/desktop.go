package tray

import (
	"fmt"
	"os/exec"
	"runtime"

	"github.com/atotto/clipboard"
)

// openFile opens path in the desktop's default application and does not
// wait for it.
func openFile(path string) error {
	var cmd *exec.Cmd
	switch runtime.GOOS {
	case "windows":
		cmd = exec.Command("rundll32", "url.dll,FileProtocolHandler", path)
	case "darwin":
		cmd = exec.Command("open", path)
	default:
		cmd = exec.Command("xdg-open", path)
	}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("opening %s: %w", path, err)
	}
	go cmd.Wait()
	return nil
}

// writeClipboard puts text on the system clipboard (xclip, xsel or
// wl-copy on Linux; the text goes through a pipe, never a command line).
func writeClipboard(text string) error {
	if clipboard.Unsupported {
		return fmt.Errorf("no clipboard tool: install xclip, xsel or wl-clipboard")
	}
	return clipboard.WriteAll(text)
}
