package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/jsonschema-go/jsonschema"
	"go.yaml.in/yaml/v3"
)

// testRelease has a sum for every archive of a release; each differs so
// that a sum in the wrong place shows.
func testRelease() release { return testReleaseOf("v1.2.3") }

func testReleaseOf(tag string) release {
	sums := map[string]string{}
	for i, n := range []string{"darwin_amd64.tar.gz", "darwin_arm64.tar.gz", "linux_amd64.tar.gz", "linux_arm64.tar.gz", "windows_amd64.zip"} {
		sums["broker_"+tag+"_"+n] = strings.Repeat(string("abcde"[i]), 64)
	}
	sums["mcp-token-broker_1.2.3-1_amd64.deb"] = strings.Repeat("f", 64)
	return release{Tag: tag, BaseURL: "https://github.com/mcp-token-broker/mcp-token-broker/releases/download/" + tag,
		License: "Proprietary", Sums: sums}
}

// schema reads a vendored JSON schema (testdata/schemas/README.md says
// where each comes from) and resolves it.
func schema(t *testing.T, name string) *jsonschema.Resolved {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "schemas", name))
	if err != nil {
		t.Fatal(err)
	}
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	var s jsonschema.Schema
	if err := json.Unmarshal(b, &s); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	rs, err := s.Resolve(nil)
	if err != nil {
		t.Fatalf("resolving %s: %v", name, err)
	}
	return rs
}

// instance decodes JSON or YAML into the generic form a validator takes
// (through JSON, so that YAML's types are JSON's).
func instance(t *testing.T, b []byte, isYAML bool) map[string]any {
	t.Helper()
	if isYAML {
		var v any
		if err := yaml.Unmarshal(b, &v); err != nil {
			t.Fatalf("parsing YAML: %v\n%s", err, b)
		}
		var err error
		if b, err = json.Marshal(v); err != nil {
			t.Fatal(err)
		}
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("parsing JSON: %v\n%s", err, b)
	}
	return m
}

func TestVersion(t *testing.T) {
	t.Parallel()
	for tag, want := range map[string]string{
		"v1.2.3": "1.2.3", "1.2.3": "1.2.3", "v1.2.3-4-gabcdef0": "1.2.3-4-gabcdef0",
		"abcdef0": "0.0.0-abcdef0", "abcdef0-dirty": "0.0.0-abcdef0-dirty", "33354f0": "0.0.0-33354f0",
	} {
		if got := (release{Tag: tag}).version(); got != want {
			t.Errorf("version of %q = %q, want %q", tag, got, want)
		}
	}
}

func TestReadSums(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p := filepath.Join(dir, "SHA256SUMS")
	os.WriteFile(p, []byte(strings.Repeat("a", 64)+"  broker_v1_linux_amd64.tar.gz\n"+strings.Repeat("b", 64)+"  x.zip\n"), 0o644)
	got, err := readSums(p)
	if err != nil || len(got) != 2 || got["x.zip"] != strings.Repeat("b", 64) {
		t.Errorf("readSums: %v, %v", got, err)
	}
	os.WriteFile(p, []byte("deadbeef  short.zip\n"), 0o644)
	if _, err := readSums(p); err == nil || !strings.Contains(err.Error(), "SHA256SUMS:1") {
		t.Errorf("a bad line: %v", err)
	}
}

// TestScoopSchema validates the Scoop manifest against Scoop's schema.json,
// and checks that the schema catches a broken one.
func TestScoopSchema(t *testing.T) {
	t.Parallel()
	rs := schema(t, "scoop/schema.json")
	b, err := scoopManifest(testRelease())
	if err != nil {
		t.Fatal(err)
	}
	m := instance(t, b, false)
	if err := rs.Validate(m); err != nil {
		t.Errorf("the Scoop manifest does not validate: %v\n%s", err, b)
	}
	arch := m["architecture"].(map[string]any)["64bit"].(map[string]any)
	want := map[string]any{"url": testRelease().BaseURL + "/broker_v1.2.3_windows_amd64.zip",
		"hash": strings.Repeat("e", 64), "extract_dir": "broker_v1.2.3_windows_amd64"}
	for k, v := range want {
		if arch[k] != v {
			t.Errorf("64bit.%s = %v, want %v", k, arch[k], v)
		}
	}
	if m["bin"] != "broker.exe" || m["version"] != "1.2.3" {
		t.Errorf("bin %v, version %v", m["bin"], m["version"])
	}
	arch["hash"] = "not-a-sha256"
	if err := rs.Validate(m); err == nil {
		t.Error("the Scoop schema accepts a broken hash: the validation proves nothing")
	}
}

// TestWingetSchemas validates each file of the winget manifest against its
// schema (the YAML read as JSON, as winget's validator does).
func TestWingetSchemas(t *testing.T) {
	t.Parallel()
	files, err := wingetManifests(testRelease())
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[string]string{
		wingetID + ".yaml":              "version",
		wingetID + ".locale.en-US.yaml": "defaultLocale",
		wingetID + ".installer.yaml":    "installer",
	}
	if len(files) != len(kinds) {
		t.Fatalf("files %v, want %v", keys(files), kinds)
	}
	for n, kind := range kinds {
		b, ok := files[n]
		if !ok {
			t.Errorf("no %s", n)
			continue
		}
		if hdr := "# yaml-language-server: $schema=https://aka.ms/winget-manifest." + kind + "." + wingetSchema + ".schema.json\n"; !bytes.Contains(b, []byte(hdr)) {
			t.Errorf("%s has no %q", n, hdr)
		}
		rs := schema(t, "winget/manifest."+kind+"."+wingetSchema+".json")
		m := instance(t, b, true)
		if err := rs.Validate(m); err != nil {
			t.Errorf("%s does not validate against the %s schema: %v\n%s", n, kind, err, b)
		}
		if m["ManifestType"] != kind || m["PackageVersion"] != "1.2.3" || m["PackageIdentifier"] != wingetID {
			t.Errorf("%s: %v", n, m)
		}
		if kind != "installer" {
			continue
		}
		inst := m["Installers"].([]any)[0].(map[string]any)
		if inst["InstallerUrl"] != testRelease().BaseURL+"/broker_v1.2.3_windows_amd64.zip" ||
			inst["InstallerSha256"] != strings.Repeat("E", 64) || inst["Architecture"] != "x64" {
			t.Errorf("installer: %v", inst)
		}
		nested, _ := json.Marshal(m["NestedInstallerFiles"])
		if want := `[{"PortableCommandAlias":"broker","RelativeFilePath":"broker_v1.2.3_windows_amd64\\broker.exe"},` +
			`{"PortableCommandAlias":"brokerw","RelativeFilePath":"broker_v1.2.3_windows_amd64\\brokerw.exe"}]`; string(nested) != want {
			t.Errorf("NestedInstallerFiles %s, want %s", nested, want)
		}
		inst["Architecture"] = "amd64"
		if err := rs.Validate(m); err == nil {
			t.Error("the installer schema accepts Architecture amd64: the validation proves nothing")
		}
	}
}

// TestSchemasEveryVersion: every shape of version make dist can be given
// (a tag, a tag with commits after it, a bare commit, a dirty tree) gives
// manifests that their schemas accept.
func TestSchemasEveryVersion(t *testing.T) {
	t.Parallel()
	scoopSchema := schema(t, "scoop/schema.json")
	winget := map[string]*jsonschema.Resolved{}
	for _, kind := range []string{"version", "defaultLocale", "installer"} {
		winget[kind] = schema(t, "winget/manifest."+kind+"."+wingetSchema+".json")
	}
	for _, tag := range []string{"v1.2.3", "v0.10.0-rc.1", "v1.2.3-4-gabcdef0-dirty", "33354f0", "abcdef0-dirty"} {
		r := testReleaseOf(tag)
		b, err := scoopManifest(r)
		if err != nil {
			t.Fatal(err)
		}
		if err := scoopSchema.Validate(instance(t, b, false)); err != nil {
			t.Errorf("%s: the Scoop manifest: %v\n%s", tag, err, b)
		}
		files, err := wingetManifests(r)
		if err != nil {
			t.Fatal(err)
		}
		for n, b := range files {
			m := instance(t, b, true)
			if err := winget[m["ManifestType"].(string)].Validate(m); err != nil {
				t.Errorf("%s: %s: %v\n%s", tag, n, err, b)
			}
		}
	}
}

func keys(m map[string][]byte) []string {
	var ks []string
	for k := range m {
		ks = append(ks, k)
	}
	return ks
}

// needRuby finds ruby, which scripts/test-deps installs; under CI its
// absence fails the test.
func needRuby(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("ruby")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("ruby is missing (scripts/test-deps installs it)")
		}
		t.Skip("ruby is missing (scripts/test-deps installs it)")
	}
	return p
}

// TestHomebrewFormula: the formula is Ruby (`ruby -c`), and each of the four
// platform blocks downloads its own archive with its own sum.
func TestHomebrewFormula(t *testing.T) {
	t.Parallel()
	r := testRelease()
	b, err := homebrewFormula(r)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(t.TempDir(), "mcp-token-broker.rb")
	os.WriteFile(p, b, 0o644)
	if out, err := exec.Command(needRuby(t), "-c", p).CombinedOutput(); err != nil || !strings.Contains(string(out), "Syntax OK") {
		t.Errorf("ruby -c: %v\n%s\n%s", err, out, b)
	}
	s := string(b)
	block := func(outer, inner string) string {
		re := regexp.MustCompile(`\n  ` + outer + ` do\n(?:    .*\n)*?    ` + inner + ` do\n((?:      .*\n)*)    end\n`)
		m := re.FindStringSubmatch(s)
		if m == nil {
			t.Fatalf("no %s/%s block:\n%s", outer, inner, s)
		}
		return m[1]
	}
	for _, c := range []struct{ outer, inner, archive, sum string }{
		{"on_macos", "on_arm", "darwin_arm64.tar.gz", "b"},
		{"on_macos", "on_intel", "darwin_amd64.tar.gz", "a"},
		{"on_linux", "on_arm", "linux_arm64.tar.gz", "d"},
		{"on_linux", "on_intel", "linux_amd64.tar.gz", "c"},
	} {
		want := `      url "` + r.BaseURL + `/broker_v1.2.3_` + c.archive + `"` + "\n" + `      sha256 "` + strings.Repeat(c.sum, 64) + `"` + "\n"
		if got := block(c.outer, c.inner); got != want {
			t.Errorf("%s/%s:\n%s\nwant\n%s", c.outer, c.inner, got, want)
		}
	}
	for _, want := range []string{"class McpTokenBroker < Formula\n", "\n  version \"1.2.3\"\n", "\n    bin.install \"broker\"\n",
		"\n    man1.install Dir[\"man/man1/*.1\"]\n", `shell_output("#{bin}/broker version")`} {
		if !strings.Contains(s, want) {
			t.Errorf("the formula has no %q:\n%s", want, s)
		}
	}
	if strings.Contains(s, "license") {
		t.Errorf("a proprietary formula names a license:\n%s", s)
	}
	r.License = "MIT"
	if b, _ := homebrewFormula(r); !bytes.Contains(b, []byte("\n  license \"MIT\"\n")) {
		t.Errorf("no license line for MIT:\n%s", b)
	}
	delete(r.Sums, "broker_v1.2.3_linux_arm64.tar.gz")
	if _, err := homebrewFormula(r); err == nil || !strings.Contains(err.Error(), "linux_arm64.tar.gz is not in the sums") {
		t.Errorf("a missing archive: %v", err)
	}
}

// TestRubyString: ruby itself reads each literal back as the text.
func TestRubyString(t *testing.T) {
	t.Parallel()
	ruby := needRuby(t)
	for _, s := range []string{"plain", `a "quoted" \ back\slash`, "#{system('touch /tmp/pwned')}", "#@x #$y", "tab\tnew\nline\x01", "ünï ✓"} {
		out, err := exec.Command(ruby, "-e", "print "+rubyString(s)).Output()
		if err != nil || string(out) != s {
			t.Errorf("ruby read %s as %q (%v), want %q", rubyString(s), out, err, s)
		}
	}
}

// TestWrite: write puts every manifest where the README says.
func TestWrite(t *testing.T) {
	t.Parallel()
	out := t.TempDir()
	if err := write(testRelease(), out); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"scoop/mcp-token-broker.json", "homebrew/mcp-token-broker.rb", "winget/" + wingetID + ".yaml",
		"winget/" + wingetID + ".locale.en-US.yaml", "winget/" + wingetID + ".installer.yaml"} {
		if _, err := os.Stat(filepath.Join(out, f)); err != nil {
			t.Errorf("no %s: %v", f, err)
		}
	}
}
