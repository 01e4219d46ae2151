package config

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestAppendProfileKeepsEveryByte(t *testing.T) {
	t.Parallel()
	orig := "# my settings\r\n[settings]\r\nrefresh_before = \"20m\"   # keep this comment\r\n"
	p := write(t, "config.toml", orig)
	prof := Profile{Name: "data", Tenant: "contoso.onmicrosoft.com", ClientID: "11111111-2222-3333-4444-555555555555",
		Scopes: []string{"api://data-api/.default"}, Authority: "https://login.microsoftonline.us"}
	if err := AppendProfile(context.Background(), p, prof); err != nil {
		t.Fatal(err)
	}
	got, _ := os.ReadFile(p)
	if !strings.HasPrefix(string(got), orig) {
		t.Fatalf("the existing bytes changed:\n%q", got)
	}
	if strings.Contains(strings.ReplaceAll(string(got), "\r\n", ""), "\n") {
		t.Errorf("mixed line endings: %q", got)
	}
	c, err := Load("", p)
	if err != nil {
		t.Fatal(err)
	}
	if g := c.Profiles["data"]; g == nil || g.Tenant != prof.Tenant || g.Authority != prof.Authority || g.Scopes[0] != prof.Scopes[0] {
		t.Errorf("profile = %+v", g)
	}
	// The same profile again is refused and changes nothing.
	err = AppendProfile(context.Background(), p, prof)
	var ce *Error
	if !errors.As(err, &ce) || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second append: %v", err)
	}
	again, _ := os.ReadFile(p)
	if string(again) != string(got) {
		t.Error("a refused append changed the file")
	}
}

func TestAppendProfileCreatesFile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "new", "config.toml")
	prof := Profile{Name: "api", Tenant: "contoso.com", ClientID: "11111111-2222-3333-4444-555555555555", Scopes: []string{"api://x/.default"}}
	if err := AppendProfile(context.Background(), p, prof); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(p)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("stat = %v, %v", fi, err)
	}
	if _, err := Load("", p); err != nil {
		t.Fatal(err)
	}
}

func TestAppendProfileRefusesBrokenFileAndInvalidProfile(t *testing.T) {
	t.Parallel()
	broken := write(t, "config.toml", "[settings\n")
	prof := Profile{Name: "api", Tenant: "contoso.com", ClientID: "11111111-2222-3333-4444-555555555555", Scopes: []string{"api://x/.default"}}
	if err := AppendProfile(context.Background(), broken, prof); err == nil {
		t.Error("appended to a file that does not parse")
	}
	if b, _ := os.ReadFile(broken); string(b) != "[settings\n" {
		t.Errorf("broken file changed: %q", b)
	}
	p := filepath.Join(t.TempDir(), "config.toml")
	prof.ClientID = ""
	if err := AppendProfile(context.Background(), p, prof); err == nil || !strings.Contains(err.Error(), "client_id") {
		t.Errorf("err = %v, want a client_id error", err)
	}
	if _, err := os.Stat(p); !errors.Is(err, os.ErrNotExist) {
		t.Error("an invalid profile created the file")
	}
}

// A profile whose tokens come from az needs no client_id, and gets no
// placeholder for one.
func TestAppendAzureCLIProfile(t *testing.T) {
	t.Parallel()
	p := filepath.Join(t.TempDir(), "config.toml")
	prof := Profile{Name: "api", Tenant: "contoso.com", Scopes: []string{"api://x/.default"}, Login: LoginAzureCLI}
	if err := AppendProfile(context.Background(), p, prof); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if want := "[profiles.api]\ntenant = \"contoso.com\"\nscopes = [\"api://x/.default\"]\nlogin = \"azurecli\"\n"; string(b) != want {
		t.Errorf("file:\n%s\nwant:\n%s", b, want)
	}
	cfg, err := Load("", p)
	if err != nil || cfg.Profiles["api"].Login != LoginAzureCLI {
		t.Fatalf("Load: %v", err)
	}
}
