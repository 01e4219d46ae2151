package auth

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	msalerrors "github.com/AzureAD/microsoft-authentication-library-for-go/apps/errors"
)

// aadError is the JSON body of an Entra error answer.
type aadError struct {
	Error       string `json:"error"`
	Description string `json:"error_description"`
	Codes       []int  `json:"error_codes"`
	Suberror    string `json:"suberror"`
	Claims      string `json:"claims"`
}

// codeInfo is what the broker knows about one AADSTS code.
type codeInfo struct {
	class   Class
	message string
	hint    string
}

const hintLogin = "run `broker login`"

// aadCodes maps AADSTS codes to a class, a message and a hint. The codes
// named in DESIGN.md are all here; a few common neighbours too.
var aadCodes = map[string]codeInfo{
	// The user must act.
	"50076":  {ClassSignInRequired, "multi-factor authentication is required", hintLogin + " and complete the multi-factor prompt"},
	"50079":  {ClassSignInRequired, "you must register for multi-factor authentication", hintLogin + " and complete the multi-factor registration"},
	"50074":  {ClassSignInRequired, "strong authentication is required", hintLogin + " and complete the multi-factor prompt"},
	"50078":  {ClassSignInRequired, "the multi-factor authentication has expired", hintLogin},
	"65001":  {ClassSignInRequired, "the app needs your consent to call the API", hintLogin + " and accept the consent prompt; if your organisation blocks user consent, ask an admin to grant it once: `az ad app permission admin-consent --id <client_id>`"},
	"65004":  {ClassSignInRequired, "consent to the app was declined", hintLogin + " and accept the consent prompt"},
	"70008":  {ClassSignInRequired, "the refresh token has expired or was revoked", hintLogin},
	"700082": {ClassSignInRequired, "the refresh token expired after being unused for too long", hintLogin},
	"700084": {ClassSignInRequired, "the refresh token has expired", hintLogin},
	"50173":  {ClassSignInRequired, "the refresh token was revoked (for example after a password change)", hintLogin},
	"50133":  {ClassSignInRequired, "the session is no longer valid after a password change or expiry", hintLogin},
	"50132":  {ClassSignInRequired, "the session is no longer valid after a password change or expiry", hintLogin},
	"53003":  {ClassSignInRequired, "access was blocked by a conditional access policy", hintLogin + " on a compliant device and network; ask your administrator which conditional access policy applies"},
	"50058":  {ClassSignInRequired, "there is no signed-in session", hintLogin},
	"50089":  {ClassSignInRequired, "the sign-in flow expired", hintLogin + " again and finish within a few minutes"},
	"16000":  {ClassSignInRequired, "the account must be chosen again", hintLogin},

	// Signing in again does not help: an administrator, the device or the
	// app registration must change. Reported as misconfigured (re-probed
	// slowly, so that the token comes back once the fix is in).
	"50105":  {ClassMisconfigured, "your account is not assigned to the app (the enterprise application requires user assignment)", "signing in again does not help: ask an administrator to add you (or a group of yours) under Entra admin center > Enterprise applications > the broker's app > Users and groups, or to set \"Assignment required?\" to No in its Properties"},
	"50020":  {ClassMisconfigured, "the account belongs to another tenant and is not a guest in the profile's tenant", "sign in with an account of the profile's tenant, or ask an administrator of that tenant to invite yours as a guest; if the API lives in your home tenant, set `tenant` in the profile to it"},
	"530084": {ClassMisconfigured, "a conditional access policy requires token protection (a device-bound token), which the broker cannot provide", "MSAL Go has no OS broker (WAM, Enterprise SSO): ask an administrator to exclude the broker's app registration from the token-protection policy, or get tokens from a tool that uses the OS broker (az on Windows, Microsoft's AzureAuth CLI)"},
	"53000":  {ClassMisconfigured, "a conditional access policy requires a compliant or managed device, which the broker cannot prove", "MSAL Go has no OS broker (WAM, Enterprise SSO) to present the device: ask an administrator to exclude the broker's app registration from the device-compliance policy, or use a tool with the OS broker (az on Windows, Microsoft's AzureAuth CLI)"},
	"50097":  {ClassMisconfigured, "device authentication is required, which the broker cannot provide", "MSAL Go has no OS broker (WAM, Enterprise SSO) to authenticate the device: ask an administrator to exclude the broker's app registration from the policy that requires it, or use a tool with the OS broker (az on Windows, Microsoft's AzureAuth CLI)"},

	// The configuration or the app registration is wrong.
	"700016":  {ClassMisconfigured, "the application (client_id) was not found in the tenant", "check `client_id` and `tenant` in the profile: `az ad app show --id <client_id>` must find the app registration in that tenant"},
	"7000218": {ClassMisconfigured, "the app registration does not allow public client flows", "in the Azure portal open App registrations > your app > Authentication > Advanced settings and set \"Allow public client flows\" to Yes, or run `az ad app update --id <client_id> --is-fallback-public-client true`"},
	"650053":  {ClassMisconfigured, "the app asked for a scope that the API does not expose", "check `scopes` in the profile: use `api://<api-app>/.default` or a scope listed under the API's App registrations > Expose an API"},
	"500011":  {ClassMisconfigured, "the API named in the scope was not found in the tenant", "check `scopes` in the profile: `api://<api-app>` must be the Application ID URI of an app registration in this tenant (`az ad app list --identifier-uri api://<api-app>`)"},
	"90002":   {ClassMisconfigured, "the tenant was not found", "check `tenant` in the profile: a tenant ID (GUID) or a verified domain such as contoso.onmicrosoft.com (`az account show --query tenantId`)"},
	"900023":  {ClassMisconfigured, "the tenant is not a valid tenant name or ID", "check `tenant` in the profile: a tenant ID (GUID) or a verified domain such as contoso.onmicrosoft.com"},
	"9002327": {ClassMisconfigured, "the app registration's redirect URI is a single-page-app one, which only browsers may redeem", "in the Azure portal open App registrations > your app > Authentication, add the \"Mobile and desktop applications\" platform with `http://localhost`, and remove http://localhost from \"Single-page application\""},
	"50011":   {ClassMisconfigured, "the redirect URI http://localhost is not registered for the app", "in the Azure portal open App registrations > your app > Authentication > Add a platform > \"Mobile and desktop applications\" and add `http://localhost`"},
	"500113":  {ClassMisconfigured, "the app registration has no redirect URI", "in the Azure portal open App registrations > your app > Authentication > Add a platform > \"Mobile and desktop applications\" and add `http://localhost`"},
	"50194":   {ClassMisconfigured, "the app registration is single-tenant and cannot use the common endpoint", "set `tenant` in the profile to your tenant ID or domain instead of common or organizations"},
	"900144":  {ClassMisconfigured, "the request had no scope (AADSTS900144 names the missing parameter)", "set `scopes = [\"api://<api-app>/.default\"]` in the profile; a client or proxy in between may have dropped it"},
	"65002":   {ClassMisconfigured, "the client_id is a Microsoft first-party app, which may call a Microsoft API only when pre-authorized", "register your own public-client app for the broker (README, \"Set up for your API\") and put its ID in `client_id`, instead of a Microsoft app's such as Azure CLI's"},
	"70011":   {ClassMisconfigured, "a scope in the profile is not valid", "check `scopes` in the profile: `api://<api-app>/.default` alone, or scopes such as `api://<api-app>/access_as_user` of that one API, without spaces; `.default` cannot be mixed with other scopes of the same API"},
	"28000":   {ClassMisconfigured, "the scopes name more than one API, and a token is for one API only", "keep the scopes of one API in the profile; use one profile per API"},
	"28003":   {ClassMisconfigured, "the request had an empty scope", "set `scopes = [\"api://<api-app>/.default\"]` in the profile; a client or proxy in between may have dropped it"},
	"9010010": {ClassMisconfigured, "the `resource` parameter is not the Application ID URI of the API whose scopes were asked for", "the broker never sends `resource`: a proxy or client in between added one. Make the API's Application ID URI equal it (an https:// one must be on a verified domain), or remove the parameter; keep the scopes of one API"},
	"901002":  {ClassMisconfigured, "the authority rejected the `resource` parameter (Entra before 2026; now AADSTS9010010)", "the broker never sends `resource`: a proxy or client in between added one; remove it and keep `scopes = [\"api://<api-app>/.default\"]`"},
	"700054":  {ClassMisconfigured, "the app registration does not allow this response type", "check the app registration's Authentication settings: it must be a public client with the \"Mobile and desktop applications\" platform"},
	"700025":  {ClassMisconfigured, "the app registration is a public client but a secret was sent", "the broker sends no secret; check that `client_id` is the public-client app registration"},
}

// SignInCodes, MisconfiguredCodes: the AADSTS codes the broker classifies
// (for tests and documentation).
func SignInCodes() []string        { return codesOf(ClassSignInRequired) }
func MisconfiguredCodes() []string { return codesOf(ClassMisconfigured) }

func codesOf(c Class) []string {
	var out []string
	for k, v := range aadCodes {
		if v.class == c {
			out = append(out, k)
		}
	}
	return out
}

var aadstsRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`AADSTS(\d+)`) })

// Classify turns any error from MSAL, the network or the broker's own
// checks into an *Error with a class, a lowercase message and a hint. It
// returns nil for nil and err itself when it already is an *Error. The
// message never contains a token.
func Classify(err error) *Error {
	if err == nil {
		return nil
	}
	var ae *Error
	if errors.As(err, &ae) {
		return ae
	}

	var ce msalerrors.CallErr
	if errors.As(err, &ce) && ce.Resp != nil {
		return classifyCall(err, ce)
	}

	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Class: ClassTemporary, Message: "timed out waiting for the authority",
			Hint: "check your network connection and try again", Err: err}
	case errors.Is(err, context.Canceled):
		return &Error{Class: ClassUnknown, Message: "canceled", Err: err}
	}

	// TLS: not temporary, somebody must fix the trust.
	var uae x509.UnknownAuthorityError
	var hne x509.HostnameError
	var cve *tls.CertificateVerificationError
	var cie x509.CertificateInvalidError
	if errors.As(err, &uae) || errors.As(err, &hne) || errors.As(err, &cve) || errors.As(err, &cie) {
		return &Error{Class: ClassMisconfigured, Message: "the authority's TLS certificate is not trusted: " + rootMessage(err),
			Hint: tlsHint(runtime.GOOS), Err: err}
	}

	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return &Error{Class: ClassTemporary, Message: "timed out reaching the authority",
			Hint: "check your network connection (VPN, proxy) and try again", Err: err}
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	var urlErr *url.Error
	if errors.As(err, &dnsErr) || errors.As(err, &opErr) || errors.As(err, &urlErr) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
		return &Error{Class: ClassTemporary, Message: "cannot reach the authority: " + rootMessage(err),
			Hint: "check your network connection (VPN, proxy) and `authority` in the profile, then try again", Err: err}
	}

	msg := err.Error()
	// The loopback redirect reports the authority's error_description as a
	// plain error; MSAL reports a cache without refresh token as "no token found".
	if m := aadstsRE().FindStringSubmatch(msg); m != nil {
		return fromCode(m[1], "", "", firstLine(msg), err)
	}
	if strings.Contains(msg, "no token found") {
		return &Error{Class: ClassSignInRequired, Message: "not signed in", Hint: hintLogin, Err: err}
	}
	return &Error{Class: ClassUnknown, Message: firstLine(lowerFirst(msg)), Err: err}
}

func classifyCall(err error, ce msalerrors.CallErr) *Error {
	status := ce.Resp.StatusCode
	body := callBody(ce)
	var a aadError
	_ = json.Unmarshal(body, &a)
	retry := retryAfter(ce.Resp.Header.Get("Retry-After"))

	code := ""
	if len(a.Codes) > 0 {
		code = strconv.Itoa(a.Codes[0])
	} else if m := aadstsRE().FindStringSubmatch(a.Description); m != nil {
		code = m[1]
	}
	desc := firstLine(a.Description)

	if status == http.StatusTooManyRequests || status >= 500 {
		e := &Error{Class: ClassTemporary, Code: code, OAuthError: a.Error, Suberror: a.Suberror, RetryAfter: retry, Err: err}
		if status == http.StatusTooManyRequests {
			e.Message = "the authority is throttling requests (HTTP 429)"
		} else {
			e.Message = fmt.Sprintf("the authority is unavailable (HTTP %d)", status)
		}
		if retry > 0 {
			e.Hint = fmt.Sprintf("try again in %s", retry.Round(time.Second))
		} else {
			e.Hint = "try again in a minute"
		}
		return e
	}
	if code != "" {
		e := fromCode(code, a.Error, a.Suberror, desc, err)
		e.RetryAfter = retry
		return e
	}
	switch a.Error {
	case "invalid_grant":
		return &Error{Class: ClassSignInRequired, OAuthError: a.Error, Suberror: a.Suberror,
			Message: "the refresh token is no longer valid (invalid_grant)", Hint: hintLogin, Err: err}
	case "interaction_required", "login_required", "consent_required":
		return &Error{Class: ClassSignInRequired, OAuthError: a.Error, Suberror: a.Suberror,
			Message: "the authority needs you to sign in again (" + a.Error + ")", Hint: hintLogin, Err: err}
	case "invalid_client", "unauthorized_client":
		return &Error{Class: ClassMisconfigured, OAuthError: a.Error,
			Message: "the authority rejected the app registration (" + a.Error + ")",
			Hint:    "check `client_id` and `tenant` in the profile; the app registration must allow public client flows", Err: err}
	case "invalid_scope":
		return &Error{Class: ClassMisconfigured, OAuthError: a.Error,
			Message: "the authority rejected the profile's scopes (invalid_scope)",
			Hint:    "check `scopes` in the profile: use `api://<api-app>/.default`", Err: err}
	}
	msg := fmt.Sprintf("the authority answered HTTP %d", status)
	if a.Error != "" {
		msg += " (" + a.Error + ")"
	}
	if status == http.StatusNotFound {
		return &Error{Class: ClassMisconfigured, Message: msg,
			Hint: "check `authority` and `tenant` in the profile", Err: err}
	}
	return &Error{Class: ClassUnknown, OAuthError: a.Error, Suberror: a.Suberror, Message: msg, Err: err}
}

// fromCode builds the error for an AADSTS code; unknown codes fall back to
// the OAuth error.
func fromCode(code, oauthErr, suberror, desc string, err error) *Error {
	e := &Error{Code: code, OAuthError: oauthErr, Suberror: suberror, Err: err}
	if info, ok := aadCodes[code]; ok {
		e.Class, e.Message, e.Hint = info.class, info.message+" (AADSTS"+code+")", info.hint
		return e
	}
	switch oauthErr {
	case "invalid_grant", "interaction_required", "login_required", "consent_required":
		e.Class, e.Hint = ClassSignInRequired, hintLogin
	case "invalid_client", "unauthorized_client", "invalid_scope", "invalid_request", "invalid_target":
		e.Class = ClassMisconfigured
		e.Hint = "check `tenant`, `client_id` and `scopes` in the profile"
	case "temporarily_unavailable", "server_error":
		e.Class, e.Hint = ClassTemporary, "try again in a minute"
	}
	e.Message = "the authority refused: " + lowerFirst(trimCode(desc))
	if desc == "" {
		e.Message = "the authority refused (AADSTS" + code + ")"
	}
	if !strings.Contains(e.Message, "AADSTS") {
		e.Message += " (AADSTS" + code + ")"
	}
	return e
}

// callBody reads the response body of a failed call (and puts it back for
// other readers); when MSAL already consumed it, the body is taken from the
// error text, which ends with it.
func callBody(ce msalerrors.CallErr) []byte {
	if ce.Resp.Body != nil {
		b, err := io.ReadAll(ce.Resp.Body)
		ce.Resp.Body = io.NopCloser(bytes.NewReader(b))
		if err == nil && len(bytes.TrimSpace(b)) > 0 {
			return b
		}
	}
	if ce.Err != nil {
		s := ce.Err.Error()
		if i := strings.Index(s, "{"); i >= 0 {
			return []byte(s[i:])
		}
	}
	return nil
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if n, err := strconv.Atoi(v); err == nil && n >= 0 {
		return time.Duration(n) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}

func firstLine(s string) string {
	s = strings.TrimSpace(s)
	if i := strings.IndexAny(s, "\r\n"); i >= 0 {
		s = s[:i]
	}
	return strings.TrimSuffix(strings.TrimSpace(s), ".")
}

// trimCode drops the "AADSTS12345: " prefix of an Entra description.
func trimCode(s string) string {
	if m := aadstsRE().FindStringIndex(s); m != nil && m[0] == 0 {
		s = strings.TrimLeft(s[m[1]:], ": ")
	}
	return s
}

func lowerFirst(s string) string {
	if s == "" {
		return s
	}
	if len(s) > 1 && s[1] >= 'A' && s[1] <= 'Z' { // an acronym: keep
		return s
	}
	return strings.ToLower(s[:1]) + s[1:]
}

// rootMessage is the innermost error's text: "connection refused" rather
// than MSAL's multi-line wrapping.
func rootMessage(err error) string {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			break
		}
		err = u
	}
	return firstLine(err.Error())
}

// tlsHint says how to trust a CA (a TLS-inspecting proxy's, a private
// one) on goos: ca_file works everywhere; the OS's own store is the
// system's certificate store on Windows and the keychain on macOS, where
// Go ignores SSL_CERT_FILE, and the system bundle or SSL_CERT_FILE
// elsewhere.
func tlsHint(goos string) string {
	store := "the system bundle (`update-ca-certificates`) or point SSL_CERT_FILE at a bundle with it"
	switch goos {
	case "windows":
		store = "your Trusted Root store (`certutil -user -addstore Root ca.pem`; SSL_CERT_FILE is ignored on Windows)"
	case "darwin":
		store = "your login keychain (`security add-trusted-cert -r trustRoot -k ~/Library/Keychains/login.keychain-db ca.pem`; SSL_CERT_FILE is ignored on macOS)"
	}
	return "if a proxy inspects TLS on your network or the authority has a private CA, set `ca_file` in config.toml ([settings] or the profile) to a PEM bundle with its CA, or add the CA to " + store +
		"; check `authority` in the profile. The broker retries every few minutes by itself"
}
