package installer_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/installer"
)

const specialUnix = "/home/alice/a & b (x);#~*[]<>|?/broker"

func TestRenderGolden(t *testing.T) {
	t.Parallel()
	cases := []struct {
		golden string
		render func() ([]byte, error)
	}{
		{"autostart.desktop", func() ([]byte, error) { return installer.RenderDesktopEntry("/home/alice/.local/bin/broker") }},
		{"autostart-spaces.desktop", func() ([]byte, error) { return installer.RenderDesktopEntry("/home/alice/My Apps/broker") }},
		{"autostart-special.desktop", func() ([]byte, error) { return installer.RenderDesktopEntry(specialUnix) }},
		{"systemd.service", func() ([]byte, error) { return installer.RenderSystemdUnit("/home/alice/.local/bin/broker") }},
		{"systemd-spaces.service", func() ([]byte, error) { return installer.RenderSystemdUnit("/home/alice/My Apps/50% off/broker") }},
		{"launchagent.plist", func() ([]byte, error) { return installer.RenderLaunchAgent("/Users/alice/.local/bin/broker") }},
		{"launchagent-special.plist", func() ([]byte, error) { return installer.RenderLaunchAgent(`/Users/alice/A & B <x> "y" 'z'/broker`) }},
		{"windows-run.txt", func() ([]byte, error) {
			v, err := installer.RenderRunValue(`C:\Program Files\mcp token broker\broker.exe`)
			return []byte(v + "\n"), err
		}},
	}
	for _, c := range cases {
		t.Run(c.golden, func(t *testing.T) {
			t.Parallel()
			got, err := c.render()
			if err != nil {
				t.Fatal(err)
			}
			golden(t, c.golden, got)
		})
	}
}

func TestDesktopEntryValidates(t *testing.T) {
	t.Parallel()
	validate := needTool(t, "desktop-file-validate")
	dir := t.TempDir()
	for name, exe := range weirdPaths("/home/alice") {
		content, err := installer.RenderDesktopEntry(exe)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		p := filepath.Join(dir, name+".desktop")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		out, err := exec.Command(validate, p).CombinedOutput()
		if err != nil || len(out) > 0 { // warnings and hints count too
			t.Errorf("desktop-file-validate %s: %v\n%s\n%s", name, err, out, content)
		}
	}
}

func TestDesktopEntryRefusesUnstartablePaths(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{"/home/alice/a\nb/broker", `/home/a"b/broker`, `/home/a'b/broker`, `/home/a\b/broker`, "/home/50%/broker", "/home/$HOME/broker", "/home/a`b`/broker"} {
		if _, err := installer.RenderDesktopEntry(bad); err == nil {
			t.Errorf("RenderDesktopEntry(%q) rendered an entry that desktops cannot start", bad)
		}
	}
}

// plistDTD is Apple's PropertyList-1.0 DTD (the elements a plist may hold),
// so that xmllint validates offline.
const plistDTD = `<!ENTITY % plistObject "(array | data | date | dict | real | integer | string | true | false )" >
<!ELEMENT plist %plistObject;>
<!ATTLIST plist version CDATA "1.0" >
<!ELEMENT array (%plistObject;)*>
<!ELEMENT dict (key, %plistObject;)*>
<!ELEMENT key (#PCDATA)>
<!ELEMENT string (#PCDATA)>
<!ELEMENT data (#PCDATA)>
<!ELEMENT date (#PCDATA)>
<!ELEMENT true EMPTY>
<!ELEMENT false EMPTY>
<!ELEMENT real (#PCDATA)>
<!ELEMENT integer (#PCDATA)>
`

// plistDict reads a flat plist dict: key → string, bool ("true"/"false") or
// the array's strings joined by "\x00".
func plistDict(t *testing.T, content []byte) map[string]string {
	t.Helper()
	var doc struct {
		Dict struct {
			Items []struct {
				XMLName xml.Name
				Text    string   `xml:",chardata"`
				Strings []string `xml:"string"`
			} `xml:",any"`
		} `xml:"dict"`
	}
	if err := xml.Unmarshal(content, &doc); err != nil {
		t.Fatalf("parsing the plist: %v", err)
	}
	m := map[string]string{}
	items := doc.Dict.Items
	for i := 0; i+1 < len(items); i += 2 {
		if items[i].XMLName.Local != "key" {
			t.Fatalf("item %d is <%s>, want <key>", i, items[i].XMLName.Local)
		}
		v := items[i+1]
		switch v.XMLName.Local {
		case "true", "false":
			m[items[i].Text] = v.XMLName.Local
		case "array":
			m[items[i].Text] = strings.Join(v.Strings, "\x00")
		default:
			m[items[i].Text] = v.Text
		}
	}
	return m
}

func TestLaunchAgentPlist(t *testing.T) {
	t.Parallel()
	xmllint := needTool(t, "xmllint")
	dir := t.TempDir()
	dtd := filepath.Join(dir, "plist.dtd")
	if err := os.WriteFile(dtd, []byte(plistDTD), 0o644); err != nil {
		t.Fatal(err)
	}
	// A catalog maps the plist's DOCTYPE to the local DTD: --valid then
	// checks the file against the DTD it names, with no network.
	catalog := filepath.Join(dir, "catalog.xml")
	if err := os.WriteFile(catalog, []byte(`<?xml version="1.0"?>
<catalog xmlns="urn:oasis:names:tc:entity:xmlns:xml:catalog">
  <public publicId="-//Apple//DTD PLIST 1.0//EN" uri="file://`+dtd+`"/>
</catalog>
`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, exe := range []string{"/Users/alice/.local/bin/broker", `/Users/alice/A & B <x> "y" 'z' ]]>/broker`} {
		content, err := installer.RenderLaunchAgent(exe)
		if err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, "agent.plist")
		if err := os.WriteFile(p, content, 0o644); err != nil {
			t.Fatal(err)
		}
		for _, args := range [][]string{{"--noout", "--nonet", p}, {"--noout", "--nonet", "--valid", p}} {
			cmd := exec.Command(xmllint, args...)
			cmd.Env = append(os.Environ(), "XML_CATALOG_FILES="+catalog)
			if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
				t.Errorf("xmllint %v: %v\n%s\n%s", args, err, out, content)
			}
		}
		got := plistDict(t, content)
		want := map[string]string{
			"Label":                  installer.LaunchdLabel,
			"ProgramArguments":       exe + "\x00run",
			"RunAtLoad":              "true",
			"KeepAlive":              "false",
			"ProcessType":            "Interactive",
			"LimitLoadToSessionType": "Aqua",
		}
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("plist for %q (-want +got):\n%s", exe, d)
		}
	}
}

func TestSystemdUnit(t *testing.T) {
	t.Parallel()
	content, err := installer.RenderSystemdUnit("/home/alice/.local/bin/broker")
	if err != nil {
		t.Fatal(err)
	}
	install := regexp.MustCompile(`(?ms)^\[Install\]\n(.*)`).FindSubmatch(content)
	if install == nil || !regexp.MustCompile(`(?m)^WantedBy=default\.target$`).Match(install[1]) {
		t.Errorf("[Install] has no WantedBy=default.target:\n%s", content)
	}
	if bytes.Contains(content, []byte("multi-user.target")) {
		t.Errorf("a user unit wanted by multi-user.target never starts:\n%s", content)
	}
	if !bytes.Contains(content, []byte("\nExecStart=/home/alice/.local/bin/broker run --no-tray\n")) {
		t.Errorf("ExecStart is not `<abs> run --no-tray`:\n%s", content)
	}
	for _, bad := range []string{`/home/a"b/broker`, `/home/a'b/broker`, `/home/a\b/broker`, "/home/a\nb/broker", "/home/{{x}}/broker"} {
		if _, err := installer.RenderSystemdUnit(bad); err == nil {
			t.Errorf("RenderSystemdUnit(%q) rendered a unit systemd refuses", bad)
		}
	}
}

// TestSystemdUnitVerifies has systemd parse the unit: systemd-analyze
// verify resolves ExecStart's program and says when it is not there, so
// the quoting of paths with spaces, %, $ and ; is checked by systemd itself.
func TestSystemdUnitVerifies(t *testing.T) {
	t.Parallel()
	analyze := needTool(t, "systemd-analyze")
	dir := t.TempDir()
	for _, sub := range []string{"plain", "with space", "fifty%", "dollar$HOME", "semi;colon"} {
		exe := filepath.Join(dir, sub, "broker")
		fakeBroker(t, exe, filepath.Join(dir, "record"))
		content, err := installer.RenderSystemdUnit(exe)
		if err != nil {
			t.Fatal(err)
		}
		unit := filepath.Join(dir, installer.Name+".service")
		if err := os.WriteFile(unit, content, 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(analyze, "verify", "--man=no", unit)
		cmd.Dir = dir
		if out, err := cmd.CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("systemd-analyze verify for %q: %v\n%s\n%s", exe, err, out, content)
		}
		// The same unit with the binary gone must fail: verify does look.
		if sub == "with space" {
			os.Rename(exe, exe+".gone")
			if out, err := exec.Command(analyze, "verify", "--man=no", unit).CombinedOutput(); err == nil {
				t.Errorf("systemd-analyze verify passed with the binary missing:\n%s", out)
			}
			os.Rename(exe+".gone", exe)
		}
	}
}
