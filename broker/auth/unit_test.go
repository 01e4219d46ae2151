package auth

import (
	"bytes"
	"context"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// callErr builds the error MSAL returns for an HTTP answer.
func callErr(status int, header http.Header, body string) error {
	resp := &http.Response{StatusCode: status, Header: header, Body: io.NopCloser(strings.NewReader(body))}
	if header == nil {
		resp.Header = http.Header{}
	}
	return fmt.Errorf("wrapped: %w", msalerrors.CallErr{Resp: resp,
		Err: fmt.Errorf("http call(x)(POST) error: reply status code was %d:\n%s", status, body)})
}

func aadBody(oauthErr string, code int) string {
	return fmt.Sprintf(`{"error":%q,"error_description":"AADSTS%d: Something happened. Trace ID: x","error_codes":[%d]}`, oauthErr, code, code)
}

// TestEveryListedCodeHasItsClass covers the codes DESIGN.md lists, one by
// one, through the same path as a real MSAL error.
func TestEveryListedCodeHasItsClass(t *testing.T) {
	t.Parallel()
	want := map[Class][]int{
		ClassSignInRequired: {50076, 50079, 65001, 70008, 700082, 50173, 50133, 53003},
		ClassMisconfigured:  {700016, 7000218, 650053, 500011, 90002, 9002327},
	}
	for class, codes := range want {
		for _, code := range codes {
			e := Classify(callErr(400, nil, aadBody("invalid_grant", code)))
			if e.Class != class || e.Code != fmt.Sprint(code) {
				t.Errorf("AADSTS%d: class %s code %q, want %s", code, e.Class, e.Code, class)
			}
			if e.Hint == "" || !strings.Contains(e.Message, fmt.Sprint(code)) || e.Message[0] < 'a' || e.Message[0] > 'z' || strings.HasSuffix(e.Message, ".") {
				t.Errorf("AADSTS%d: message %q hint %q", code, e.Message, e.Hint)
			}
			if class == ClassSignInRequired && !errors.Is(e, ErrSignInRequired) {
				t.Errorf("AADSTS%d does not match ErrSignInRequired", code)
			}
		}
	}
}

func TestClassifyHTTPAndNetwork(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		err   error
		class Class
		retry time.Duration
	}{
		{"invalid_grant without code", callErr(400, nil, `{"error":"invalid_grant","error_description":"bad"}`), ClassSignInRequired, 0},
		{"interaction_required", callErr(400, nil, `{"error":"interaction_required"}`), ClassSignInRequired, 0},
		{"503 with Retry-After", callErr(503, http.Header{"Retry-After": {"30"}}, `{"error":"temporarily_unavailable"}`), ClassTemporary, 30 * time.Second},
		{"502 empty body", callErr(502, nil, ""), ClassTemporary, 0},
		{"429", callErr(429, http.Header{"Retry-After": {"5"}}, `{"error":"throttled"}`), ClassTemporary, 5 * time.Second},
		{"invalid_client", callErr(401, nil, `{"error":"invalid_client"}`), ClassMisconfigured, 0},
		{"deadline", fmt.Errorf("x: %w", context.DeadlineExceeded), ClassTemporary, 0},
		{"refused", &os.SyscallError{Syscall: "connect", Err: syscall.ECONNREFUSED}, ClassTemporary, 0},
		{"authorize redirect error", errors.New("AADSTS65004: User declined to consent"), ClassSignInRequired, 0},
		{"no refresh token", errors.New("no token found"), ClassSignInRequired, 0},
		{"other", errors.New("Boom"), ClassUnknown, 0},
	}
	for _, tc := range cases {
		e := Classify(tc.err)
		if e.Class != tc.class || e.RetryAfter != tc.retry {
			t.Errorf("%s: class %s retry %s, want %s %s (%q)", tc.name, e.Class, e.RetryAfter, tc.class, tc.retry, e.Message)
		}
	}
	if Classify(nil) != nil {
		t.Errorf("Classify(nil) != nil")
	}
}

func TestBodyStaysReadable(t *testing.T) {
	t.Parallel()
	err := callErr(400, nil, aadBody("invalid_grant", 70008))
	Classify(err)
	var ce msalerrors.CallErr
	errors.As(err, &ce)
	b, _ := io.ReadAll(ce.Resp.Body)
	if !bytes.Contains(b, []byte("70008")) {
		t.Errorf("body consumed: %q", b)
	}
}

func TestBrowserArgv(t *testing.T) {
	t.Parallel()
	const u = "https://login.example/authorize?a=1&b=2"
	cases := []struct {
		env, goos string
		want      []string
	}{
		{"", "linux", []string{"xdg-open", u}},
		{"", "darwin", []string{"open", u}},
		{"", "windows", []string{"rundll32", "url.dll,FileProtocolHandler", u}},
		{"firefox", "linux", []string{"firefox", u}},
		{"firefox --new-window", "linux", []string{"firefox", "--new-window", u}},
		{`"/opt/my browser/run" --url=%s --x`, "linux", []string{"/opt/my browser/run", "--url=" + u, "--x"}},
		{`entrasim browse`, "linux", []string{"entrasim", "browse", u}},
		{`/usr/bin/env 'a b' c\ d "e\"f"`, "linux", []string{"/usr/bin/env", "a b", "c d", `e"f`, u}},
		// Windows: backslashes are path separators, quotes group.
		{`C:\Tools\browse.exe`, "windows", []string{`C:\Tools\browse.exe`, u}},
		{`"C:\Program Files\Mozilla Firefox\firefox.exe" -new-window %s`, "windows", []string{`C:\Program Files\Mozilla Firefox\firefox.exe`, "-new-window", u}},
		{`C:\sim\entrasim.exe browse --ca "C:\Users\a b\ca.pem"`, "windows", []string{`C:\sim\entrasim.exe`, "browse", "--ca", `C:\Users\a b\ca.pem`, u}},
		{`run.exe "say \"hi\"" "a""b" \\server\share\x`, "windows", []string{"run.exe", `say "hi"`, `a"b`, `\\server\share\x`, u}},
		{`run.exe "C:\dir\\"`, "windows", []string{"run.exe", `C:\dir\`, u}},
	}
	for _, tc := range cases {
		got, err := browserArgv(tc.env, u, tc.goos)
		if err != nil {
			t.Errorf("%q: %v", tc.env, err)
			continue
		}
		if d := cmp.Diff(tc.want, got); d != "" {
			t.Errorf("%q (-want +got):\n%s", tc.env, d)
		}
	}
	for _, bad := range []string{`"unterminated`, `'x`} {
		if _, err := browserArgv(bad, u, "linux"); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
	if _, err := browserArgv(`"C:\unterminated`, u, "windows"); err == nil {
		t.Error("windows: unterminated quote: no error")
	}
}

func TestBrowserOpenerRunsTheCommand(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	out := filepath.Join(dir, "args")
	script := filepath.Join(dir, "my browser")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nprintf '%s\\n' \"$@\" > \""+out+"\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	u := "http://127.0.0.1:1/authorize?x=1&y='z'"
	if err := BrowserOpener(`'` + script + `' --flag`)(u); err != nil {
		t.Fatalf("opener: %v", err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := string(b); got != "--flag\n"+u+"\n" {
		t.Errorf("args = %q", got)
	}
	fail := filepath.Join(dir, "fail")
	os.WriteFile(fail, []byte("#!/bin/sh\necho no display >&2\nexit 3\n"), 0o755)
	if err := BrowserOpener(fail)(u); err == nil || !strings.Contains(err.Error(), "no display") {
		t.Errorf("failing browser: %v", err)
	}
	if err := BrowserOpener(filepath.Join(dir, "missing"))(u); err == nil {
		t.Errorf("missing browser: no error")
	}
}

func TestAuthorityAndDiscovery(t *testing.T) {
	t.Parallel()
	cases := []struct {
		authority, tenant string
		want              string
		discovery         bool
	}{
		{"", "contoso.onmicrosoft.com", "https://login.microsoftonline.com/contoso.onmicrosoft.com", true},
		{"https://login.microsoftonline.us/", "t", "https://login.microsoftonline.us/t", true},
		{"https://login.partner.microsoftonline.cn", "t", "https://login.partner.microsoftonline.cn/t", true},
		{"https://127.0.0.1:8443", "t", "https://127.0.0.1:8443/t", false},
		{"https://login.example.com", "t", "https://login.example.com/t", false},
	}
	for _, tc := range cases {
		got, host, err := authorityURL(&config.Profile{Name: "p", Authority: tc.authority, Tenant: tc.tenant})
		disc := isMicrosoftHost(host)
		if err != nil || got != tc.want || disc != tc.discovery {
			t.Errorf("%q: %q %v %v, want %q %v", tc.authority, got, disc, err, tc.want, tc.discovery)
		}
	}
	if _, _, err := authorityURL(&config.Profile{Name: "p", Authority: "http://x", Tenant: "t"}); ClassOf(err) != ClassMisconfigured {
		t.Errorf("http authority: %v", err)
	}
}

func TestDecodeClaims(t *testing.T) {
	t.Parallel()
	jwt := func(payload string) string {
		return "eyJhbGciOiJub25lIn0." + b64(payload) + ".sig"
	}
	c, err := token.ParseClaims(jwt(`{"aud":["api://x","y"],"tid":"t","upn":"u","scp":"a b","exp":10}`))
	if err != nil || c.Aud[0] != "api://x" || c.User != "u" || strings.Join(c.Scp, " ") != "a b" || c.Exp != 10 {
		t.Errorf("ParseClaims = %+v, %v", c, err)
	}
	if _, err := token.ParseClaims("opaque"); err == nil {
		t.Errorf("opaque token decoded")
	}
	for _, aud := range []string{GraphAppID, "https://graph.microsoft.com", "https://graph.microsoft.com/"} {
		if !IsGraphAudience(aud) {
			t.Errorf("%q is Graph", aud)
		}
	}
	if IsGraphAudience("api://mcp") {
		t.Errorf("api://mcp is not Graph")
	}
}

func b64(s string) string {
	return strings.TrimRight(base64.RawURLEncoding.EncodeToString([]byte(s)), "=")
}

// The TLS hint says what works on each OS: Go ignores SSL_CERT_FILE on
// Windows and macOS (it verifies with the system's store there).
func TestTLSHintPerOS(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		goos      string
		want, not []string
	}{
		{"windows", []string{"ca_file", "certutil -user -addstore Root", "Trusted Root"}, []string{"point SSL_CERT_FILE"}},
		{"darwin", []string{"ca_file", "keychain", "security add-trusted-cert"}, []string{"point SSL_CERT_FILE"}},
		{"linux", []string{"ca_file", "point SSL_CERT_FILE", "update-ca-certificates"}, []string{"certutil", "keychain"}},
	} {
		h := tlsHint(tc.goos)
		for _, w := range tc.want {
			if !strings.Contains(h, w) {
				t.Errorf("%s: hint %q lacks %q", tc.goos, h, w)
			}
		}
		for _, n := range tc.not {
			if strings.Contains(h, n) {
				t.Errorf("%s: hint %q says %q", tc.goos, h, n)
			}
		}
	}
	// Classify gives this OS's hint for an untrusted certificate.
	e := Classify(&url.Error{Op: "Get", URL: "https://login.example", Err: x509.UnknownAuthorityError{}})
	var ae *Error
	if !errors.As(e, &ae) || ae.Class != ClassMisconfigured || ae.Hint != tlsHint(runtime.GOOS) {
		t.Errorf("Classify(unknown authority) = %#v, want misconfigured with tlsHint(%s)", e, runtime.GOOS)
	}
}
func TestHasScopes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		target string
		scopes []string
		ok     bool
	}{
		{"api://x/.default", []string{"api://x/.default"}, true},
		{"API://X/.default", []string{"api://x/.default", "openid", "offline_access"}, true},
		{"api://x/read", []string{"api://x/read", "api://x/write"}, false},
		{"", []string{"api://x/.default"}, false},
	} {
		if got := HasScopes(tc.target, tc.scopes); got != tc.ok {
			t.Errorf("HasScopes(%q, %q) = %v", tc.target, strings.Join(tc.scopes, " "), got)
		}
	}
}
