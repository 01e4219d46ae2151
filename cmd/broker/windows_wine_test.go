//go:build wine && linux

// The Windows suite: the real broker.exe and brokerw.exe (GOOS=windows)
// under Wine 8 on Linux, checked as a Windows user would meet them. Run it
// with `make test-windows` (scripts/wine-setup installs Wine, mingw-w64 and
// Xvfb when missing); it is behind the build tag `wine` so that `make test`
// does not pay for it, and it never skips: a missing tool fails it.
//
// What Wine 8.0 needs that real Windows has (each worked around here, not
// in the product):
//   - no bcryptprimitives.dll, which every Go >= 1.22 program loads: a
//     stand-in over RtlGenRandom (scripts/wine/bcryptprimitives.c), built
//     with mingw-w64 into the test prefix's system32;
//   - `certutil` is a stub: the simulator's CA goes into the user's Root
//     store as the registry blob crypt32 reads;
//   - the first connection to a new go-winio named pipe is never answered:
//     one unanswered status is allowed right after a daemon starts, the
//     next must answer (a real hang still fails);
//   - os.RemoveAll of Go >= 1.24 needs FileDispositionInformationEx, which
//     Wine 8 lacks: the demo runs with --dir (a kept sandbox).
//
// Each run makes its own prefix (its own C:\users\..., so APPDATA and
// LOCALAPPDATA are the prefix's and nothing of the machine's is touched).
package main

import (
	"bytes"
	"context"
	"crypto/sha1"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/internal/desktoptest"
)

// installDir is where the suite puts the broker: a folder with spaces, as
// under Program Files, so that every quoting of its path is exercised.
const installDir = `C:\Program Files\MCP Token Broker`

// wine is one Wine prefix under Xvfb.
type wine struct {
	t       *testing.T
	bin     string // wine64
	server  string // wineserver
	prefix  string
	display string
	env     []string
	// profile is the user's profile folder in the prefix (C:\users\NAME).
	profile string
}

func TestWindowsUnderWine(t *testing.T) {
	start := time.Now()
	w := newWine(t)
	t.Logf("prefix ready in %s", time.Since(start).Round(100*time.Millisecond))

	repo, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	buildStart := time.Now()
	dir := w.unix(installDir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	goBuild(t, repo, filepath.Join(dir, "broker.exe"))
	goBuild(t, repo, filepath.Join(dir, "brokerw.exe"), "-ldflags", "-H windowsgui")
	mingw(t, filepath.Join(repo, "scripts", "wine", "shellrun.c"), w.unix(`C:\tools\shellrun.exe`), "-municode")
	t.Logf("broker.exe, brokerw.exe and shellrun.exe built in %s", time.Since(buildStart).Round(100*time.Millisecond))
	broker := installDir + `\broker.exe`

	t.Run("version", func(t *testing.T) {
		out := w.ok(t, broker, "version")
		if !strings.Contains(out, "windows/amd64") {
			t.Errorf("version: %q, want windows/amd64", out)
		}
	})

	t.Run("localapi's Windows tests: a pipe another account owns is not our daemon", func(t *testing.T) {
		exe := w.unix(`C:\tools\localapi.test.exe`)
		cmd := exec.Command("go", "test", "-c", "-o", exe, "./broker/localapi")
		cmd.Dir = repo
		cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
		if b, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go test -c ./broker/localapi: %v\n%s", err, b)
		}
		out := w.ok(t, `C:\tools\localapi.test.exe`, "-test.v", "-test.run", "Pipe")
		for _, name := range []string{"TestPipeOfThisUserIsAccepted", "TestPipeOwnedByAnotherAccountIsRefused"} {
			if !strings.Contains(out, "--- PASS: "+name) {
				t.Errorf("%s did not pass under Wine:\n%s", name, out)
			}
		}
	})

	t.Run("demo", func(t *testing.T) { testWineDemo(t, w, broker) })

	sim, err := entrasim.Start(entrasim.Options{Hostname: "localhost", AutoApproveDevice: true, DeviceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	// A second tenant whose device codes wait for the user, for the
	// device-code sign-in started from the tray.
	devSim, err := entrasim.Start(entrasim.Options{Hostname: "localhost", DeviceInterval: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { devSim.Close() })
	appdata := w.profile + `\AppData\Roaming`
	vscodeFile := appdata + `\Code\User\mcp.json`
	vscodeBefore := vscodeJSONCRLF(sim.MCPURL())
	w.writeFile(vscodeFile, vscodeBefore)
	w.writeFile(`C:\cfg\config.toml`, []byte(fmt.Sprintf(`[settings]
storage = "file"

[profiles.sim]
tenant = %q
client_id = %q
scopes = [%q]
authority = %q
login = "device-code"

[[profiles.sim.targets]]
client = "claude"
server = "api"
url = %q

[[profiles.sim.targets]]
client = "vscode"
server = "api"

[profiles.dev]
tenant = %q
client_id = %q
scopes = [%q]
authority = %q
login = "device-code"
`, sim.TenantID(), sim.ClientID(), sim.Scope(), sim.URL(), sim.MCPURL(),
		devSim.TenantID(), devSim.ClientID(), devSim.Scope(), devSim.URL())))

	t.Run("untrusted CA: the hint names the Windows store", func(t *testing.T) {
		_, stderr, code := w.run(t, 60*time.Second, broker, "login", "--profile", "sim")
		if code != 2 || !strings.Contains(stderr, "not trusted") || !strings.Contains(stderr, "certutil -user -addstore Root") ||
			strings.Contains(stderr, "set SSL_CERT_FILE") {
			t.Errorf("login with an untrusted CA: exit %d, stderr:\n%s\nwant exit 2 and the Trusted Root store hint", code, stderr)
		}
	})
	w.trustCA(t, sim.CACertPEM())
	w.trustCA(t, devSim.CACertPEM())

	if !t.Run("login", func(t *testing.T) {
		out, stderr, code := w.run(t, 60*time.Second, broker, "login", "--profile", "sim")
		if code != 0 || !strings.Contains(out, "signed in to profile sim as alice@contoso.com") {
			t.Fatalf("login: exit %d\n%s%s", code, out, stderr)
		}
		if !strings.Contains(stderr, "enter the code") {
			t.Errorf("device-code login printed no code on stderr:\n%s", stderr)
		}
	}) {
		t.FailNow()
	}
	tok := strings.TrimSpace(w.ok(t, broker, "token", "--profile", "sim"))

	t.Run(`login = "azurecli": az.cmd in the Azure CLI's install folder, not on PATH`, func(t *testing.T) {
		// What az 2.54+ prints for get-access-token (expiresOn local, expires_on epoch).
		azTok := sim.IssueAccessToken(entrasim.TokenOpts{Lifetime: time.Hour})
		exp := time.Now().Add(time.Hour)
		w.writeFile(`C:\tools\az-token.json`, fmt.Appendf(nil, "{\r\n  \"accessToken\": %q,\r\n  \"expiresOn\": %q,\r\n  \"expires_on\": %d,\r\n  \"subscription\": \"00000000-0000-0000-0000-000000000000\",\r\n  \"tenant\": %q,\r\n  \"tokenType\": \"Bearer\"\r\n}\r\n",
			azTok, exp.Local().Format("2006-01-02 15:04:05.000000"), exp.Unix(), sim.TenantID()))
		w.writeFile(`C:\Program Files\Microsoft SDKs\Azure\CLI2\wbin\az.cmd`, []byte("@echo off\r\necho %*>> C:\\tools\\az-args.txt\r\ntype C:\\tools\\az-token.json\r\n"))
		w.writeFile(`C:\cfg\az.toml`, fmt.Appendf(nil, "[profiles.az]\ntenant = %q\nscopes = [%q]\nlogin = \"azurecli\"\n", sim.TenantID(), sim.Scope()))
		for i := range 2 {
			out := strings.TrimSpace(w.ok(t, broker, "token", "--config", `C:\cfg\az.toml`, "--profile", "az"))
			if out != azTok {
				t.Fatalf("token %d of the az profile is not what az.cmd printed (%d bytes)", i+1, len(out))
			}
		}
		args := strings.TrimSpace(string(w.readFile(t, `C:\tools\az-args.txt`)))
		want := "account get-access-token --scope " + sim.Scope() + " --tenant " + sim.TenantID() + " --output json"
		if args != want {
			t.Errorf("az.cmd ran with %q, want exactly once with %q", args, want)
		}
		// Signed out of az (its exact words, on stderr, exit 1): sign-in
		// required (exit 3), naming the command to run.
		w.writeFile(`C:\Program Files\Microsoft SDKs\Azure\CLI2\wbin\az.cmd`, []byte("@echo off\r\necho ERROR: Please run 'az login' to setup account. 1>&2\r\nexit /b 1\r\n"))
		w.writeFile(`C:\cfg\az.toml`, fmt.Appendf(nil, "[profiles.az2]\ntenant = %q\nscopes = [%q]\nlogin = \"azurecli\"\n", sim.TenantID(), sim.Scope()))
		_, stderr, code := w.run(t, 60*time.Second, broker, "token", "--config", `C:\cfg\az.toml`, "--profile", "az2")
		if code != 3 || !strings.Contains(stderr, "az login --tenant "+sim.TenantID()) {
			t.Errorf("token with az signed out: exit %d, stderr:\n%s\nwant exit 3 naming az login --tenant", code, stderr)
		}
	})

	t.Run("VS Code mcp.json with CRLF and comments keeps every other byte", func(t *testing.T) {
		got := w.readFile(t, vscodeFile)
		want := bytes.Replace(vscodeBefore, []byte("Bearer old-pasted-token"), []byte("Bearer "+tok), 1)
		if !bytes.Equal(got, want) {
			t.Errorf("%s after login:\n%q\nwant:\n%q", vscodeFile, got, want)
		}
		// sync on its own (no daemon): the file is unchanged, and no
		// "other users can read" warning (every file reports 0666 here).
		out, stderr, code := w.runEnv(t, []string{"BROKER_NO_DAEMON=1"}, 30*time.Second, broker, "sync", "--profile", "sim")
		if code != 0 || !strings.Contains(out, "unchanged") || strings.Contains(out+stderr, "other users") {
			t.Errorf("sync without the daemon: exit %d\n%s%s", code, out, stderr)
		}
		if again := w.readFile(t, vscodeFile); !bytes.Equal(again, want) {
			t.Errorf("sync changed %s:\n%q", vscodeFile, again)
		}
	})

	helperLine := ""
	t.Run("Claude Code helper line", func(t *testing.T) {
		var doc struct {
			MCPServers map[string]struct {
				HeadersHelper string `json:"headersHelper"`
			} `json:"mcpServers"`
		}
		if err := json.Unmarshal(w.readFile(t, w.profile+`\.claude.json`), &doc); err != nil {
			t.Fatal(err)
		}
		helperLine = doc.MCPServers["api"].HeadersHelper
		if want := `"` + broker + `" headers --profile sim`; helperLine != want {
			t.Fatalf("headersHelper = %q, want %q", helperLine, want)
		}
		// Claude Code runs it as Node's spawn(line, {shell: true}):
		// cmd.exe /d /s /c "LINE" (scripts/wine/shellrun.c does the same).
		out := w.helper(t, helperLine)
		if out != `{"Authorization":"Bearer `+tok+`"}` {
			t.Errorf("the helper printed %q, want the header with the current token", out)
		}
	})

	t.Run("install, status, uninstall", func(t *testing.T) {
		w.ok(t, broker, "install")
		value, ok := w.runValue(t)
		if want := `"` + installDir + `\brokerw.exe" run`; !ok || value != want {
			t.Fatalf("Run value = %q (present %v), want %q", value, ok, want)
		}
		if st := w.status(t, broker); st.StartAtLogin == nil || !st.StartAtLogin.Installed || !st.StartAtLogin.Current || st.StartAtLogin.Kind != "windows-run" {
			t.Errorf("status after install: %+v", st.StartAtLogin)
		}
		w.ok(t, broker, "uninstall")
		if value, ok := w.runValue(t); ok {
			t.Errorf("Run value after uninstall: %q", value)
		}
		if st := w.status(t, broker); st.StartAtLogin == nil || st.StartAtLogin.Installed {
			t.Errorf("status after uninstall: %+v", st.StartAtLogin)
		}
	})

	t.Run("Run-key start as Explorer starts it: the daemon and its tray stay up", func(t *testing.T) {
		w.ok(t, broker, "install")
		defer w.ok(t, broker, "uninstall")
		value, _ := w.runValue(t)
		exe, args := splitCommandLine(value)
		// explorer.exe /desktop=shell,… starts the command as its child in
		// a desktop with a taskbar and a tray: the parent is explorer.exe,
		// as at login, so cobra's mousetrap would end it.
		log := w.logLen(t)
		ex := w.startGUI(t, append([]string{"explorer", "/desktop=shell,1024x768", exe}, args...)...)
		defer w.stopAll(t, ex)
		pid := w.waitDaemonStarted(t, log)
		st := w.statusRunning(t, broker)
		if st.Daemon.PID != pid {
			t.Errorf("status: daemon pid %d, the log's %d", st.Daemon.PID, pid)
		}
		shot, iconX, iconY := w.waitTrayIcon(t)
		t.Logf("screenshot of Wine's desktop with the tray icon: %s", shot)

		// Sign in… (profile dev, device code) from the tray's menu:
		// brokerw.exe has no console and no stderr, and the code must
		// still reach status and the menu.
		w.clickSignIn(t, iconX, iconY)
		userCode := w.waitSignInPrompt(t, broker, "dev")
		if err := devSim.ApproveDeviceCode(userCode); err != nil {
			t.Fatal(err)
		}
		w.waitProfileOK(t, broker, "dev")
	})

	t.Run("run --no-tray, then status, headers, token and sync over the named pipe", func(t *testing.T) {
		log := w.logLen(t)
		d := w.start(t, broker, "run", "--no-tray")
		defer w.stopAll(t, d)
		w.waitDaemonStarted(t, log)
		if st := w.statusRunning(t, broker); len(st.Profiles) != 2 || st.Profiles[1].Name != "sim" || st.Profiles[1].State != "ok" {
			t.Errorf("status over the pipe: %+v", st.Profiles)
		}
		// With the token cache gone, only the daemon can answer.
		cache := w.unix(w.profile + `\AppData\Local\mcp-token-broker\msal-cache.json`)
		if err := os.Rename(cache, cache+".away"); err != nil {
			t.Fatal(err)
		}
		defer os.Rename(cache+".away", cache)
		if out := strings.TrimSpace(w.ok(t, broker, "headers", "--profile", "sim")); out != `{"Authorization":"Bearer `+tok+`"}` {
			t.Errorf("headers: %q", out)
		}
		if out := strings.TrimSpace(w.ok(t, broker, "token", "--profile", "sim")); out != tok {
			t.Errorf("token: %q", out)
		}
		var az struct {
			AccessToken string `json:"accessToken"`
			ExpiresOn   int64  `json:"expires_on"`
		}
		if err := json.Unmarshal([]byte(w.ok(t, broker, "token", "--profile", "sim", "--format", "json")), &az); err != nil || az.AccessToken != tok || az.ExpiresOn == 0 {
			t.Errorf("token --format json: %+v, %v", az, err)
		}
		// Every file reports 0666 on Windows: no "other users can read"
		// warning for the token in VS Code's file, from sync or doctor.
		out, stderr, code := w.run(t, 30*time.Second, broker, "sync", "--profile", "sim")
		if code != 0 || !strings.Contains(out, "vscode") || strings.Contains(out+stderr, "other users") {
			t.Errorf("sync: exit %d\n%s%s", code, out, stderr)
		}
		out, stderr, _ = w.run(t, 60*time.Second, broker, "doctor")
		t.Logf("doctor (the token cache is moved away):\n%s%s", out, stderr)
		if !strings.Contains(out+stderr, "mcp.json") || strings.Contains(out+stderr, "readable by other users") || strings.Contains(out+stderr, "chmod") {
			t.Errorf("doctor warns about permissions on Windows, or does not check VS Code's file:\n%s%s", out, stderr)
		}
		if helperLine != "" {
			if out := w.helper(t, helperLine); out != `{"Authorization":"Bearer `+tok+`"}` {
				t.Errorf("the Claude Code helper line with the daemon: %q", out)
			}
		}
		// Without the daemon the same command has no token: the answers
		// above came over the pipe.
		_, stderr, code = w.runEnv(t, []string{"BROKER_NO_DAEMON=1"}, 30*time.Second, broker, "headers", "--profile", "sim")
		if code != 3 {
			t.Errorf("headers without the daemon and without a cache: exit %d, want 3 (sign-in required)\n%s", code, stderr)
		}
	})
	t.Logf("the Windows suite took %s", time.Since(start).Round(100*time.Millisecond))
}

// testWineDemo runs `broker demo --once` and checks that every client
// accepted the token and that every file is where Windows keeps it.
func testWineDemo(t *testing.T, w *wine, broker string) {
	const sandbox = `C:\demo`
	out, stderr, code := w.run(t, 120*time.Second, broker, "demo", "--once", "--dir", sandbox)
	if code != 0 {
		t.Fatalf("demo --once: exit %d\n%s%s", code, out, stderr)
	}
	if n := strings.Count(out, " accepted "); n != 4 || strings.Contains(out, "REFUSED") {
		t.Errorf("demo: %d clients accepted, want 4:\n%s", n, out)
	}
	for _, f := range []string{
		`\AppData\Roaming\Code\User\mcp.json`,
		`\AppData\Roaming\mcp-token-broker\config.toml`,
		`\AppData\Local\mcp-token-broker\msal-cache.json`,
		`\AppData\Local\mcp-token-broker\broker.log`,
		`\.claude.json`, `\.copilot\mcp-config.json`, `\mcp-token.ps1`,
	} {
		if _, err := os.Stat(w.unix(sandbox + f)); err != nil {
			t.Errorf("demo sandbox: %v", err)
		}
	}
	env := w.readFile(t, sandbox+`\mcp-token.ps1`)
	if !regexp.MustCompile(`(?m)^\$env:MCP_TOKEN = 'eyJ[^']+'\r$`).Match(env) || bytes.Contains(env, []byte("export ")) {
		t.Errorf("the env file is not PowerShell with CRLF:\n%q", env)
	}
	if !strings.Contains(out, "https://localhost:") {
		t.Errorf("the demo's simulator does not announce localhost:\n%s", out)
	}
}

func newWine(t *testing.T) *wine {
	t.Helper()
	w := &wine{t: t}
	w.bin = findTool(t, os.Getenv("WINE"), "/usr/lib/wine/wine64", "wine64", "wine")
	w.server = findTool(t, os.Getenv("WINESERVER"), "/usr/lib/wine/wineserver", "wineserver")
	findTool(t, "", "x86_64-w64-mingw32-gcc")
	tmp := t.TempDir()
	w.prefix = filepath.Join(tmp, "prefix")
	home := filepath.Join(tmp, "home")
	if err := os.MkdirAll(home, 0o700); err != nil {
		t.Fatal(err)
	}
	w.display = desktoptest.Xvfb(t, 1024, 768)
	w.env = []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + home, "USER=tester", "LANG=C.UTF-8",
		"DISPLAY=" + w.display, "WINEPREFIX=" + w.prefix, "WINEDEBUG=-all",
		// No menu entries in the (temporary) home, no Mono or Gecko
		// installer dialogs.
		"WINEDLLOVERRIDES=winemenubuilder.exe=d;mscoree=;mshtml=",
		`BROKER_CONFIG=C:\cfg\config.toml`, `BROKER_ADMIN_CONFIG=C:\none\admin.toml`,
	}
	t.Cleanup(func() { w.kill() })
	boot := time.Now()
	w.persist()
	w.ok(t, "wineboot", "--init")
	t.Logf("wineboot --init: %s", time.Since(boot).Round(100*time.Millisecond))
	repo, _ := filepath.Abs("../..")
	mingw(t, filepath.Join(repo, "scripts", "wine", "bcryptprimitives.c"),
		filepath.Join(w.prefix, "drive_c", "windows", "system32", "bcryptprimitives.dll"), "-shared", "-ladvapi32")
	w.profile = strings.TrimSpace(w.ok(t, "cmd", "/c", "echo %USERPROFILE%"))
	if !strings.HasPrefix(strings.ToLower(w.profile), `c:\users\`) {
		t.Fatalf("USERPROFILE under Wine is %q", w.profile)
	}
	return w
}

// findTool returns the first of names that exists (a path or a program on
// PATH), failing the test with the way to install them.
func findTool(t *testing.T, names ...string) string {
	t.Helper()
	for _, n := range names {
		if n == "" {
			continue
		}
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	t.Fatalf("none of %v found: run scripts/wine-setup (Debian wine64, gcc-mingw-w64-x86-64-win32, xvfb)", names[1:])
	return ""
}

// goBuild builds cmd/broker for Windows as `make dist` does.
func goBuild(t *testing.T, repo, out string, args ...string) {
	t.Helper()
	cmd := exec.Command("go", append(append([]string{"build", "-trimpath"}, args...), "-o", out, "./cmd/broker")...)
	cmd.Dir = repo
	cmd.Env = append(os.Environ(), "GOOS=windows", "GOARCH=amd64", "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", out, err, b)
	}
}

// mingw compiles a C file of scripts/wine for Windows.
func mingw(t *testing.T, src, out string, flags ...string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(out), 0o755); err != nil {
		t.Fatal(err)
	}
	args := append([]string{"-O2", "-o", out, src}, flags...)
	if b, err := exec.Command("x86_64-w64-mingw32-gcc", args...).CombinedOutput(); err != nil {
		t.Fatalf("mingw-w64 %s: %v\n%s", src, err, b)
	}
}

// command is a Windows program under Wine. Its output must go to files,
// not pipes: Wine's own processes that a command starts (services.exe,
// explorer.exe…) inherit its handles and outlive it, and a pipe would
// stay open with them.
func (w *wine) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = w.env
	cmd.WaitDelay = 5 * time.Second
	return cmd
}

// outputFiles points cmd's stdout and stderr at two new files in dir and
// returns a function that reads them back.
func outputFiles(t *testing.T, cmd *exec.Cmd) func() (string, string) {
	t.Helper()
	dir := t.TempDir()
	o, err := os.Create(filepath.Join(dir, "stdout"))
	if err != nil {
		t.Fatal(err)
	}
	e, err := os.Create(filepath.Join(dir, "stderr"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = o, e
	return func() (string, string) {
		o.Close()
		e.Close()
		ob, _ := os.ReadFile(o.Name())
		eb, _ := os.ReadFile(e.Name())
		return string(ob), string(eb)
	}
}

// run runs a Windows program and returns its output and exit code; a
// command that outlives timeout fails the test.
func (w *wine) run(t *testing.T, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return w.runEnv(t, nil, timeout, args...)
}

// runEnv is run with more environment variables (Wine hands the Linux
// environment to the Windows program).
func (w *wine) runEnv(t *testing.T, env []string, timeout time.Duration, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := w.command(ctx, args...)
	cmd.Env = append(cmd.Env[:len(cmd.Env):len(cmd.Env)], env...)
	output := outputFiles(t, cmd)
	begin := time.Now()
	err := cmd.Run()
	stdout, stderr = output()
	if ctx.Err() != nil {
		t.Fatalf("%s: still running after %s\n%s%s", strings.Join(args, " "), timeout, stdout, stderr)
	}
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		t.Fatalf("%s: %v", strings.Join(args, " "), err)
	}
	t.Logf("%s: exit %d in %s", strings.Join(args, " "), cmd.ProcessState.ExitCode(), time.Since(begin).Round(10*time.Millisecond))
	return stdout, stderr, cmd.ProcessState.ExitCode()
}

// ok runs a Windows program that must exit 0 and returns its stdout.
func (w *wine) ok(t *testing.T, args ...string) string {
	t.Helper()
	out, stderr, code := w.run(t, 60*time.Second, args...)
	if code != 0 {
		t.Fatalf("%s: exit %d\n%s%s", strings.Join(args, " "), code, out, stderr)
	}
	return out
}

// start starts a Windows program in the background.
func (w *wine) start(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	cmd := w.command(context.Background(), args...)
	output := outputFiles(t, cmd)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if o, e := output(); t.Failed() {
			t.Logf("%s printed:\n%s%s", strings.Join(args, " "), o, e)
		}
	})
	return cmd
}

// startGUI starts a Windows program in the background with standard
// output and error that fail every write, as a GUI-subsystem program
// started by Explorer has them (Wine would hand it the Linux ones).
func (w *wine) startGUI(t *testing.T, args ...string) *exec.Cmd {
	t.Helper()
	p := filepath.Join(t.TempDir(), "no-console")
	if err := os.WriteFile(p, nil, 0o444); err != nil {
		t.Fatal(err)
	}
	ro, err := os.Open(p) // read-only: writes fail
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ro.Close() })
	cmd := w.command(context.Background(), args...)
	cmd.Stdout, cmd.Stderr = ro, ro
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// stopAll ends every process of the prefix (the daemon, Explorer) and
// waits for cmd.
func (w *wine) stopAll(t *testing.T, cmd *exec.Cmd) {
	t.Helper()
	w.kill()
	w.persist()
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		cmd.Process.Kill()
		t.Errorf("%s did not end after wineserver -k", cmd.Path)
	}
}

// kill ends the prefix's wineserver and with it every Windows process of
// this prefix (and only of it).
func (w *wine) kill() {
	for _, arg := range []string{"-k", "-w"} {
		cmd := exec.Command(w.server, arg)
		cmd.Env = w.env
		cmd.WaitDelay = 5 * time.Second
		_ = cmd.Run()
	}
}

// persist keeps the prefix's wineserver running between commands (each
// command would otherwise start one, a second or two each).
func (w *wine) persist() {
	cmd := exec.Command(w.server, "-p")
	cmd.Env = w.env
	cmd.WaitDelay = 5 * time.Second
	_ = cmd.Run()
}

// unix is the Linux path of a C:\ path of the prefix.
func (w *wine) unix(winPath string) string {
	rest, ok := strings.CutPrefix(strings.ToLower(winPath[:3]), `c:\`)
	if !ok || rest != "" {
		w.t.Fatalf("%q is not on C:", winPath)
	}
	return filepath.Join(w.prefix, "drive_c", filepath.FromSlash(strings.ReplaceAll(winPath[3:], `\`, "/")))
}

func (w *wine) writeFile(winPath string, data []byte) {
	p := w.unix(winPath)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		w.t.Fatal(err)
	}
}

func (w *wine) readFile(t *testing.T, winPath string) []byte {
	t.Helper()
	b, err := os.ReadFile(w.unix(winPath))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// trustCA puts the CA into the user's Trusted Root store as
// `certutil -user -addstore Root` would (Wine's certutil is a stub): the
// value Blob under HKCU\Software\Microsoft\SystemCertificates\Root\
// Certificates\<SHA-1>, a serialized certificate as crypt32 reads it (one
// property: CERT_CERT_PROP_ID 32, reserved 1, length, DER).
func (w *wine) trustCA(t *testing.T, caPEM []byte) {
	t.Helper()
	block, _ := pem.Decode(caPEM)
	if block == nil {
		t.Fatal("no PEM CA")
	}
	sum := sha1.Sum(block.Bytes)
	var blob bytes.Buffer
	for _, v := range []uint32{32, 1, uint32(len(block.Bytes))} {
		binary.Write(&blob, binary.LittleEndian, v)
	}
	blob.Write(block.Bytes)
	key := `HKCU\Software\Microsoft\SystemCertificates\Root\Certificates\` + strings.ToUpper(hex.EncodeToString(sum[:]))
	w.ok(t, "reg", "add", key, "/v", "Blob", "/t", "REG_BINARY", "/d", hex.EncodeToString(blob.Bytes()), "/f")
}

// runValue reads the broker's value of the HKCU Run key with reg query.
func (w *wine) runValue(t *testing.T) (string, bool) {
	t.Helper()
	out, _, code := w.run(t, 30*time.Second, "reg", "query", `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`, "/v", "mcp-token-broker")
	if code != 0 {
		return "", false
	}
	m := regexp.MustCompile(`(?m)^\s*mcp-token-broker\s+REG_SZ\s+(.*?)\r?$`).FindStringSubmatch(out)
	if m == nil {
		return "", false
	}
	return m[1], true
}

// splitCommandLine splits a Run value into its program and arguments (the
// program may be quoted; the arguments here are plain words).
func splitCommandLine(v string) (string, []string) {
	if rest, ok := strings.CutPrefix(v, `"`); ok {
		exe, args, _ := strings.Cut(rest, `"`)
		return exe, strings.Fields(args)
	}
	f := strings.Fields(v)
	return f[0], f[1:]
}

func (w *wine) status(t *testing.T, broker string) state.Status {
	t.Helper()
	var st state.Status
	out := w.ok(t, broker, "status", "--json")
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// statusRunning asks the daemon that just started for its status. Under
// Wine the first connection to a new named pipe is never answered (a bare
// go-winio program does the same): one status that does not reach the
// daemon is allowed, the next must. Each is bounded by the CLI's own
// timeout and by run's.
func (w *wine) statusRunning(t *testing.T, broker string) state.Status {
	t.Helper()
	for attempt := 1; attempt <= 2; attempt++ {
		out, stderr, _ := w.run(t, 30*time.Second, broker, "status", "--json")
		var st state.Status
		if json.Unmarshal([]byte(out), &st) == nil && st.Daemon.Running {
			return st
		}
		t.Logf("status attempt %d did not reach the daemon (Wine's first pipe connection): %s", attempt, strings.TrimSpace(stderr))
	}
	t.Fatal("the daemon did not answer status over its named pipe twice in a row")
	return state.Status{}
}

// waitSignInPrompt polls status until the profile's sign-in prompt shows
// a device code, and returns the code.
func (w *wine) waitSignInPrompt(t *testing.T, broker, profile string) string {
	t.Helper()
	re := regexp.MustCompile(`enter the code (\S+)`)
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range w.status(t, broker).Profiles {
			if m := re.FindStringSubmatch(p.SignInPrompt); p.Name == profile && m != nil {
				return m[1]
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	b, _ := os.ReadFile(w.logFile())
	t.Fatalf("status never showed the device code of profile %s; the log:\n%s", profile, b)
	return ""
}

// waitProfileOK polls status until the profile is signed in.
func (w *wine) waitProfileOK(t *testing.T, broker, profile string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		for _, p := range w.status(t, broker).Profiles {
			if p.Name == profile && p.State == "ok" && p.SignInPrompt == "" {
				return
			}
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("profile %s was not signed in after its device code was approved", profile)
}

// clickSignIn opens the tray icon's menu and clicks its second row: the
// first profile's "Sign in…" (profile dev, signed out, sorts first; its
// header is the first row). The menu is found on a screenshot: the first
// row of the screen, from the top, that is not the desktop's colour above
// the icon.
func (w *wine) clickSignIn(t *testing.T, iconX, iconY int) {
	t.Helper()
	xdotool := func(args ...string) { desktoptest.X(t, w.display, "xdotool", "xdotool", args...) }
	xdotool("mousemove", fmt.Sprint(iconX), fmt.Sprint(iconY), "click", "1")
	shot := filepath.Join(t.TempDir(), "menu.png")
	deadline := time.Now().Add(15 * time.Second)
	for {
		desktoptest.Screenshot(t, w.display, shot)
		img := decodePNG(t, shot)
		desk := img.At(10, 10)
		top := -1
		for y := 0; y < iconY-20; y++ {
			if img.At(iconX-100, y) != desk {
				top = y
				break
			}
		}
		if top >= 0 {
			left := iconX - 100
			for left > 0 && img.At(left-1, top+10) != desk {
				left--
			}
			t.Logf("tray menu at (%d, %d); clicking its second row", left, top)
			xdotool("mousemove", fmt.Sprint(left+40), fmt.Sprint(top+28), "click", "1")
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("the tray icon's menu did not open; screenshot %s", shot)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

// logFile is the daemon's log, %LOCALAPPDATA%\mcp-token-broker\broker.log.
func (w *wine) logFile() string {
	return w.unix(w.profile + `\AppData\Local\mcp-token-broker\broker.log`)
}

func (w *wine) logLen(t *testing.T) int {
	b, _ := os.ReadFile(w.logFile())
	return len(b)
}

var startedRE = regexp.MustCompile(`msg="daemon started" pid=(\d+)`)

// waitDaemonStarted waits for a "daemon started" line after offset and
// returns its pid.
func (w *wine) waitDaemonStarted(t *testing.T, offset int) int {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(w.logFile())
		if len(b) > offset {
			if m := startedRE.FindSubmatch(b[offset:]); m != nil {
				var pid int
				fmt.Sscan(string(m[1]), &pid)
				return pid
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	b, _ := os.ReadFile(w.logFile())
	t.Fatalf("no \"daemon started\" in the log within 60 s; the log:\n%s", b)
	return 0
}

// helper runs a headersHelper line as Claude Code does on Windows
// (scripts/wine/shellrun.c: %ComSpec% /d /s /c "LINE", verbatim) and
// returns what it printed.
func (w *wine) helper(t *testing.T, line string) string {
	t.Helper()
	w.writeFile(`C:\tools\line.txt`, []byte(line))
	out, stderr, code := w.run(t, 30*time.Second, `C:\tools\shellrun.exe`, `C:\tools\line.txt`)
	if code != 0 {
		t.Fatalf("the helper line %s under cmd.exe: exit %d\n%s%s", line, code, out, stderr)
	}
	return strings.TrimSpace(out)
}

// waitTrayIcon takes screenshots of Wine's desktop until its tray (the
// taskbar's right end) shows the broker's "ok" icon, and returns the last
// screenshot's path and the icon's centre.
func (w *wine) waitTrayIcon(t *testing.T) (string, int, int) {
	t.Helper()
	want := iconColour(t)
	dir := os.Getenv("BROKER_WINE_SHOTS")
	if dir == "" {
		dir = t.TempDir()
	}
	shot := filepath.Join(dir, "wine-tray.png")
	deadline := time.Now().Add(30 * time.Second)
	for {
		desktoptest.Screenshot(t, w.display, shot)
		n, x, y := trayPixels(t, shot, want)
		if n >= 40 {
			return shot, x, y
		}
		if time.Now().After(deadline) {
			t.Fatalf("no tray icon on Wine's desktop within 30 s (%d pixels of its colour in the tray); screenshot %s", n, shot)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// iconColour is the commonest opaque colour of the "ok" icon.
func iconColour(t *testing.T) [3]uint8 {
	img := decodePNG(t, filepath.Join("..", "..", "assets", "icons", "ok.png"))
	count := map[[3]uint8]int{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			if a>>8 == 255 {
				count[[3]uint8{uint8(r >> 8), uint8(g >> 8), uint8(bl >> 8)}]++
			}
		}
	}
	var best [3]uint8
	for c, n := range count {
		if n > count[best] {
			best = c
		}
	}
	return best
}

// trayPixels counts the pixels near colour c in the bottom-right corner of
// the screenshot, where Wine's taskbar keeps the tray, and returns their
// centre.
func trayPixels(t *testing.T, path string, c [3]uint8) (n, cx, cy int) {
	img := decodePNG(t, path)
	b := img.Bounds()
	for y := b.Max.Y - 40; y < b.Max.Y; y++ {
		for x := b.Max.X - 120; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(uint8(r>>8), c[0]) && near(uint8(g>>8), c[1]) && near(uint8(bl>>8), c[2]) {
				n++
				cx += x
				cy += y
			}
		}
	}
	if n > 0 {
		cx, cy = cx/n, cy/n
	}
	return n, cx, cy
}

func near(a, b uint8) bool { return max(a, b)-min(a, b) < 24 }

func decodePNG(t *testing.T, path string) image.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return img
}

// vscodeJSONCRLF is a VS Code user mcp.json as Windows editors keep it:
// CRLF line ends, a BOM, comments and trailing commas, and a token pasted
// by hand.
func vscodeJSONCRLF(mcpURL string) []byte {
	s := "\ufeff// VS Code user MCP servers\n{\n\t\"servers\": {\n\t\t// the data platform, behind APIM\n" +
		"\t\t\"api\": {\n\t\t\t\"type\": \"http\",\n\t\t\t\"url\": \"" + mcpURL + "\",\n" +
		"\t\t\t\"headers\": {\n\t\t\t\t\"Authorization\": \"Bearer old-pasted-token\", // from az\n\t\t\t},\n\t\t},\n" +
		"\t\t\"playwright\": {\"command\": \"npx\", \"args\": [\"@playwright/mcp@latest\"],},\n\t},\n}\n"
	return []byte(strings.ReplaceAll(s, "\n", "\r\n"))
}
