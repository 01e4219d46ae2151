package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
)

const (
	e2eApp     = "6d1b5a3e-2f4c-4e8a-9b7d-0c1e2f3a4b5c"
	e2eMI      = "9a4e8d6b-5c7f-4b1d-8e2a-3f4a5b6c7d8e"
	e2eSubject = "system:serviceaccount:agents:mcp-agent"
)

// appWorld is a temporary HOME with a simulator over TLS (trusted through
// the profile's ca_file, not SSL_CERT_FILE), one unattended profile with a
// file target, and the real broker binary.
type appWorld struct {
	t      *testing.T
	bin    string
	sim    *entrasim.Server
	env    []string
	dir    string
	target string
	sock   string
	log    string
}

func newAppWorld(t *testing.T, login string, version int) *appWorld {
	t.Helper()
	s, err := entrasim.Start(entrasim.Options{TokenVersion: version, Lifetime: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	dir := t.TempDir()
	home := filepath.Join(dir, "home")
	run := filepath.Join(dir, "run")
	w := &appWorld{t: t, bin: buildBroker(t), sim: s, dir: dir, target: filepath.Join(home, "tok", "token.txt"),
		sock: filepath.Join(run, "mcp-token-broker", "broker.sock"),
		log:  filepath.Join(home, ".local", "state", "mcp-token-broker", "broker.log")}
	ca := filepath.Join(dir, "ca.pem")
	if err := s.WriteCA(ca); err != nil {
		t.Fatal(err)
	}
	w.env = isolatedEnv("HOME="+home, "XDG_RUNTIME_DIR="+run, "BROKER_NO_DAEMON=",
		"BROKER_ADMIN_CONFIG="+filepath.Join(dir, "no-admin.toml"),
		"DBUS_SESSION_BUS_ADDRESS=unix:path="+filepath.Join(dir, "no-bus"),
		"IDENTITY_ENDPOINT=", "IDENTITY_HEADER=", "AZURE_FEDERATED_TOKEN_FILE=", "AZURE_CLIENT_ID=", "AZURE_TENANT_ID=", "AZURE_AUTHORITY_HOST=")

	var keys string
	switch login {
	case "certificate":
		pemData, der, err := entrasim.NewClientCertificate("mcp agent")
		if err != nil {
			t.Fatal(err)
		}
		s.RegisterApp(entrasim.ConfidentialApp{ClientID: e2eApp, Certificates: [][]byte{der}, Roles: []string{entrasim.DefaultAppRole}})
		pem := filepath.Join(dir, "agent.pem")
		if err := os.WriteFile(pem, pemData, 0o600); err != nil {
			t.Fatal(err)
		}
		keys = fmt.Sprintf("tenant = %q\nclient_id = %q\ncertificate = %q\n", s.TenantID(), e2eApp, pem)
	case "workload-identity":
		s.RegisterApp(entrasim.ConfidentialApp{ClientID: e2eApp, Roles: []string{entrasim.DefaultAppRole},
			Federated: []entrasim.FederatedCredential{{Issuer: s.FederatedIssuer(), Subject: e2eSubject}}})
		w.writeFederated(entrasim.FederatedTokenOpts{Subject: e2eSubject})
		// As Azure workload identity sets them in the pod.
		w.env = append(w.env, "AZURE_FEDERATED_TOKEN_FILE="+w.federatedFile(), "AZURE_CLIENT_ID="+e2eApp, "AZURE_TENANT_ID="+s.TenantID())
	case "managed-identity":
		s.AddManagedIdentity(entrasim.ManagedIdentity{ClientID: e2eMI, UserAssigned: true, Roles: []string{entrasim.DefaultAppRole}})
		endpoint, header := s.ManagedIdentityEnv()
		w.env = append(w.env, "IDENTITY_ENDPOINT="+endpoint, "IDENTITY_HEADER="+header)
		keys = fmt.Sprintf("managed_identity_client_id = %q\n", e2eMI)
	}
	cfg := fmt.Sprintf(`[settings]
refresh_before = "5m"
log_level = "debug"

[profiles.ci]
login = %q
scopes = [%q]
authority = %q
ca_file = %q
%s
[[profiles.ci.targets]]
client = "file"
path = %q
`, login, s.Scope(), s.URL(), ca, keys, w.target)
	cdir := filepath.Join(home, ".config", "mcp-token-broker")
	for _, d := range []string{cdir, filepath.Dir(w.target)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(cdir, "config.toml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if t.Failed() {
			b, _ := os.ReadFile(w.log)
			t.Logf("config:\n%s\ndaemon log:\n%s", cfg, b)
		}
	})
	return w
}

func (w *appWorld) federatedFile() string { return filepath.Join(w.dir, "azure-identity-token") }

// writeFederated rotates the federated token file as the kubelet does:
// a new file renamed over the old one.
func (w *appWorld) writeFederated(o entrasim.FederatedTokenOpts) {
	w.t.Helper()
	tmp := w.federatedFile() + ".tmp"
	if err := os.WriteFile(tmp, []byte(w.sim.IssueFederatedToken(o)), 0o600); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Rename(tmp, w.federatedFile()); err != nil {
		w.t.Fatal(err)
	}
}

// broker runs the CLI: stdout, stderr, exit code.
func (w *appWorld) broker(args ...string) (string, string, int) {
	w.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, w.bin, args...)
	cmd.Env = w.env
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		return out.String(), errOut.String(), ee.ExitCode()
	case err != nil:
		w.t.Fatalf("broker %v: %v", args, err)
	}
	return out.String(), errOut.String(), 0
}

func (w *appWorld) must(args ...string) string {
	w.t.Helper()
	out, errOut, code := w.broker(args...)
	if code != 0 {
		w.t.Fatalf("broker %s exited %d:\n%s%s", strings.Join(args, " "), code, daemonJWT.ReplaceAllString(out, "<token>"), errOut)
	}
	if daemonJWT.MatchString(errOut) {
		w.t.Errorf("broker %s printed a token on stderr", strings.Join(args, " "))
	}
	return out
}

func (w *appWorld) status() state.Profile {
	w.t.Helper()
	out := w.must("status", "--json")
	if daemonJWT.MatchString(out) {
		w.t.Errorf("status shows a token")
	}
	var st state.Status
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Profiles) != 1 {
		w.t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st.Profiles[0]
}

// checkAppToken checks a token printed by the broker: an app token for
// the API, with the role and without scp.
func (w *appWorld) checkAppToken(raw, client string) token.Claims {
	w.t.Helper()
	c, err := token.ParseClaims(strings.TrimSpace(raw))
	if err != nil {
		w.t.Fatalf("not a JWT: %v", err)
	}
	if len(c.Aud) != 1 || c.Aud[0] != w.sim.TokenAudience() || c.Iss != w.sim.TokenIssuer() || c.AppID != client ||
		len(c.Roles) != 1 || c.Roles[0] != entrasim.DefaultAppRole || len(c.Scp) != 0 || c.User != "" {
		w.t.Errorf("claims %+v: want aud %s, iss %s, app %s, roles [%s], no scp, no user", c, w.sim.TokenAudience(), w.sim.TokenIssuer(), client, entrasim.DefaultAppRole)
	}
	return c
}

func (w *appWorld) waitFor(what string, cond func() bool) {
	w.t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(100 * time.Millisecond) {
		if time.Now().After(deadline) {
			w.t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (w *appWorld) grants(since time.Time) int {
	n := 0
	for _, r := range w.sim.Requests() {
		if !r.Time.Before(since) && (r.GrantType == "client_credentials" || r.Path == "/msi/token") && r.Status == 200 {
			n++
		}
	}
	return n
}

// TestUnattendedSources: for a certificate, workload identity and a
// managed identity, the real binary against the simulator over TLS gets
// an app token (the API's audience, roles) with `login` (no user),
// prints it with `token` and `headers`, shows the source in `status`,
// and the daemon (`broker run`, brokerd as always) acquires a new one
// ahead of expiry and writes it to the target.
func TestUnattendedSources(t *testing.T) {
	for _, tc := range []struct {
		login   string
		version int
		client  string
		account string
		source  string
	}{
		{"certificate", 2, e2eApp, "app " + e2eApp, "service principal " + e2eApp + " with the certificate"},
		{"workload-identity", 1, e2eApp, "app " + e2eApp, "workload identity: service principal " + e2eApp + " with the federated token in $AZURE_FEDERATED_TOKEN_FILE"},
		{"managed-identity", 2, e2eMI, "managed identity " + e2eMI, "managed identity (user-assigned " + e2eMI + ") of this host, from the App Service endpoint https://"},
	} {
		t.Run(tc.login, func(t *testing.T) {
			t.Parallel()
			w := newAppWorld(t, tc.login, tc.version)

			// No user is needed: before any token the profile is ok.
			if st := w.status(); st.State != state.OK || st.Account != tc.account || st.ExpiresOn != nil {
				t.Errorf("status before login: %+v", st)
			}
			out := w.must("login")
			if want := "got a token for profile ci (" + tc.account + ", no user)"; !strings.Contains(out, want) {
				t.Errorf("login said %q, want %q", out, want)
			}
			tok := w.must("token")
			w.checkAppToken(tok, tc.client)
			if got, _ := os.ReadFile(w.target); strings.TrimSpace(string(got)) != strings.TrimSpace(tok) {
				t.Errorf("login did not write the file target")
			}
			hdr := w.must("headers")
			var h map[string]string
			if err := json.Unmarshal([]byte(hdr), &h); err != nil || h["Authorization"] != "Bearer "+strings.TrimSpace(tok) {
				t.Errorf("headers printed %q, want the token", daemonJWT.ReplaceAllString(hdr, "<token>"))
			}
			st := w.status()
			if st.State != state.OK || st.Account != tc.account || st.Source != tc.login {
				t.Errorf("status: state %q account %q source %q; want ok, %q, %q", st.State, st.Account, st.Source, tc.account, tc.login)
			}
			if text := w.must("status"); !strings.Contains(text, "  source: "+tc.login+" (app tokens ") || !strings.Contains(text, ", no user)") {
				t.Errorf("status text has no source line:\n%s", text)
			}
			doc, _, _ := w.broker("doctor")
			if !strings.Contains(doc, "ci source                    login = \""+tc.login+"\": "+tc.source) ||
				!strings.Contains(doc, "ci sign-in                   no user signs in: an app token for "+tc.account) ||
				!strings.Contains(doc, "roles "+entrasim.DefaultAppRole+", tid ") ||
				!strings.Contains(doc, `<required-claims><claim name="roles" match="any"><value>`+entrasim.DefaultAppRole+`</value></claim></required-claims>`) || !strings.Contains(doc, ", app "+tc.client+", expires") ||
				strings.Contains(doc, ", scp ") || daemonJWT.MatchString(doc) {
				t.Errorf("doctor does not show the source and the app token's roles:\n%s", doc)
			}

			// The daemon: a token with less than refresh_before left is
			// replaced by a new one (client credentials or the identity
			// endpoint again, no refresh token), and the target gets it.
			w.sim.SetLifetime(303 * time.Second)
			w.broker("token", "--min-validity", "1h") // forces an acquisition, whose token is too short for it
			short := strings.TrimSpace(w.must("token", "--min-validity", "4m"))
			if exp, _ := jwtExp(short); time.Until(exp) > 303*time.Second {
				t.Fatalf("the short token expires at %s", exp)
			}
			w.sim.SetLifetime(time.Hour)
			since := time.Now()
			d := exec.Command(w.bin, "run", "--no-tray")
			d.Env = w.env
			if err := d.Start(); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { d.Process.Kill(); d.Wait() })
			w.waitFor("the target to hold a fresh token", func() bool {
				b, _ := os.ReadFile(w.target)
				held := strings.TrimSpace(string(b))
				exp, err := jwtExp(held)
				return err == nil && time.Until(exp) > 55*time.Minute && held != strings.TrimSpace(tok)
			})
			if n := w.grants(since); n != 1 {
				t.Errorf("the daemon made %d acquisitions, want 1", n)
			}
			w.waitFor("the daemon to answer", func() bool {
				c, err := localapi.DialAddress(context.Background(), w.sock)
				if err != nil {
					return false
				}
				defer c.Close()
				s, err := c.Status(context.Background())
				return err == nil && s.Daemon.Running && len(s.Profiles) == 1 && s.Profiles[0].Source == tc.login
			})
			fresh, _ := os.ReadFile(w.target)
			if got := w.must("token"); strings.TrimSpace(got) != strings.TrimSpace(string(fresh)) {
				t.Errorf("token through the daemon is not the target's")
			}
			w.checkAppToken(string(fresh), tc.client)
			if st := w.status(); st.State != state.OK || st.Source != tc.login || st.NextRefresh == nil {
				t.Errorf("daemon status: %+v", st)
			}
			// login with the daemon running: the daemon gets the token.
			if out := w.must("login"); !strings.Contains(out, "got a token for profile ci ("+tc.account+", no user)") {
				t.Errorf("login through the daemon said %q", out)
			}
			if b, _ := os.ReadFile(w.log); daemonJWT.Match(b) || !bytes.Contains(b, []byte("app token acquired")) {
				t.Errorf("daemon log: token shown %v, acquisition logged %v", daemonJWT.Match(b), bytes.Contains(b, []byte("app token acquired")))
			}
		})
	}
}

// TestFederatedTokenRotation: the federated token file is read again at
// each acquisition. An expired token in it is a temporary failure (exit
// 4) that says so; once the platform rotates the file, the next token
// comes from the new one. Through the daemon too.
func TestFederatedTokenRotation(t *testing.T) {
	t.Parallel()
	w := newAppWorld(t, "workload-identity", 2)
	w.sim.SetLifetime(303 * time.Second)
	w.must("login")
	first := strings.TrimSpace(w.must("token", "--min-validity", "4m"))

	w.writeFederated(entrasim.FederatedTokenOpts{Subject: e2eSubject, Lifetime: -time.Minute})
	w.waitFor("the token to have less than 5 minutes left", func() bool {
		exp, err := jwtExp(first)
		return err == nil && time.Until(exp) < 5*time.Minute
	})
	_, errOut, code := w.broker("token")
	if code != 4 || !strings.Contains(errOut, "the federated token in "+w.federatedFile()+" expired") || !strings.Contains(errOut, "hint:") {
		t.Errorf("token with an expired federated token: exit %d, stderr %q; want 4 and why", code, errOut)
	}

	w.writeFederated(entrasim.FederatedTokenOpts{Subject: e2eSubject})
	second := strings.TrimSpace(w.must("token"))
	if second == first {
		t.Errorf("the rotated token file was not used")
	}
	w.checkAppToken(second, e2eApp)

	// The daemon reads the file again at each of its acquisitions too.
	w.sim.SetLifetime(time.Hour)
	d := exec.Command(w.bin, "run", "--no-tray")
	d.Env = w.env
	if err := d.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Process.Kill(); d.Wait() })
	held := func() string { b, _ := os.ReadFile(w.target); return strings.TrimSpace(string(b)) }
	w.waitFor("the daemon to replace the short token", func() bool {
		exp, err := jwtExp(held())
		return err == nil && time.Until(exp) > 55*time.Minute
	})
	third := held()
	c, err := localapi.DialAddress(context.Background(), w.sock)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	w.writeFederated(entrasim.FederatedTokenOpts{Subject: "system:serviceaccount:agents:other"})
	if err := c.RefreshNow(ctx, "ci"); err == nil || !strings.Contains(err.Error(), "AADSTS700213") {
		t.Errorf("refresh with a token file of another subject: %v", err)
	}
	if st := w.status(); !strings.Contains(st.LastError, "AADSTS700213") || held() != third {
		t.Errorf("after a refused refresh: status %+v, target changed %v", st, held() != third)
	}
	w.writeFederated(entrasim.FederatedTokenOpts{Subject: e2eSubject})
	if err := c.RefreshNow(ctx, "ci"); err != nil {
		t.Fatalf("refresh after the file was rotated: %v", err)
	}
	w.waitFor("the target to get the new token", func() bool { return held() != third })
	w.checkAppToken(held(), e2eApp)
	if st := w.status(); st.State != state.OK || st.LastError != "" {
		t.Errorf("after the rotation: %+v", st)
	}
}
