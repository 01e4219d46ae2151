package auth

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/cache"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Sign-in methods whose tokens come from another tool (config.Login*).
const (
	LoginAzureCLI  = config.LoginAzureCLI
	LoginAzd       = config.LoginAzd
	LoginAzureAuth = config.LoginAzureAuth
)

// AzureCLIClientID is the app registration that az and azd sign in with
// (azure-dev cli/azd/pkg/auth/manager.go azdClientID is the same): the
// API must let it in (pre-authorize it, or have users consent).
const AzureCLIClientID = "04b07795-8ddb-461a-bbee-02f9e1bf7b46"

// ownClientID reports whether the tool signs in with its own app
// registration (az, azd) rather than the profile's client_id.
func ownClientID(login string) bool { return login == LoginAzureCLI || login == LoginAzd }

// ToolTimeout bounds one silent run of a credential tool (az, azd,
// azureauth); a sign-in (Login) is bounded by its context only.
const ToolTimeout = 30 * time.Second

// cliSource is the credential of login = "azurecli", "azd" and "azureauth":
// the token comes from another tool that has the OS's sign-in broker (WAM
// on Windows, the Enterprise SSO extension on macOS) which MSAL Go lacks,
// as Azure/kubelogin's azurecli and azd login modes do. The tool keeps its
// own account and refresh token; the broker keeps the tool's last access
// token in the store (one entry per profile, under cliCacheKey) so that
// `broker token`, `headers` and the daemon run the tool only when that
// token is due, one process at a time (Options.RefreshLock).
//
// The tool runs without a shell, found on PATH (of Options.Environ) or in
// the folders its installer uses (a daemon started at login often has a
// short PATH), with the broker's environment, and is killed after
// ToolTimeout. Only the scopes, the tenant and (azureauth) the client ID
// are passed as arguments: never a token. The tool's output is parsed as
// its documented JSON (see cliTools); its error text is mapped to the
// broker's classes (cliFailure), and never contains a token that could
// leak (redactJWT).
type cliSource struct {
	profile *config.Profile
	tool    *cliTool
	cache   cache.ExportReplace // nil keeps the token in memory only
	env     []string
	out     io.Writer
	log     *slog.Logger
	now     func() time.Time
	lock    func(ctx context.Context) (func(), error)
	scopes  func() []string // the profile's and those servers added

	mu  sync.Mutex // serialises silent calls: one run of the tool at a time
	mem *cliEntry  // the entry when there is no cache
}

// cliTool is what the broker knows about one credential tool.
type cliTool struct {
	login   string // the profile's login value
	command string // the executable's name, without extension
	product string // for messages: "the Azure CLI (az)"
	install string // where to get it
	// dirs are folders its installers use, searched after PATH.
	dirs func(getenv func(string) string) []string
	// tokenArgs are the arguments of a silent token request; claims are
	// base64 (only for tools with claims).
	tokenArgs func(p *config.Profile, claims string) []string
	// silentEnv is added to the environment of silent runs.
	silentEnv []string
	// loginArgs are the arguments of the tool's own sign-in.
	loginArgs func(p *config.Profile, deviceCode bool) []string
	// loginPrintsToken: the sign-in run prints the token itself (its
	// output is parsed like a token request's).
	loginPrintsToken bool
	// claims: the token request can carry a claims challenge.
	claims bool
	// parse reads the tool's JSON answer.
	parse func(out []byte) (raw string, expiresOn time.Time, err error)
	// signIn are texts of the tool's answers that mean the user must
	// sign in (in the tool), as the tool prints them.
	signIn []string
}

// cliTools are the tools, by login value (built on first use: nothing at
// start). What each says is checked against its source:
//
//   - az (Azure/azure-cli, src/azure-cli/azure/cli/command_modules/profile/
//     custom.py get_access_token; Debian's 2.45 in
//     /usr/lib/python3/dist-packages/azure/cli): `az account
//     get-access-token --scope S --tenant T -o json` prints {"accessToken",
//     "expiresOn", "expires_on", "tenant", "tokenType"}; expiresOn is local
//     time "2006-01-02 15:04:05.000000" without a zone, expires_on (epoch
//     seconds, az 2.54 and later; 2.45 has it commented out) is preferred.
//     Errors go to stderr: "Please run 'az login' to setup account."
//     (core/_profile.py _AZ_LOGIN_MESSAGE, no account), "Interactive
//     authentication is needed. Please run:\naz login --scope …"
//     (core/auth/util.py aad_error_handler, after an AADSTS error),
//     "Can't find token from MSAL cache." (check_result). MSAL Python in az
//     answers from its cache until 5 minutes before expiry, so a Refresh
//     before that gets the same token. On Windows az is az.cmd.
//   - azd (Azure/azure-dev, cli/azd/cmd/auth_token.go and
//     pkg/contracts/auth_token.go): `azd auth token --output json
//     --tenant-id T --scope S [--claims BASE64]` prints {"token",
//     "expiresOn"} with expiresOn in RFC 3339. With --output json its
//     errors are consoleMessage events on stdout ({"type":"consoleMessage",
//     "data":{"message":"\nERROR: …"}}, pkg/input/console.go Message):
//     "not logged in, run `azd auth login` to login" (pkg/auth/errors.go
//     ErrNoCurrentUser), or a ReLoginRequiredError naming `azd auth login`.
//   - azureauth (AzureAD/microsoft-authentication-cli, docs/usage.md and
//     src/AzureAuth/Commands/CommandAad.cs, src/MSALWrapper/TokenResult.cs):
//     `azureauth aad --client C --tenant T --scope S --mode broker --output
//     json` prints {"user", "display_name", "token", "expiration_date"} with
//     expiration_date a string of epoch seconds. Without an interactive
//     mode allowed it tries its cache and the broker silently; the
//     documented AZUREAUTH_NO_USER=1 (src/AzureAuth/EnvVars.cs,
//     AuthModeExtensions.cs) forbids prompts: on macOS the broker still
//     answers silently, on Windows only its cache and Integrated Windows
//     Authentication are tried. A failure ends with exit code 1 and
//     "Authentication failed. Re-run with '--verbosity debug' …" on stderr.
var cliTools = sync.OnceValue(func() map[string]*cliTool {
	return map[string]*cliTool{
		LoginAzureCLI: {
			login:   LoginAzureCLI,
			command: "az",
			product: "the Azure CLI (az)",
			install: "install the Azure CLI (https://learn.microsoft.com/cli/azure/install-azure-cli)",
			dirs: func(getenv func(string) string) []string {
				return []string{
					getenv("ProgramFiles") + `\Microsoft SDKs\Azure\CLI2\wbin`,
					getenv("ProgramFiles(x86)") + `\Microsoft SDKs\Azure\CLI2\wbin`,
					"/opt/homebrew/bin", "/usr/local/bin", "/home/linuxbrew/.linuxbrew/bin", "/usr/bin",
				}
			},
			tokenArgs: func(p *config.Profile, _ string) []string {
				return append(append([]string{"account", "get-access-token", "--scope"}, apiScopes(p)...), "--tenant", p.Tenant, "--output", "json")
			},
			loginArgs: func(p *config.Profile, deviceCode bool) []string {
				args := append(append([]string{"login", "--tenant", p.Tenant, "--scope"}, apiScopes(p)...), "--allow-no-subscriptions", "--output", "none")
				if deviceCode {
					args = append(args, "--use-device-code")
				}
				return args
			},
			parse:  parseAzureCLI,
			signIn: []string{"az login", "Can't find token from MSAL cache"},
		},
		LoginAzd: {
			login:   LoginAzd,
			command: "azd",
			product: "the Azure Developer CLI (azd)",
			install: "install the Azure Developer CLI (https://aka.ms/install-azd)",
			dirs: func(getenv func(string) string) []string {
				return []string{
					getenv("LOCALAPPDATA") + `\Programs\Azure Dev CLI`,
					"/opt/homebrew/bin", "/usr/local/bin", "/home/linuxbrew/.linuxbrew/bin", getenv("HOME") + "/.azd/bin", "/usr/bin",
				}
			},
			tokenArgs: func(p *config.Profile, claims string) []string {
				args := []string{"auth", "token", "--output", "json", "--tenant-id", p.Tenant}
				for _, s := range apiScopes(p) {
					args = append(args, "--scope", s)
				}
				if claims != "" {
					args = append(args, "--claims", claims)
				}
				return args
			},
			loginArgs: func(p *config.Profile, deviceCode bool) []string {
				args := []string{"auth", "login", "--tenant-id", p.Tenant}
				for _, s := range apiScopes(p) {
					args = append(args, "--scope", s)
				}
				if deviceCode {
					args = append(args, "--use-device-code")
				}
				return args
			},
			claims: true,
			parse:  parseAzd,
			signIn: []string{"azd auth login", "not logged in"},
		},
		LoginAzureAuth: {
			login:   LoginAzureAuth,
			command: "azureauth",
			product: "Microsoft's AzureAuth CLI (azureauth)",
			install: "install AzureAuth (https://github.com/AzureAD/microsoft-authentication-cli)",
			dirs: func(getenv func(string) string) []string {
				return []string{"/opt/homebrew/bin", "/usr/local/bin", "/usr/bin"}
			},
			tokenArgs: func(p *config.Profile, _ string) []string {
				return append(azureAuthArgs(p), "--mode", "broker", "--output", "json")
			},
			silentEnv: []string{"AZUREAUTH_NO_USER=1"},
			loginArgs: func(p *config.Profile, deviceCode bool) []string {
				if deviceCode {
					return append(azureAuthArgs(p), "--mode", "devicecode", "--output", "json")
				}
				return append(azureAuthArgs(p), "--mode", "broker", "--mode", "web", "--output", "json")
			},
			loginPrintsToken: true,
			parse:            parseAzureAuth,
			signIn:           []string{"Authentication failed", "Interactive authentication is disabled"},
		},
	}
})

func azureAuthArgs(p *config.Profile) []string {
	args := []string{"aad", "--client", p.ClientID, "--tenant", p.Tenant}
	for _, s := range apiScopes(p) {
		args = append(args, "--scope", s)
	}
	return args
}

// apiScopes are the profile's scopes without the sign-in ones, which the
// tools add themselves.
func apiScopes(p *config.Profile) []string {
	var out []string
	for _, s := range p.Scopes {
		switch strings.ToLower(s) {
		case "openid", "profile", "offline_access", "email":
			continue
		}
		out = append(out, s)
	}
	return out
}

// argRE is what a scope, tenant or client ID passed to a tool may hold:
// nothing a shell or cmd.exe (which runs az.cmd) would interpret.
var argRE = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[0-9A-Za-z._:/~-]+$`) })

func newCLISource(p *config.Profile, o Options) (*cliSource, error) {
	tool := cliTools()[p.Login]
	if tool == nil {
		return nil, fmt.Errorf("auth: %q is not a credential tool", p.Login)
	}
	for _, a := range append(append([]string{p.Tenant}, apiScopes(p)...), p.ClientID) {
		if a != "" && !argRE().MatchString(a) {
			return nil, &Error{Class: ClassMisconfigured,
				Message: fmt.Sprintf("profile %q: %q cannot be passed to %s", p.Name, a, tool.command),
				Hint:    "scopes and tenant may hold letters, digits and . _ : / ~ - only"}
		}
	}
	if len(apiScopes(p)) == 0 {
		return nil, &Error{Class: ClassMisconfigured, Message: fmt.Sprintf("profile %q has no API scope", p.Name),
			Hint: "set `scopes = [\"api://<api-app>/.default\"]` in the profile"}
	}
	s := &cliSource{profile: p, tool: tool, cache: o.Cache, env: o.Environ, out: o.DeviceCodeOut, log: o.Logger, now: o.Now, lock: o.RefreshLock, scopes: o.scopes}
	if s.scopes == nil {
		s.scopes = func() []string { return p.Scopes }
	}
	if s.env == nil {
		s.env = os.Environ()
	}
	if s.out == nil {
		s.out = io.Discard
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.now == nil {
		s.now = time.Now
	}
	return s, nil
}

// current is the profile with the scopes to ask for now: its own and those
// servers' scope challenges added, without any that could not be passed
// to the tool safely (a server chose them).
func (s *cliSource) current() *config.Profile {
	p := *s.profile
	p.Scopes = nil
	for _, sc := range s.scopes() {
		if argRE().MatchString(sc) {
			p.Scopes = append(p.Scopes, sc)
		} else {
			s.log.Warn("a scope a server asked for cannot be passed to "+s.tool.command, "scope", sc)
		}
	}
	return &p
}

// silent returns the stored token when it is good enough, else runs the
// tool. The tool answers from its own cache when it can: a Refresh may get
// the same token (az until 5 minutes before expiry).
func (s *cliSource) silent(ctx context.Context, r request) (token.Token, error) {
	var claims string
	if r.claims != "" {
		if !s.tool.claims {
			return token.Token{}, &Error{Class: ClassSignInRequired,
				Message: fmt.Sprintf("the server asks for claims (Conditional Access) that %s cannot request silently", s.tool.command),
				Hint:    s.signInHint(), Err: ErrSignInRequired}
		}
		claims = base64.StdEncoding.EncodeToString([]byte(r.claims))
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	before, ok := s.stored(ctx)
	if ok && !r.force && claims == "" && before.ValidFor(s.now(), r.minValidity) {
		return before, nil
	}
	unlock, err := s.refreshLock(ctx)
	if err != nil {
		return token.Token{}, err
	}
	defer unlock()
	// Another process may have run the tool while this one waited.
	if after, ok := s.stored(ctx); ok && claims == "" && after.Value != before.Value && after.ValidFor(s.now(), max(r.minValidity, MSALRefreshWindow)) {
		return after, nil
	}
	rctx, cancel := context.WithTimeout(ctx, ToolTimeout)
	defer cancel()
	out, err := s.run(rctx, s.tool.tokenArgs(s.current(), claims), s.tool.silentEnv, nil)
	if err != nil {
		return token.Token{}, err
	}
	tok, err := s.accept(ctx, out)
	if err != nil {
		return token.Token{}, err
	}
	if !tok.ValidFor(s.now(), r.minValidity) {
		return token.Token{}, &Error{Class: ClassUnknown,
			Message: fmt.Sprintf("%s gave a token valid until %s, less than the %s asked for", s.tool.command, tok.ExpiresOn.Format(time.RFC3339), r.minValidity),
			Hint:    fmt.Sprintf("%s answers from its own cache until shortly before expiry (az: 5 minutes); ask for less validity (--min-validity)", s.tool.command)}
	}
	return tok, nil
}

// interactive runs the tool's own sign-in, its output going to
// Options.DeviceCodeOut, then gets the token (azureauth prints it at once).
// A claims challenge cannot be passed to the tools' sign-ins; a new
// interactive sign-in meets Conditional Access anyway.
func (s *cliSource) interactive(ctx context.Context, deviceCode bool, _ string) (token.Token, error) {
	args := s.tool.loginArgs(s.current(), deviceCode)
	fmt.Fprintf(s.out, "signing in to profile %q with %s: %s %s\n", s.profile.Name, s.tool.product, s.tool.command, strings.Join(args, " "))
	out, err := s.run(ctx, args, nil, s.out)
	if err != nil {
		if errors.Is(ctx.Err(), context.DeadlineExceeded) {
			return token.Token{}, &Error{Class: ClassSignInRequired, Message: "sign-in did not finish in time",
				Hint: "run `broker login --profile " + s.profile.Name + "` again and finish signing in", Err: err}
		}
		return token.Token{}, err
	}
	if s.tool.loginPrintsToken {
		s.mu.Lock()
		defer s.mu.Unlock()
		return s.accept(ctx, out)
	}
	return s.silent(ctx, request{force: true})
}

// cached reports the stored entry; the tool keeps its own refresh token, so
// a stored entry counts as one.
func (s *cliSource) cached(ctx context.Context) (Cached, error) {
	e, err := s.entry(ctx)
	if err != nil || e == nil {
		return Cached{}, err
	}
	return Cached{Account: e.Account, ExpiresOn: time.Unix(e.ExpiresOn, 0), HasRefreshToken: true}, nil
}

// logout forgets the stored token. The tool stays signed in (`az logout`
// is the user's to run): the next `broker login` picks its sign-in up.
func (s *cliSource) logout(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.put(ctx, nil)
}

// accept parses and checks the tool's answer and stores it.
func (s *cliSource) accept(ctx context.Context, out []byte) (token.Token, error) {
	raw, exp, err := s.tool.parse(out)
	if err != nil {
		return token.Token{}, &Error{Class: ClassUnknown,
			Message: fmt.Sprintf("cannot read the answer of %s: %s", s.tool.command, err),
			Hint:    fmt.Sprintf("run `%s %s` yourself to see what it prints; the broker reads its documented JSON", s.tool.command, strings.Join(s.tool.tokenArgs(s.current(), ""), " "))}
	}
	tok, err := checkToken(s.profile, raw, exp, "", "", nil)
	if err != nil {
		return token.Token{}, err
	}
	if err := s.put(ctx, &cliEntry{Source: s.tool.login, Tenant: s.profile.Tenant, Scopes: s.current().Scopes,
		Account: tok.Account, Token: raw, ExpiresOn: tok.ExpiresOn.Unix()}); err != nil {
		s.log.Warn("cannot store the token", "err", err)
	}
	s.log.Info("token from "+s.tool.command, "account", tok.Account, "expires_on", tok.ExpiresOn)
	return tok, nil
}

// run runs the tool with args (stdin empty) and returns its stdout. echo,
// when set, also gets its output (a sign-in's prompts): stderr, and stdout
// unless stdout is the token (azureauth).
func (s *cliSource) run(ctx context.Context, args, extraEnv []string, echo io.Writer) ([]byte, error) {
	src := DescribeSource(s.profile, s.env)
	if src.Err != nil {
		return nil, src.Err
	}
	path := src.Tool
	var stdout, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, path, args...)
	cmd.Env = append(append([]string(nil), s.env...), extraEnv...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if echo != nil {
		cmd.Stderr = io.MultiWriter(&stderr, echo)
		if !s.tool.loginPrintsToken {
			cmd.Stdout = io.MultiWriter(&stdout, echo)
		}
	}
	cmd.WaitDelay = 2 * time.Second // a grandchild holding the pipes does not hold us
	s.log.Debug("running "+s.tool.command, "path", path, "args", strings.Join(args, " "))
	err := cmd.Run()
	if err == nil {
		return stdout.Bytes(), nil
	}
	if ctx.Err() != nil {
		return nil, &Error{Class: ClassTemporary,
			Message: fmt.Sprintf("%s did not answer in time", s.tool.command),
			Hint:    fmt.Sprintf("run `%s %s` yourself to see what it waits for", s.tool.command, strings.Join(s.tool.tokenArgs(s.current(), ""), " ")), Err: ctx.Err()}
	}
	return nil, s.failure(stdout.Bytes(), stderr.Bytes(), err)
}

// failure classifies a failed run by the tool's own words.
func (s *cliSource) failure(stdout, stderr []byte, runErr error) *Error {
	text := toolText(stdout, stderr)
	first := toolLine(text)
	if first == "" {
		first = runErr.Error()
	}
	e := &Error{Class: ClassUnknown, Err: runErr,
		Message: fmt.Sprintf("%s failed: %s", s.tool.command, first),
		Hint:    fmt.Sprintf("run `%s %s` yourself to see the whole error", s.tool.command, strings.Join(s.tool.tokenArgs(s.current(), ""), " "))}
	if m := aadstsRE().FindStringSubmatch(text); m != nil {
		e.Code = m[1]
		if info, ok := aadCodes[m[1]]; ok {
			e.Class, e.Message = info.class, fmt.Sprintf("%s: %s (AADSTS%s)", s.tool.command, info.message, m[1])
			e.Hint = strings.ReplaceAll(info.hint, "<client_id>", s.profile.ClientID)
			if info.class == ClassSignInRequired {
				e.Hint = s.signInHint()
			}
			if m[1] == "65001" && ownClientID(s.tool.login) {
				e.Hint = fmt.Sprintf("%s signs in with the Azure CLI's app (%s): the API's owner adds it under the API's App registrations > Expose an API > Authorized client applications, or you %s and accept the consent prompt",
					s.tool.command, AzureCLIClientID, strings.TrimPrefix(s.signInHint(), "run "))
			}
			return e
		}
	}
	for _, marker := range s.tool.signIn {
		if strings.Contains(text, marker) {
			e.Class, e.Hint = ClassSignInRequired, s.signInHint()
			e.Message = fmt.Sprintf("%s needs you to sign in: %s", s.tool.command, first)
			return e
		}
	}
	for _, marker := range []string{"Failed to establish a new connection", "Max retries exceeded", "Temporary failure in name resolution",
		"ConnectionError", "ServiceRequestError", "timed out", "connection refused", "no such host"} {
		if strings.Contains(text, marker) {
			e.Class = ClassTemporary
			e.Hint = "check the network connection; the broker tries again by itself"
			return e
		}
	}
	return e
}

// signInHint names the command that signs in with the tool.
func (s *cliSource) signInHint() string {
	login := s.tool.command + " " + strings.Join(s.tool.loginArgs(s.current(), false), " ")
	login = strings.TrimSuffix(login, " --output none")
	if s.tool.loginPrintsToken {
		return fmt.Sprintf("run `broker login --profile %s` (it runs %s interactively)", s.profile.Name, s.tool.command)
	}
	return fmt.Sprintf("run `%s` (or `broker login --profile %s`, which runs it)", login, s.profile.Name)
}

// toolText is the tool's error text: stderr, and the messages of azd's
// consoleMessage events on stdout; JWTs redacted.
func toolText(stdout, stderr []byte) string {
	var b strings.Builder
	b.Write(stderr)
	for _, line := range bytes.Split(stdout, []byte("\n")) {
		var ev struct {
			Type string `json:"type"`
			Data struct {
				Message string `json:"message"`
			} `json:"data"`
		}
		if json.Unmarshal(line, &ev) == nil && ev.Type == "consoleMessage" {
			b.WriteString("\n" + ev.Data.Message)
		}
	}
	return redactJWT(b.String())
}

var jwtRE = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`eyJ[0-9A-Za-z_-]*\.[0-9A-Za-z_-]*\.[0-9A-Za-z_-]*`)
})

// redactJWT replaces anything shaped like a JWT.
func redactJWT(s string) string { return jwtRE().ReplaceAllString(s, "[token redacted]") }

// toolLine is the first line that says something, without az's "ERROR: ".
func toolLine(text string) string {
	for _, l := range strings.Split(text, "\n") {
		l = strings.TrimSpace(l)
		if l == "" || strings.HasPrefix(l, "WARNING:") {
			continue
		}
		l = strings.TrimSpace(strings.TrimPrefix(l, "ERROR:"))
		if len(l) > 300 {
			l = l[:300] + "…"
		}
		return l
	}
	return ""
}

func (s *cliSource) refreshLock(ctx context.Context) (func(), error) {
	if s.lock == nil {
		return func() {}, nil
	}
	unlock, err := s.lock(ctx)
	if err != nil {
		return nil, &Error{Class: ClassTemporary, Message: lowerFirst(err.Error()),
			Hint: "try again in a moment; if it lasts, look for a hung broker process (`broker status`)", Err: err}
	}
	return unlock, nil
}

// parseAzureCLI reads `az account get-access-token -o json`.
func parseAzureCLI(out []byte) (string, time.Time, error) {
	var v struct {
		AccessToken string          `json:"accessToken"`
		ExpiresOn   string          `json:"expiresOn"`
		ExpiresOnTS json.RawMessage `json:"expires_on"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", time.Time{}, errors.New("not the JSON of `az account get-access-token -o json`")
	}
	if v.AccessToken == "" {
		return "", time.Time{}, errors.New("no accessToken")
	}
	if n, err := strconv.ParseInt(strings.Trim(string(v.ExpiresOnTS), `"`), 10, 64); err == nil && n > 0 {
		return v.AccessToken, time.Unix(n, 0), nil
	}
	// Local time without a zone, in the zone of az (which is ours: it
	// inherits TZ). The token's own exp claim wins when earlier.
	exp, err := time.ParseInLocation("2006-01-02 15:04:05.999999", v.ExpiresOn, time.Local)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("expiresOn %q is not a time", v.ExpiresOn)
	}
	return v.AccessToken, exp, nil
}

// parseAzd reads `azd auth token --output json`.
func parseAzd(out []byte) (string, time.Time, error) {
	var v struct {
		Token     string `json:"token"`
		ExpiresOn string `json:"expiresOn"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", time.Time{}, errors.New("not the JSON of `azd auth token --output json`")
	}
	if v.Token == "" {
		return "", time.Time{}, errors.New("no token")
	}
	exp, err := time.Parse(time.RFC3339, v.ExpiresOn)
	if err != nil {
		return "", time.Time{}, fmt.Errorf("expiresOn %q is not an RFC 3339 time", v.ExpiresOn)
	}
	return v.Token, exp, nil
}

// parseAzureAuth reads `azureauth aad --output json`.
func parseAzureAuth(out []byte) (string, time.Time, error) {
	var v struct {
		Token      string          `json:"token"`
		Expiration json.RawMessage `json:"expiration_date"`
	}
	if err := json.Unmarshal(out, &v); err != nil {
		return "", time.Time{}, errors.New("not the JSON of `azureauth aad --output json`")
	}
	if v.Token == "" {
		return "", time.Time{}, errors.New("no token")
	}
	n, err := strconv.ParseInt(strings.Trim(string(v.Expiration), `"`), 10, 64)
	if err != nil || n <= 0 {
		return "", time.Time{}, fmt.Errorf("expiration_date %s is not epoch seconds", v.Expiration)
	}
	return v.Token, time.Unix(n, 0), nil
}

// IsCLISource reports whether login names a credential tool: the tool
// keeps the sign-in, and `broker login` runs the tool's own sign-in where
// the user sees it.
func IsCLISource(login string) bool { return cliTools()[login] != nil }

// Source describes where a profile's tokens come from, for status and
// doctor.
type Source struct {
	// Login is the profile's login.
	Login string
	// Description says it in words: "MSAL, sign-in in the browser",
	// "az account get-access-token".
	Description string
	// Tool is the credential tool's path ("" for MSAL, or when missing).
	Tool string
	// Err says why the tool cannot run (an *Error, misconfigured).
	Err error
}

// SourceDescription says in words where the tokens of a profile with this
// login come from: "MSAL, sign-in in the browser", "az account
// get-access-token".
func SourceDescription(login string) string {
	if d := unattendedLogin(login); d != "" {
		return d
	}
	if t := cliTools()[login]; t != nil {
		return t.command + " " + strings.Join(t.tokenArgs(&config.Profile{}, "")[:2], " ")
	}
	if login == config.LoginDeviceCode {
		return "MSAL, sign-in with a device code"
	}
	return "MSAL, sign-in in the browser"
}

// DescribeSource describes the source of p, looking the tool up on the
// PATH of environ (nil: this process's).
func DescribeSource(p *config.Profile, environ []string) Source {
	src := Source{Login: p.Login, Description: SourceDescription(p.Login)}
	if config.IsUnattended(p.Login) {
		src.Description = unattendedSource(p)
	}
	t := cliTools()[p.Login]
	if t == nil {
		return src
	}
	if environ == nil {
		environ = os.Environ()
	}
	path, err := findTool(t, environ)
	if err != nil {
		src.Err = &Error{Class: ClassMisconfigured,
			Message: fmt.Sprintf("%s is not installed or not on PATH (profile %q has login = %q)", t.product, p.Name, t.login),
			Hint:    t.install + ", or put the folder of " + t.command + " on PATH", Err: err}
		return src
	}
	src.Tool = path
	return src
}
