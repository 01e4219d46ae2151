// Package doctor checks a broker setup end to end and says what to fix:
// the config, the token storage, the tray host, start at login, each
// profile's sign-in and token claims, the clock, each target's file, and
// (with probing) each MCP server's answer to the token.
package doctor

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Levels of a check.
const (
	OK   = "ok"
	Warn = "warn"
	Fail = "fail"
)

// Check is one line of the report.
type Check struct {
	Name    string `json:"name"`
	Level   string `json:"level"`
	Message string `json:"message"`
	Hint    string `json:"hint,omitempty"`
	Profile string `json:"profile,omitempty"`
	Target  string `json:"target,omitempty"`
}

// Report is every check, in order.
type Report struct {
	Checks []Check `json:"checks"`
}

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, c := range r.Checks {
		if c.Level == Fail {
			return true
		}
	}
	return false
}

// TokenSource gives a profile's current token without user interaction.
type TokenSource interface {
	Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error)
}

// Target is what doctor needs of a delivery target.
type Target interface {
	// Check inspects the target's file against tok (zero when signed out).
	Check(ctx context.Context, tok token.Token) []Finding
}

// Finding is one observation about a target.
type Finding struct {
	Level   string
	Message string
	Hint    string
}

// Options are doctor's inputs; every seam is a function so that each
// check can be tested on its own.
type Options struct {
	// Config is the loaded configuration, or nil with ConfigErr set.
	Config    *config.Config
	ConfigErr error
	// Storage and StorageWarning describe the token store ("" = unknown).
	Storage        string
	StorageWarning string
	StorageErr     error
	// Tray reports whether a tray host is present and why not.
	Tray func(ctx context.Context) (bool, string)
	// StartAtLogin reports the start-at-login entry.
	StartAtLogin func(ctx context.Context) (*state.StartAtLogin, error)
	// Tokens gives tokens; nil when the store could not be opened.
	Tokens TokenSource
	// Target builds a target's checker.
	Target func(t config.Target) (Target, error)
	// HTTPClient talks to the authority and the MCP servers.
	HTTPClient *http.Client
	// Probe calls each target's MCP server with the token.
	Probe bool
	// ProxyEndpoint gives a proxied target's loopback URL and local
	// credential (ok false when it has none): --probe then also calls the
	// server through the daemon's proxy, as the client does.
	ProxyEndpoint func(t config.Target) (url, credential string, ok bool)
	Now           func() time.Time
}

// Run performs every check. It blocks for the network calls (bounded).
func Run(ctx context.Context, o Options) Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	var r Report
	add := func(c Check) { r.Checks = append(r.Checks, c) }

	// Config.
	switch {
	case o.ConfigErr != nil:
		add(Check{Name: "config", Level: Fail, Message: o.ConfigErr.Error(), Hint: HintOf(o.ConfigErr)})
		return r
	case o.Config == nil:
		add(Check{Name: "config", Level: Fail, Message: "no configuration"})
		return r
	case len(o.Config.Profiles) == 0:
		add(Check{Name: "config", Level: Fail, Message: "no profile is configured in " + o.Config.Path,
			Hint: "run `broker discover URL` with your MCP server's URL, or see `broker help config`"})
	default:
		files := strings.Join(o.Config.Files, ", ")
		add(Check{Name: "config", Level: OK, Message: fmt.Sprintf("%d profile(s) from %s", len(o.Config.Profiles), files)})
	}

	// Storage.
	switch {
	case o.StorageErr != nil:
		add(Check{Name: "storage", Level: Fail, Message: o.StorageErr.Error(), Hint: HintOf(o.StorageErr)})
	case o.StorageWarning != "":
		add(Check{Name: "storage", Level: Warn, Message: o.StorageWarning,
			Hint: "start a Secret Service (gnome-keyring, KWallet) in your session to encrypt the cache, or set storage = \"file\" to accept it"})
	default:
		add(Check{Name: "storage", Level: OK, Message: "token cache: " + o.Storage})
	}

	// Tray host.
	if o.Tray != nil {
		if ok, why := o.Tray(ctx); ok {
			add(Check{Name: "tray", Level: OK, Message: "a tray host is present"})
		} else {
			add(Check{Name: "tray", Level: Warn, Message: "no tray host: " + why,
				Hint: "`broker run` works headless; install a tray (e.g. the AppIndicator extension on GNOME) to see the icon"})
		}
	}

	// Start at login.
	if o.StartAtLogin != nil {
		e, err := o.StartAtLogin(ctx)
		switch {
		case err != nil:
			add(Check{Name: "start-at-login", Level: Warn, Message: err.Error()})
		case e == nil || !e.Installed:
			add(Check{Name: "start-at-login", Level: Warn, Message: "the broker does not start at login", Hint: "run `broker install`"})
		case !e.Current:
			add(Check{Name: "start-at-login", Level: Warn, Message: fmt.Sprintf("%s at %s does not start this binary: %s", e.Kind, e.Path, e.Problem),
				Hint: "run `broker install` again to point it here"})
		default:
			add(Check{Name: "start-at-login", Level: OK, Message: fmt.Sprintf("%s at %s", e.Kind, e.Path)})
		}
	}

	skewChecked := map[string]bool{}
	for _, name := range o.Config.ProfileNames() {
		p := o.Config.Profiles[name]
		add(sourceCheck(p))
		tok, ok := checkProfile(ctx, o, p, add)
		// A credential tool talks to its own cloud's authority, not the
		// profile's.
		if key := p.Authority + "/" + p.Tenant; !skewChecked[key] && !auth.IsCLISource(p.Login) {
			skewChecked[key] = true
			add(checkClock(ctx, o, p))
		}
		for _, t := range p.Targets {
			label := targetLabel(t)
			if o.Target == nil {
				continue
			}
			tc, err := o.Target(t)
			if err != nil {
				add(Check{Name: "target", Profile: name, Target: label, Level: Fail, Message: err.Error(), Hint: HintOf(err)})
				continue
			}
			var cur token.Token
			if ok {
				cur = tok
			}
			findings := tc.Check(ctx, cur)
			for _, f := range findings {
				add(Check{Name: "target", Profile: name, Target: label, Level: f.Level, Message: f.Message, Hint: f.Hint})
			}
			if o.Probe && t.URL != "" {
				add(probeCheck(ctx, o, p, t, label, tok, ok))
			}
			if o.Probe && t.Mode == "proxy" && o.ProxyEndpoint != nil {
				add(proxyProbeCheck(ctx, o, p, t, label))
			}
		}
	}
	return r
}

// checkProfile reports sign-in and token claims; it returns the token when
// one is usable.
func checkProfile(ctx context.Context, o Options, p *config.Profile, add func(Check)) (token.Token, bool) {
	if o.Tokens == nil {
		return token.Token{}, false
	}
	tctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	tok, err := o.Tokens.Token(tctx, p.Name, time.Minute)
	if err != nil {
		lvl := Fail
		add(Check{Name: "sign-in", Profile: p.Name, Level: lvl, Message: err.Error(), Hint: HintOf(err)})
		return token.Token{}, false
	}
	if p.IsUnattended() {
		add(Check{Name: "sign-in", Profile: p.Name, Level: OK, Message: "no user signs in: an app token for " + tok.Account})
	} else {
		add(Check{Name: "sign-in", Profile: p.Name, Level: OK, Message: "signed in as " + tok.Account})
	}
	now := o.Now()
	want := p.APIResource()
	claims := claimsOf(tok)
	msg := describeToken(tok, claims, now)
	switch {
	case isGraph(tok.Audience):
		add(Check{Name: "token", Profile: p.Name, Level: Fail, Message: "the token is for Microsoft Graph, not your API: " + msg,
			Hint: "Entra falls back to Graph when the API scope is missing: set scopes = [\"" + want + "/.default\"] and run `broker login`"})
		return tok, false
	case !tok.ExpiresOn.After(now):
		add(Check{Name: "token", Profile: p.Name, Level: Fail, Message: "the token has expired: " + msg, Hint: "run `broker login`"})
		return tok, false
	}
	if why := audienceProblem(tok.Audience, claims, want); why != "" {
		add(Check{Name: "token", Profile: p.Name, Level: Warn, Message: why + ": " + msg,
			Hint: "check that the API accepts it (`broker doctor --probe`), and the API's Application ID URI in `scopes`"})
	} else {
		add(Check{Name: "token", Profile: p.Name, Level: OK, Message: msg})
	}
	if claims.Tid != "" {
		add(apimCheck(p, claims))
	}
	if guidLike(p.Tenant) && tok.Tenant != "" && !strings.EqualFold(tok.Tenant, p.Tenant) {
		add(Check{Name: "token", Profile: p.Name, Level: Warn, Message: fmt.Sprintf("the token's tenant %s is not the profile's %s", tok.Tenant, p.Tenant),
			Hint: "sign in with an account of the profile's tenant"})
	}
	return tok, true
}

// sourceCheck says where the profile's tokens come from and, for a
// credential tool, whether it is installed.
func sourceCheck(p *config.Profile) Check {
	src := auth.DescribeSource(p, nil)
	c := Check{Name: "source", Profile: p.Name, Level: OK, Message: fmt.Sprintf("login = %q: %s", p.Login, src.Description)}
	switch {
	case src.Err != nil:
		c.Level, c.Message, c.Hint = Fail, src.Err.Error(), HintOf(src.Err)
	case src.Tool != "":
		c.Message += " (" + src.Tool + ")"
	}
	return c
}

// checkClock compares the local clock with the authority's Date header.
func checkClock(ctx context.Context, o Options, p *config.Profile) Check {
	client := o.httpClient(p)
	url := p.Authority + "/" + p.Tenant + "/v2.0/.well-known/openid-configuration"
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	before := o.Now()
	resp, err := client.Do(req)
	if err != nil {
		return Check{Name: "clock", Profile: p.Name, Level: Warn, Message: "cannot reach the authority to compare clocks: " + err.Error(),
			Hint: "check the network and the profile's authority"}
	}
	resp.Body.Close()
	after := o.Now()
	d, err := http.ParseTime(resp.Header.Get("Date"))
	if err != nil {
		return Check{Name: "clock", Profile: p.Name, Level: Warn, Message: "the authority sent no Date header"}
	}
	local := before.Add(after.Sub(before) / 2)
	skew := local.Sub(d)
	abs := skew
	if abs < 0 {
		abs = -abs
	}
	msg := fmt.Sprintf("clock skew against %s: %s", p.Authority, skew.Round(time.Second))
	switch {
	case abs > 5*time.Minute:
		return Check{Name: "clock", Profile: p.Name, Level: Fail, Message: msg,
			Hint: "set the system clock right (enable NTP: `timedatectl set-ntp true`); tokens look expired or not yet valid otherwise"}
	case abs > time.Minute:
		return Check{Name: "clock", Profile: p.Name, Level: Warn, Message: msg, Hint: "enable time synchronisation (NTP)"}
	}
	return Check{Name: "clock", Profile: p.Name, Level: OK, Message: msg}
}

func probeCheck(ctx context.Context, o Options, p *config.Profile, t config.Target, label string, tok token.Token, ok bool) Check {
	c := Check{Name: "probe", Profile: p.Name, Target: label}
	if !ok {
		c.Level, c.Message = Warn, "not probed: no usable token"
		return c
	}
	res := Probe(ctx, o.httpClient(p), t.URL, tok.Value)
	switch {
	case res.Err == nil:
		c.Level = OK
		c.Message = fmt.Sprintf("%s answered HTTP %d: server %q, %d tools", t.URL, res.Status, res.ServerName, res.Tools)
	case res.Status == http.StatusUnauthorized:
		msg, hint := explain401(res, tok, p.APIResource(), o.Now())
		c.Level, c.Message, c.Hint = Fail, fmt.Sprintf("%s answered HTTP 401: %s", t.URL, msg), hint
	case res.Status == http.StatusForbidden:
		c.Level = Fail
		c.Message = fmt.Sprintf("%s answered HTTP 403: the token is valid but lacks a permission (%s)", t.URL, oneLine(res.Body))
		c.Hint = "ask the API owner which scope or app role the API requires, and grant it to your app registration"
	case res.Status >= 400:
		c.Level, c.Message = Fail, fmt.Sprintf("%s answered HTTP %d: %s", t.URL, res.Status, oneLine(res.Body))
	default:
		c.Level, c.Message = Fail, fmt.Sprintf("%s: %v", t.URL, res.Err)
		c.Hint = "check the URL and the network; the URL is the MCP endpoint itself"
	}
	return c
}

// httpClient is the client for profile p: Options.HTTPClient, else
// auth.HTTPClient (the system's roots plus the profile's ca_file).
func (o Options) httpClient(p *config.Profile) *http.Client {
	if o.HTTPClient != nil {
		return o.HTTPClient
	}
	if hc, err := auth.HTTPClient(o.Config, p); err == nil {
		return hc
	}
	return http.DefaultClient
}

// proxyProbeCheck calls the server through the daemon's loopback proxy
// with the target's local credential, as the client does.
func proxyProbeCheck(ctx context.Context, o Options, p *config.Profile, t config.Target, label string) Check {
	c := Check{Name: "proxy", Profile: p.Name, Target: label}
	u, cred, ok := o.ProxyEndpoint(t)
	if !ok {
		c.Level, c.Message = Fail, "no local credential for this proxied target"
		c.Hint = "run `broker connect " + t.Client + " --server " + t.Server + " --url " + t.URL + " --mode proxy` (or `broker login`, which writes every target)"
		return c
	}
	res := Probe(ctx, &http.Client{}, u, token.Secret(cred))
	switch {
	case res.Err == nil:
		c.Level = OK
		c.Message = fmt.Sprintf("through the proxy at %s: server %q, %d tools", u, res.ServerName, res.Tools)
	case res.Status == 0:
		c.Level, c.Message = Fail, fmt.Sprintf("the proxy at %s does not answer: %v", u, res.Err)
		c.Hint = "start the daemon (`broker run`, or `broker install` to start it at login); `broker status` shows the proxy's address"
	default:
		c.Level, c.Message = Fail, fmt.Sprintf("through the proxy at %s: HTTP %d: %s", u, res.Status, oneLine(res.Body))
		c.Hint = "`broker status` shows the proxied target's last upstream error"
	}
	return c
}

func targetLabel(t config.Target) string {
	switch {
	case t.Server != "":
		return t.Client + "/" + t.Server
	default:
		return t.Client + ":" + t.Path
	}
}

func isGraph(aud string) bool { return aud != "" && auth.IsGraphAudience(aud) }

func audienceMatches(aud, want string) bool {
	return strings.EqualFold(strings.TrimSuffix(aud, "/"), strings.TrimSuffix(want, "/"))
}

// describeToken is the token line of the report: its version and the
// claims an API checks.
func describeToken(tok token.Token, c token.Claims, now time.Time) string {
	var b strings.Builder
	if c.Ver != "" {
		fmt.Fprintf(&b, "v%s token, ", c.Ver)
	}
	fmt.Fprintf(&b, "aud %s", tok.Audience)
	if c.Iss != "" {
		fmt.Fprintf(&b, ", iss %s", c.Iss)
	}
	if len(c.Roles) == 0 || len(c.Scp) > 0 {
		fmt.Fprintf(&b, ", scp %s", strings.Join(tok.Scopes, " "))
	}
	if len(c.Roles) > 0 {
		fmt.Fprintf(&b, ", roles %s", strings.Join(c.Roles, " "))
	}
	who := "upn " + tok.Account
	if c.User == "" && c.AppID != "" {
		who = "app " + c.AppID // an app token: no user
	}
	fmt.Fprintf(&b, ", tid %s, %s, expires %s (in %s)", tok.Tenant, who,
		tok.ExpiresOn.Local().Format("15:04:05"), strings.TrimSuffix(tok.ExpiresOn.Sub(now).Round(time.Minute).String(), "0s"))
	return b.String()
}

// audienceProblem says what is wrong with aud for the API whose
// Application ID URI is want, or "". The API's registration chooses the
// token version: a v1 token's aud is the Application ID URI; a v2 token's
// is the API's application (client) ID, which the broker can check only
// when the URI is the default api://<application ID>.
func audienceProblem(aud string, c token.Claims, want string) string {
	switch {
	case want == "" || audienceMatches(aud, want):
		return ""
	case c.V2() && guidLike(aud):
		if id := strings.TrimPrefix(strings.ToLower(want), "api://"); guidLike(id) && !strings.EqualFold(id, aud) {
			return fmt.Sprintf("the token's audience %s is not the application ID of the scope's API %s", aud, want)
		}
		return ""
	default:
		return "the token's audience is not the scope's API " + want
	}
}

// apimCheck says what an Azure API Management policy must list to accept
// this token: audiences and issuer differ between v1 and v2 tokens, and
// a policy written for one refuses the other.
func apimCheck(p *config.Profile, c token.Claims) Check {
	aud := strings.Join(c.Aud, " ")
	msg := fmt.Sprintf("for API Management, <validate-azure-ad-token tenant-id=\"%s\"> needs <audiences><audience>%s</audience></audiences>; <validate-jwt> needs <issuer>%s</issuer>", c.Tid, aud, c.Iss)
	if len(c.Roles) > 0 && len(c.Scp) == 0 {
		// An app token: the policy checks the role instead of a scope.
		msg += fmt.Sprintf("; an app token: <required-claims><claim name=\"roles\" match=\"any\"><value>%s</value></claim></required-claims>", strings.Join(c.Roles, "</value><value>"))
	}
	hint := ""
	switch {
	case c.V2():
		hint = fmt.Sprintf("this API issues v2.0 tokens: their aud is the API's application (client) ID, not %s, and their issuer is the tenant's v2.0 endpoint (openid-config %s/%s/v2.0/.well-known/openid-configuration)", p.APIResource(), p.Authority, c.Tid)
	case c.Ver == "1.0":
		hint = fmt.Sprintf("this API issues v1.0 tokens (its registration's api.requestedAccessTokenVersion, accessTokenAcceptedVersion in the manifest, is 1 or null): their issuer is %s, not the v2.0 endpoint; set it to 2 to get v2.0 tokens", c.Iss)
	}
	return Check{Name: "apim", Profile: p.Name, Level: OK, Message: msg, Hint: hint}
}

func guidLike(s string) bool { return len(s) == 36 && strings.Count(s, "-") == 4 }

// HintOf returns the hint an error carries (HintText), or "".
func HintOf(err error) string {
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		return h.HintText()
	}
	return ""
}
