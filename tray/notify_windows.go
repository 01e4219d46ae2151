package tray

import (
	"context"
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"syscall"
)

// toastNotifier shows Windows toast notifications through PowerShell and
// the WinRT ToastNotificationManager (no cgo, no extra module). Windows
// toasts from an unpackaged app cannot call back, so a sign-in notice says
// to use the tray menu.
type toastNotifier struct{ log *slog.Logger }

func newNotifier(ctx context.Context, log *slog.Logger, onSignIn func(profile string)) notifier {
	return toastNotifier{log}
}

// toastScript shows one toast; the texts come in environment variables so
// that nothing needs quoting.
const toastScript = `
[Windows.UI.Notifications.ToastNotificationManager, Windows.UI.Notifications, ContentType = WindowsRuntime] > $null
$t = [Windows.UI.Notifications.ToastNotificationManager]::GetTemplateContent([Windows.UI.Notifications.ToastTemplateType]::ToastText02)
$x = $t.GetElementsByTagName('text')
$x.Item(0).AppendChild($t.CreateTextNode($env:BROKER_TOAST_TITLE)) > $null
$x.Item(1).AppendChild($t.CreateTextNode($env:BROKER_TOAST_BODY)) > $null
$app = '{1AC14E77-02E7-4E5D-B744-2EB1AE5198B7}\WindowsPowerShell\v1.0\powershell.exe'
[Windows.UI.Notifications.ToastNotificationManager]::CreateToastNotifier($app).Show([Windows.UI.Notifications.ToastNotification]::new($t))
`

func (n toastNotifier) notify(ctx context.Context, nt notice) error {
	body := nt.Body
	if nt.SignIn {
		body += "\nChoose Sign in… in the broker's tray menu."
	}
	cmd := exec.CommandContext(ctx, "powershell.exe", "-NoProfile", "-NonInteractive", "-Command", "-")
	cmd.Stdin = strings.NewReader(toastScript)
	cmd.Env = append(cmd.Environ(), "BROKER_TOAST_TITLE="+nt.Summary, "BROKER_TOAST_BODY="+body)
	cmd.SysProcAttr = &syscall.SysProcAttr{HideWindow: true}
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("showing a notification: %w: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (n toastNotifier) close() {}
