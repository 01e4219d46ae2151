// Package packaging_test checks `make install`, `make uninstall` and the
// .deb built by `make deb` (packaging/nfpm.yaml) with the real Makefile, the
// real broker binary and dpkg.
package packaging_test

import (
	"bytes"
	"debug/macho"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

func needTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s is missing (scripts/test-deps installs it)", name)
		}
		t.Skipf("%s is missing (scripts/test-deps installs it)", name)
	}
	return p
}

// run runs a command with its output in a file (never a pipe) and returns
// the output; it fails the test when the command fails.
func run(t *testing.T, dir string, env []string, name string, args ...string) string {
	t.Helper()
	logf, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	err = cmd.Run()
	out, _ := os.ReadFile(logf.Name())
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

func snapshot(t *testing.T, root string) map[string]string {
	t.Helper()
	m := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		info, err := os.Lstat(p)
		if err != nil {
			return err
		}
		if d.IsDir() {
			m[rel] = "dir " + info.Mode().String()
			return nil
		}
		b, _ := os.ReadFile(p)
		m[rel] = info.Mode().String() + " " + string(b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// build is where one test's make puts the binary and the generated docs, so
// that tests never touch bin/ or build/ of the working tree.
func buildVars(dir string) []string {
	return []string{"BIN=" + filepath.Join(dir, "broker"), "GEN=" + filepath.Join(dir, "gen")}
}

// TestMakeInstallUninstall: make install puts the binary, man pages and
// completions under PREFIX; make uninstall leaves PREFIX exactly as it was,
// whether it was empty or already held other programs' files.
func TestMakeInstallUninstall(t *testing.T) {
	needTool(t, "make")
	root := repoRoot(t)
	work := t.TempDir()
	prefix := filepath.Join(work, "prefix")
	for _, f := range []string{"bin/other-tool", "share/man/man1/other.1", "share/bash-completion/completions/other"} {
		p := filepath.Join(prefix, f)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("not ours\n"), 0o644)
	}
	emptyPrefix := filepath.Join(work, "empty")
	os.Mkdir(emptyPrefix, 0o755)

	for _, pre := range []string{prefix, emptyPrefix} {
		before := snapshot(t, pre)
		vars := append(buildVars(work), "PREFIX="+pre)
		run(t, root, nil, "make", append([]string{"--no-print-directory", "install"}, vars...)...)

		for _, f := range []string{"bin/broker", "share/man/man1/broker.1", "share/man/man1/broker-install.1",
			"share/bash-completion/completions/broker", "share/zsh/site-functions/_broker", "share/fish/vendor_completions.d/broker.fish",
			"share/icons/hicolor/32x32/apps/mcp-token-broker.png"} {
			if _, err := os.Stat(filepath.Join(pre, f)); err != nil {
				t.Errorf("make install did not install %s: %v", f, err)
			}
		}
		out := run(t, root, nil, filepath.Join(pre, "bin", "broker"), "version")
		if !regexp.MustCompile(`^broker \S+ \(commit [0-9a-f]{7,}, built \d{4}-\d\d-\d\dT`).MatchString(out) {
			t.Errorf("broker version is not stamped by the Makefile: %q", out)
		}
		if man, _ := os.ReadFile(filepath.Join(pre, "share/man/man1/broker-install.1")); !bytes.Contains(man, []byte(".TH \"BROKER\" \"1\"")) {
			t.Errorf("broker-install.1 is not a man page:\n%.300s", man)
		}
		if bash, err := exec.LookPath("bash"); err == nil {
			out := run(t, root, nil, bash, "-c", "source "+filepath.Join(pre, "share/bash-completion/completions/broker")+" && complete -p broker")
			if !strings.Contains(out, "broker") {
				t.Errorf("the bash completion registers nothing for broker: %q", out)
			}
		}

		if pre == prefix {
			brokerInstall(t, filepath.Join(pre, "bin", "broker"))
		}

		run(t, root, nil, "make", append([]string{"--no-print-directory", "uninstall"}, vars...)...)
		if d := cmp.Diff(before, snapshot(t, pre)); d != "" {
			t.Errorf("PREFIX after make install, make uninstall (-before +after):\n%s", d)
		}
	}
}

// brokerInstall is the user's next step after make install: `broker install`
// in a desktop session (a temporary HOME) writes an autostart entry that
// starts exactly this binary with `run`; running it twice changes nothing;
// `broker uninstall` twice leaves HOME empty again.
func brokerInstall(t *testing.T, broker string) {
	t.Helper()
	home := t.TempDir()
	env := []string{"HOME=" + home, "XDG_CONFIG_HOME=", "DISPLAY=:99", "XDG_CURRENT_DESKTOP=GNOME"}
	out := run(t, home, env, broker, "install")
	entry := filepath.Join(home, ".config", "autostart", "mcp-token-broker.desktop")
	if !strings.Contains(out, entry) {
		t.Errorf("broker install said %q", out)
	}
	b, err := os.ReadFile(entry)
	if err != nil || !bytes.Contains(b, []byte("\nExec="+broker+" run\n")) {
		t.Errorf("the entry does not start %s run: %v\n%s", broker, err, b)
	}
	if validate, err := exec.LookPath("desktop-file-validate"); err == nil {
		run(t, home, nil, validate, entry)
	}
	if out := run(t, home, env, broker, "install"); !strings.Contains(out, "already installed") {
		t.Errorf("second broker install said %q", out)
	}
	run(t, home, env, broker, "uninstall")
	if out := run(t, home, env, broker, "uninstall"); !strings.Contains(out, "not installed") {
		t.Errorf("second broker uninstall said %q", out)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("HOME is not empty after broker install, uninstall: %v", entries)
	}

	// Headless with no systemd user manager (a private, empty runtime
	// folder): exit 1, say so with a hint, install nothing.
	cmd := exec.Command(broker, "install", "--headless")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_RUNTIME_DIR="+t.TempDir(), "DBUS_SESSION_BUS_ADDRESS=")
	errf, _ := os.Create(filepath.Join(t.TempDir(), "stderr"))
	defer errf.Close()
	cmd.Stderr = errf
	err = cmd.Run()
	stderr, _ := os.ReadFile(errf.Name())
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 ||
		!strings.Contains(string(stderr), "no systemd user manager is running") || !strings.Contains(string(stderr), "\nhint: ") {
		t.Errorf("broker install --headless without a user manager: %v\n%s", err, stderr)
	}
	if entries, _ := os.ReadDir(home); len(entries) != 0 {
		t.Errorf("a refused headless install left %v in HOME", entries)
	}
}

// TestDeb builds the .deb with nfpm (through `go run`, slow the first time),
// checks its contents, installs it with dpkg into a scratch root (its own
// admin folder, so the machine's dpkg database is not touched) and runs the
// installed broker.
func TestDeb(t *testing.T) {
	needTool(t, "make")
	dpkgDeb := needTool(t, "dpkg-deb")
	dpkg := needTool(t, "dpkg")
	root := repoRoot(t)
	work := t.TempDir()
	out := filepath.Join(work, "out")
	run(t, root, nil, "make", append(buildVars(work), "--no-print-directory", "deb",
		"DEB_OUT="+out, "DEB_STAGE="+filepath.Join(work, "stage"), "DEB_ARCHES=amd64")...)
	debs, _ := filepath.Glob(filepath.Join(out, "*.deb"))
	if len(debs) != 1 {
		t.Fatalf("make deb made %v", debs)
	}
	deb := debs[0]

	info := run(t, root, nil, dpkgDeb, "--field", deb, "Package", "Architecture", "Version")
	for _, want := range []string{"Package: mcp-token-broker", "Architecture: amd64"} {
		if !strings.Contains(info, want) {
			t.Errorf("control fields lack %q:\n%s", want, info)
		}
	}
	list := run(t, root, nil, dpkgDeb, "--contents", deb)
	for _, want := range []string{"./usr/bin/broker", "./usr/share/mcp-token-broker/mcp-token-broker.desktop",
		"./usr/share/man/man1/broker.1.gz", "./usr/share/bash-completion/completions/broker",
		"./usr/share/zsh/vendor-completions/_broker", "./usr/share/fish/vendor_completions.d/broker.fish",
		"./usr/share/icons/hicolor/32x32/apps/mcp-token-broker.png"} {
		if !strings.Contains(list, want+"\n") && !strings.Contains(list, want+" ") {
			t.Errorf("the .deb lacks %s:\n%s", want, list)
		}
	}
	if strings.Contains(list, "etc/xdg/autostart") {
		t.Errorf("the .deb starts the broker for every user (etc/xdg/autostart):\n%s", list)
	}

	// dpkg --root with a private admin folder: the package is unpacked and
	// registered there, as `dpkg -i` would on a machine.
	scratch := filepath.Join(work, "root")
	admin := filepath.Join(scratch, "var", "lib", "dpkg")
	for _, d := range []string{"info", "updates", "triggers"} {
		os.MkdirAll(filepath.Join(admin, d), 0o755)
	}
	os.WriteFile(filepath.Join(admin, "status"), nil, 0o644)
	dpkgArgs := []string{"--root=" + scratch, "--admindir=" + admin, "--force-not-root", "--force-script-chrootless", "--log=/dev/null"}
	run(t, root, nil, dpkg, append(dpkgArgs, "--install", deb)...)

	installed := filepath.Join(scratch, "usr", "bin", "broker")
	if v := run(t, root, nil, installed, "version"); !strings.HasPrefix(v, "broker ") {
		t.Errorf("the installed broker says %q", v)
	}
	status := run(t, root, nil, dpkg, "--root="+scratch, "--admindir="+admin, "--status", "mcp-token-broker")
	if !strings.Contains(status, "Status: install ok installed") {
		t.Errorf("dpkg does not list the package as installed:\n%s", status)
	}
	entry := filepath.Join(scratch, "usr", "share", "mcp-token-broker", "mcp-token-broker.desktop")
	if b, err := os.ReadFile(entry); err != nil || !bytes.Contains(b, []byte("\nExec=/usr/bin/broker run\n")) {
		t.Errorf("the autostart template does not start /usr/bin/broker run: %v\n%s", err, b)
	}
	if validate, err := exec.LookPath("desktop-file-validate"); err == nil {
		run(t, root, nil, validate, entry)
	}

	run(t, root, nil, dpkg, append(dpkgArgs, "--remove", "mcp-token-broker")...)
	if _, err := os.Stat(installed); !os.IsNotExist(err) {
		t.Errorf("dpkg --remove left %s: %v", installed, err)
	}
}

// TestDist: make dist cross-builds linux/amd64, linux/arm64, darwin/amd64,
// darwin/arm64 and windows/amd64 archives (Windows with brokerw.exe for the
// GUI subsystem), the .deb, SHA256SUMS that match, and the package managers'
// manifests with those sums (their schemas: packaging/genmanifests' tests).
func TestDist(t *testing.T) {
	needTool(t, "make")
	needTool(t, "zip")
	sha := needTool(t, "sha256sum")
	ruby := needTool(t, "ruby")
	root := repoRoot(t)
	work := t.TempDir()
	dist := filepath.Join(work, "dist")
	run(t, root, nil, "make", append(buildVars(work), "--no-print-directory", "dist", "DIST="+dist,
		"DIST_BUILD="+filepath.Join(work, "build"), "DEB_STAGE="+filepath.Join(work, "stage"), "DEB_ARCHES=amd64",
		"VERSION=v9.8.7", "RELEASE_URL=https://example.invalid/dl/v9.8.7")...)

	run(t, dist, nil, sha, "--check", "--strict", "SHA256SUMS")
	b, _ := os.ReadFile(filepath.Join(dist, "SHA256SUMS"))
	sums := map[string]string{}
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if sum, name, ok := strings.Cut(l, "  "); ok {
			sums[name] = sum
		}
	}
	archives := []string{"broker_v9.8.7_linux_amd64.tar.gz", "broker_v9.8.7_linux_arm64.tar.gz", "broker_v9.8.7_darwin_amd64.tar.gz",
		"broker_v9.8.7_darwin_arm64.tar.gz", "broker_v9.8.7_windows_amd64.zip", "mcp-token-broker_9.8.7-1_amd64.deb"}
	for _, a := range archives {
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(sums[a]) {
			t.Errorf("SHA256SUMS has no %s:\n%s", a, b)
		}
	}
	if len(sums) != len(archives) {
		t.Errorf("SHA256SUMS has %d files, want %d:\n%s", len(sums), len(archives), b)
	}
	checkArchive(t, dist, "linux_arm64.tar.gz", "broker", elfMachine("EM_AARCH64"))
	checkArchive(t, dist, "darwin_amd64.tar.gz", "broker", machO(macho.CpuAmd64))
	checkArchive(t, dist, "darwin_arm64.tar.gz", "broker", machO(macho.CpuArm64))
	checkArchive(t, dist, "darwin_arm64.tar.gz", "man/man1/broker-install.1", nonEmpty)
	checkArchive(t, dist, "darwin_arm64.tar.gz", "completions/_broker", nonEmpty)
	checkArchive(t, dist, "windows_amd64.zip", "broker.exe", peSubsystem(3))  // console
	checkArchive(t, dist, "windows_amd64.zip", "brokerw.exe", peSubsystem(2)) // GUI

	// The manifests carry the sums of this SHA256SUMS and download from RELEASE_URL.
	zip := "broker_v9.8.7_windows_amd64.zip"
	manifests := map[string][]string{
		"scoop/mcp-token-broker.json": {`"url": "https://example.invalid/dl/v9.8.7/` + zip + `"`, `"hash": "` + sums[zip] + `"`, `"version": "9.8.7"`},
		"winget/mcp-token-broker.mcp-token-broker.installer.yaml": {"InstallerUrl: https://example.invalid/dl/v9.8.7/" + zip,
			"InstallerSha256: " + strings.ToUpper(sums[zip])},
		"winget/mcp-token-broker.mcp-token-broker.yaml":              {"PackageVersion: 9.8.7"},
		"winget/mcp-token-broker.mcp-token-broker.locale.en-US.yaml": {"ManifestType: defaultLocale"},
	}
	for _, a := range archives[:4] {
		manifests["homebrew/mcp-token-broker.rb"] = append(manifests["homebrew/mcp-token-broker.rb"],
			`url "https://example.invalid/dl/v9.8.7/`+a+`"`+"\n      sha256 \""+sums[a]+`"`)
	}
	for f, wants := range manifests {
		b, err := os.ReadFile(filepath.Join(dist, f))
		if err != nil {
			t.Errorf("make dist wrote no %s: %v", f, err)
			continue
		}
		for _, w := range wants {
			if !strings.Contains(string(b), w) {
				t.Errorf("%s has no %q:\n%s", f, w, b)
			}
		}
	}
	if out := run(t, dist, nil, ruby, "-c", "homebrew/mcp-token-broker.rb"); !strings.Contains(out, "Syntax OK") {
		t.Errorf("ruby -c: %s", out)
	}
}
