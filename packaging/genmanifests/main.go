// Command genmanifests writes the package-manager manifests of a release
// from its SHA256SUMS: a Scoop manifest and a winget manifest set (version,
// defaultLocale, installer) for the Windows zip, and a Homebrew formula for
// the macOS and Linux archives. `make dist` runs it:
//
//	go run ./packaging/genmanifests -sums dist/SHA256SUMS -version v1.2.3 \
//		-url https://…/releases/download/v1.2.3 -out dist
//
// It writes OUT/scoop/mcp-token-broker.json, OUT/winget/*.yaml and
// OUT/homebrew/mcp-token-broker.rb.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

const (
	// name is the package's name in every package manager (as the .deb).
	name        = "mcp-token-broker"
	homepage    = "https://github.com/mcp-token-broker/mcp-token-broker"
	description = "Keeps an Entra ID token for your MCP API fresh in AI coding clients"
	publisher   = "mcp-token-broker"
	// wingetID is Publisher.Package; wingetSchema the manifest version.
	wingetID     = "mcp-token-broker.mcp-token-broker"
	wingetSchema = "1.12.0"
)

// release is what the manifests are written from.
type release struct {
	// Tag is the version as in the archive names (git describe).
	Tag string
	// BaseURL is where the archives are downloaded from, without the
	// final slash: BaseURL/NAME.
	BaseURL string
	// License is an SPDX identifier, or "Proprietary".
	License string
	// Sums are the SHA-256 sums of the archives by file name.
	Sums map[string]string
}

// releaseTag is a version tag as git describe prints it: v1.2.3, maybe
// with -N-gHASH and -dirty after it.
var releaseTag = regexp.MustCompile(`^v?[0-9]+\.`)

// version is the version for package managers: no leading "v", and a
// build that is not from a tag (git describe gives a bare commit hash)
// sorts below every release: 0.0.0-<hash>.
func (r release) version() string {
	if !releaseTag.MatchString(r.Tag) {
		return "0.0.0-" + r.Tag
	}
	return strings.TrimPrefix(r.Tag, "v")
}

// archive is one release archive.
type archive struct {
	Name   string // file name
	Top    string // the folder it holds
	URL    string
	SHA256 string
}

// archive returns the archive for os/arch ("linux", "amd64") with ext.
func (r release) archive(goos, goarch, ext string) (archive, error) {
	top := "broker_" + r.Tag + "_" + goos + "_" + goarch
	n := top + ext
	sum, ok := r.Sums[n]
	if !ok {
		return archive{}, fmt.Errorf("%s is not in the sums", n)
	}
	return archive{Name: n, Top: top, URL: r.BaseURL + "/" + n, SHA256: sum}, nil
}

var sumLine = regexp.MustCompile(`^([0-9a-f]{64})  (\S+)$`)

// readSums reads sha256sum output: "HEX  NAME" per line.
func readSums(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading the sums: %w", err)
	}
	sums := map[string]string{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		m := sumLine.FindStringSubmatch(sc.Text())
		if m == nil {
			return nil, fmt.Errorf("%s:%d: not a sha256sum line: %q", path, n, sc.Text())
		}
		sums[m[2]] = m[1]
	}
	return sums, nil
}

// scoop is a Scoop manifest (its schema.json).
type scoop struct {
	Version      string               `json:"version"`
	Description  string               `json:"description"`
	Homepage     string               `json:"homepage"`
	License      string               `json:"license"`
	Architecture map[string]scoopArch `json:"architecture"`
	Bin          string               `json:"bin"`
	Notes        []string             `json:"notes"`
}

type scoopArch struct {
	URL        string `json:"url"`
	Hash       string `json:"hash"`
	ExtractDir string `json:"extract_dir"`
}

func scoopManifest(r release) ([]byte, error) {
	a, err := r.archive("windows", "amd64", ".zip")
	if err != nil {
		return nil, err
	}
	m := scoop{
		Version: r.version(), Description: description, Homepage: homepage, License: r.License,
		Architecture: map[string]scoopArch{"64bit": {URL: a.URL, Hash: a.SHA256, ExtractDir: a.Top}},
		Bin:          "broker.exe",
		Notes: []string{"Run `broker install` to start the broker at login: it writes the Run key of",
			"HKCU with brokerw.exe, which opens no console window."},
	}
	b, err := json.MarshalIndent(m, "", "    ")
	return append(b, '\n'), err
}

// The winget manifests (multi-file): field order as in winget-pkgs.
type wingetVersion struct {
	PackageIdentifier string `yaml:"PackageIdentifier"`
	PackageVersion    string `yaml:"PackageVersion"`
	DefaultLocale     string `yaml:"DefaultLocale"`
	ManifestType      string `yaml:"ManifestType"`
	ManifestVersion   string `yaml:"ManifestVersion"`
}

type wingetLocale struct {
	PackageIdentifier string   `yaml:"PackageIdentifier"`
	PackageVersion    string   `yaml:"PackageVersion"`
	PackageLocale     string   `yaml:"PackageLocale"`
	Publisher         string   `yaml:"Publisher"`
	PublisherURL      string   `yaml:"PublisherUrl"`
	PackageName       string   `yaml:"PackageName"`
	PackageURL        string   `yaml:"PackageUrl"`
	License           string   `yaml:"License"`
	ShortDescription  string   `yaml:"ShortDescription"`
	Moniker           string   `yaml:"Moniker"`
	Tags              []string `yaml:"Tags"`
	ManifestType      string   `yaml:"ManifestType"`
	ManifestVersion   string   `yaml:"ManifestVersion"`
}

type wingetInstaller struct {
	PackageIdentifier    string             `yaml:"PackageIdentifier"`
	PackageVersion       string             `yaml:"PackageVersion"`
	InstallerType        string             `yaml:"InstallerType"`
	NestedInstallerType  string             `yaml:"NestedInstallerType"`
	NestedInstallerFiles []wingetNestedFile `yaml:"NestedInstallerFiles"`
	Installers           []wingetArch       `yaml:"Installers"`
	ManifestType         string             `yaml:"ManifestType"`
	ManifestVersion      string             `yaml:"ManifestVersion"`
}

type wingetNestedFile struct {
	RelativeFilePath     string `yaml:"RelativeFilePath"`
	PortableCommandAlias string `yaml:"PortableCommandAlias"`
}

type wingetArch struct {
	Architecture    string `yaml:"Architecture"`
	InstallerURL    string `yaml:"InstallerUrl"`
	InstallerSha256 string `yaml:"InstallerSha256"`
}

// wingetManifests returns the three files of the winget manifest by name.
// Both programs of the zip get a command alias: brokerw.exe, which the Run
// key starts, must sit beside broker.exe where `broker install` looks.
func wingetManifests(r release) (map[string][]byte, error) {
	a, err := r.archive("windows", "amd64", ".zip")
	if err != nil {
		return nil, err
	}
	v := r.version()
	files := map[string]any{
		wingetID + ".yaml": wingetVersion{PackageIdentifier: wingetID, PackageVersion: v, DefaultLocale: "en-US",
			ManifestType: "version", ManifestVersion: wingetSchema},
		wingetID + ".locale.en-US.yaml": wingetLocale{PackageIdentifier: wingetID, PackageVersion: v, PackageLocale: "en-US",
			Publisher: publisher, PublisherURL: homepage, PackageName: name, PackageURL: homepage, License: r.License,
			ShortDescription: description, Moniker: name, Tags: []string{"entra-id", "mcp", "oauth", "token"},
			ManifestType: "defaultLocale", ManifestVersion: wingetSchema},
		wingetID + ".installer.yaml": wingetInstaller{PackageIdentifier: wingetID, PackageVersion: v,
			InstallerType: "zip", NestedInstallerType: "portable",
			NestedInstallerFiles: []wingetNestedFile{
				{RelativeFilePath: a.Top + `\broker.exe`, PortableCommandAlias: "broker"},
				{RelativeFilePath: a.Top + `\brokerw.exe`, PortableCommandAlias: "brokerw"},
			},
			Installers:   []wingetArch{{Architecture: "x64", InstallerURL: a.URL, InstallerSha256: strings.ToUpper(a.SHA256)}},
			ManifestType: "installer", ManifestVersion: wingetSchema},
	}
	out := map[string][]byte{}
	for n, m := range files {
		kind := strings.TrimSuffix(strings.TrimPrefix(n, wingetID), ".yaml")
		switch kind {
		case "":
			kind = "version"
		case ".locale.en-US":
			kind = "defaultLocale"
		default:
			kind = strings.TrimPrefix(kind, ".")
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "# Created by `make dist` (packaging/genmanifests).\n# yaml-language-server: $schema=https://aka.ms/winget-manifest.%s.%s.schema.json\n\n", kind, wingetSchema)
		enc := yaml.NewEncoder(&b)
		enc.SetIndent(2)
		if err := enc.Encode(m); err != nil {
			return nil, fmt.Errorf("writing %s: %w", n, err)
		}
		enc.Close()
		out[n] = b.Bytes()
	}
	return out, nil
}

// rubyString quotes s as a Ruby double-quoted string literal: backslash,
// double quote and "#" (interpolation) escaped, control characters as \xNN.
func rubyString(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\' || r == '#':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02X`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

var formula = template.Must(template.New("formula").Funcs(template.FuncMap{"q": rubyString}).Parse(`# Homebrew formula for {{.Name}}, written by ` + "`make dist`" + ` (packaging/genmanifests)
# with the SHA-256 sums of the release archives. The macOS binaries are built
# without cgo: no tray icon, notifications through osascript.
class McpTokenBroker < Formula
  desc {{q .Desc}}
  homepage {{q .Homepage}}
  version {{q .Version}}
{{- if .License}}
  license {{q .License}}
{{- end}}

  on_macos do
    on_arm do
      url {{q .MacArm.URL}}
      sha256 {{q .MacArm.SHA256}}
    end
    on_intel do
      url {{q .MacIntel.URL}}
      sha256 {{q .MacIntel.SHA256}}
    end
  end

  on_linux do
    on_arm do
      url {{q .LinuxArm.URL}}
      sha256 {{q .LinuxArm.SHA256}}
    end
    on_intel do
      url {{q .LinuxIntel.URL}}
      sha256 {{q .LinuxIntel.SHA256}}
    end
  end

  def install
    bin.install "broker"
    man1.install Dir["man/man1/*.1"]
    bash_completion.install "completions/broker.bash" => "broker"
    zsh_completion.install "completions/_broker"
    fish_completion.install "completions/broker.fish"
  end

  def caveats
    <<~EOS
      Run ` + "`broker install`" + ` to start the broker at login (macOS: a LaunchAgent;
      Linux: an XDG autostart entry). On macOS this build has no tray icon;
      build from source with CGO_ENABLED=1 for one.
    EOS
  end

  test do
    assert_match "broker ", shell_output("#{bin}/broker version")
  end
end
`))

func homebrewFormula(r release) ([]byte, error) {
	d := struct {
		Name, Desc, Homepage, Version, License string
		MacArm, MacIntel, LinuxArm, LinuxIntel archive
	}{Name: name, Desc: description, Homepage: homepage, Version: r.version()}
	if r.License != "Proprietary" { // Homebrew knows SPDX identifiers only
		d.License = r.License
	}
	var errs []error
	for _, a := range []struct {
		dst          *archive
		goos, goarch string
	}{{&d.MacArm, "darwin", "arm64"}, {&d.MacIntel, "darwin", "amd64"}, {&d.LinuxArm, "linux", "arm64"}, {&d.LinuxIntel, "linux", "amd64"}} {
		var err error
		*a.dst, err = r.archive(a.goos, a.goarch, ".tar.gz")
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	var b bytes.Buffer
	err := formula.Execute(&b, d)
	return b.Bytes(), err
}

// write writes every manifest of r under out.
func write(r release, out string) error {
	files := map[string][]byte{}
	b, err := scoopManifest(r)
	if err != nil {
		return fmt.Errorf("the Scoop manifest: %w", err)
	}
	files[filepath.Join("scoop", name+".json")] = b
	w, err := wingetManifests(r)
	if err != nil {
		return fmt.Errorf("the winget manifests: %w", err)
	}
	for n, b := range w {
		files[filepath.Join("winget", n)] = b
	}
	if b, err = homebrewFormula(r); err != nil {
		return fmt.Errorf("the Homebrew formula: %w", err)
	}
	files[filepath.Join("homebrew", name+".rb")] = b
	for n, b := range files {
		p := filepath.Join(out, n)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func main() {
	sums := flag.String("sums", "", "the release's SHA256SUMS")
	tag := flag.String("version", "", "the version in the archive names")
	url := flag.String("url", "", "where the archives are downloaded from (a folder URL)")
	license := flag.String("license", "Proprietary", "SPDX license identifier")
	out := flag.String("out", "", "folder to write scoop/, winget/ and homebrew/ into")
	flag.Parse()
	if *sums == "" || *tag == "" || *url == "" || *out == "" {
		fmt.Fprintln(os.Stderr, "genmanifests: -sums, -version, -url and -out are required\nhint: make dist runs it with them")
		os.Exit(2)
	}
	s, err := readSums(*sums)
	if err == nil {
		err = write(release{Tag: *tag, BaseURL: strings.TrimSuffix(*url, "/"), License: *license, Sums: s}, *out)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "genmanifests:", err)
		os.Exit(1)
	}
}
