// Package demo is `broker demo`: the whole loop on one machine with no
// Entra tenant and no internet. It starts the Entra ID simulator and its
// protected MCP endpoint (the Azure API Management stand-in), makes a
// sandbox HOME holding a Claude Code, a VS Code and a Copilot CLI
// configuration and an env file, signs a demo user in through a browser
// stand-in, and runs the real daemon (with its local API) over the real
// engine and the real delivery targets, with tokens short-lived enough
// that a refresh comes about every minute.
//
// It shows, live: each sign-in and refresh, each file written (its path
// and the changed lines, tokens masked), and for every client the MCP
// endpoint accepting the token read back from that client's file the way
// the client would read it (for Claude Code: by running the headersHelper
// command found in ~/.claude.json).
package demo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/brokerd"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/entrasim"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Defaults of Options. MSAL does not cache a token of 300 s or less, so the
// lifetime stays well above; with refresh_before at its minimum (5m) a
// token is refreshed 75 s after it was issued, up to 30 s earlier (the
// daemon's jitter is at most 10% of refresh_before): every 45–75 s.
const (
	DefaultLifetime      = 6*time.Minute + 15*time.Second
	DefaultRefreshBefore = 5 * time.Minute
)

// Options configure a demo.
type Options struct {
	// Dir is the sandbox; "" makes a temporary one, removed at the end. A
	// given Dir must be new, empty or an earlier demo's sandbox, and stays.
	Dir string
	// Once runs one sign-in, write and check cycle and returns.
	Once bool
	// Out receives the demo's lines (stdout).
	Out io.Writer
	// Color turns on ANSI colours (the caller decides: a terminal and no
	// NO_COLOR).
	Color bool
	// BrokerPath is the broker binary that Claude Code's headersHelper
	// runs (required: the demo starts it as a client would).
	BrokerPath string
	// SetProcessEnv points this process's HOME, XDG_* and the broker's
	// variables at the sandbox too, so that nothing in the process can
	// reach the real home (the command line sets it; tests do not).
	SetProcessEnv bool
	// Lifetime of access tokens and the daemon's refresh_before (defaults
	// above).
	Lifetime      time.Duration
	RefreshBefore time.Duration
	// TokenVersion is the shape of the demo API's tokens: 2 (the
	// default; aud the API's application ID) or 1 (aud its App ID URI).
	TokenVersion int

	// spoil names a client ("vscode", …) whose file gets a Microsoft Graph
	// token instead of the daemon's: the checks must catch it (tests).
	spoil string
}

// hintError is an error with a "hint:" line.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string    { return e.err.Error() }
func (e *hintError) Unwrap() error    { return e.err }
func (e *hintError) HintText() string { return e.hint }

// CheckError is returned when the MCP server refused the token read back
// from one or more clients.
type CheckError struct {
	Clients []string
}

func (e *CheckError) Error() string {
	return "the MCP server did not accept the token read back from " + strings.Join(e.Clients, ", ")
}

// HintText says where to look.
func (e *CheckError) HintText() string {
	return "the lines marked REFUSED above say what the server answered"
}

// run is one demo.
type run struct {
	opts    Options
	sim     *entrasim.Server
	sb      *sandbox
	p       *printer
	events  *bus
	clients []*clientInfo
	d       *daemon.Daemon
	log     *slog.Logger
	api     *countingListener
	asking  atomic.Int32 // headersHelper runs in progress

	mu      sync.Mutex
	failed  map[string]bool // labels of clients whose last check failed
	checked map[string]bool // labels of clients checked at least once
}

// Run runs the demo until ctx ends (Ctrl-C) or, with Once, until the
// first cycle's checks are done. It returns nil when every check passed
// (in a live run: when the last check of every client passed), a
// *CheckError naming the clients whose token the server refused, or the
// error that stopped it. The sandbox is removed unless Dir was given.
func Run(ctx context.Context, o Options) (err error) {
	if o.Out == nil {
		o.Out = io.Discard
	}
	if o.Lifetime == 0 {
		o.Lifetime = DefaultLifetime
	}
	if o.RefreshBefore == 0 {
		o.RefreshBefore = DefaultRefreshBefore
	}
	if !filepath.IsAbs(o.BrokerPath) {
		return fmt.Errorf("demo: the broker's own path is unknown (%q)", o.BrokerPath)
	}
	r := &run{opts: o, events: newBus(), failed: map[string]bool{}, checked: map[string]bool{}}

	r.sb, err = newSandbox(o.Dir)
	if err != nil {
		return err
	}
	r.p = &printer{w: o.Out, color: o.Color, home: r.sb.root, broken: make(chan struct{})}
	defer func() {
		if rerr := r.sb.remove(); rerr != nil && err == nil {
			err = fmt.Errorf("removing the sandbox: %w", rerr)
		}
	}()
	if o.SetProcessEnv {
		if err := r.sb.setProcessEnv(); err != nil {
			return err
		}
	}
	r.sim, err = entrasim.Start(entrasim.Options{Lifetime: o.Lifetime, TokenVersion: o.TokenVersion, Hostname: simHostname(goos())})
	if err != nil {
		return fmt.Errorf("starting the Entra ID simulator: %w", err)
	}
	defer r.sim.Close()
	if err := r.sb.fill(r.sim, o); err != nil {
		return fmt.Errorf("writing the sandbox: %w", err)
	}
	r.clients = r.newClients()

	logf, err := os.OpenFile(r.sb.logFile(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	r.log = slog.New(slog.NewTextHandler(logf, &slog.HandlerOptions{Level: slog.LevelDebug}))

	r.header()
	return r.loop(ctx)
}

// loop starts the daemon and its local API, signs in, and reports until
// the end.
func (r *run) loop(ctx context.Context) error {
	cfg, err := config.Load(r.sb.adminFile(), r.sb.configFile())
	if err != nil {
		return fmt.Errorf("the demo's config: %w", err)
	}
	// The daemon as `broker run` builds it, with the demo's overrides: the
	// simulator's HTTP client and browser stand-in, the observing
	// wrappers, and the sandbox.
	r.api = &countingListener{}
	env := r.integrationsEnv()
	d, err := brokerd.New(ctx, brokerd.Options{
		Config:          cfg,
		ConfigPath:      r.sb.configFile(),
		AdminConfigPath: r.sb.adminFile(),
		StateDir:        r.sb.stateDir(),
		Logger:          r.log,
		HTTPClient:      r.sim.HTTPClient(),
		OpenURL:         r.openURL,
		WrapEngine: func(e *engine.Engine) daemon.Engine {
			return observedEngine{eng: e, events: r.events, asked: &r.asking}
		},
		TargetEnv:  &env,
		WrapTarget: r.observeTarget,
		Address:    r.sb.socketPath(),
		// On Windows the local API is a named pipe per user, not per
		// sandbox: the demo serves none, so as not to take the real
		// daemon's place.
		NoLocalAPI: runtime.GOOS == "windows",
		WrapListener: func(l net.Listener) net.Listener {
			r.api.Listener = l
			return r.api
		},
	})
	if err != nil {
		return err
	}
	defer d.Close()
	r.d = d.Daemon

	dctx, stop := context.WithCancel(context.WithoutCancel(ctx))
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		err := d.Run(dctx)
		r.events.send(event{kind: evStopped, at: time.Now(), err: err})
	}()

	cycle := make(chan struct{}, 1)
	coordDone := make(chan struct{})
	go func() {
		defer close(coordDone)
		r.coordinate(ctx, cycle)
	}()

	var runErr error
	signedIn := make(chan error, 1)
	go func() { signedIn <- r.signIn(dctx) }()
	select {
	case <-ctx.Done():
	case <-r.p.broken:
	case err := <-signedIn:
		if err != nil {
			runErr = err
			break
		}
		if r.opts.Once {
			select {
			case <-cycle:
			case <-ctx.Done():
			case <-r.p.broken:
			}
		} else {
			select {
			case <-ctx.Done():
			case <-r.p.broken:
			}
		}
	}

	if ctx.Err() != nil {
		r.p.line("")
		r.p.event(time.Now(), "stopping", r.style(styleBold), "stopping the daemon")
	}
	stop()
	wg.Wait()
	close(r.events.done)
	<-coordDone

	if runErr == nil {
		runErr = r.result()
	}
	where := "sandbox " + r.sb.root + " removed"
	if r.sb.keep {
		where = "sandbox kept in " + r.sb.root
	}
	r.p.event(time.Now(), "done", r.style(styleBold), "daemon stopped; "+where)
	return runErr
}

func (r *run) style(s string) string {
	if r.opts.Color {
		return s
	}
	return ""
}

// signIn waits for the daemon's profile and signs the demo user in.
func (r *run) signIn(ctx context.Context) error {
	ch, unsub := r.d.Subscribe()
	defer unsub()
	for len(r.d.Status().Profiles) == 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-ch:
		case <-time.After(50 * time.Millisecond):
		}
	}
	if err := r.d.SignIn(ctx, profileName); err != nil {
		return fmt.Errorf("signing the demo user in: %w", err)
	}
	return nil
}

// openURL is the browser: it opens the sign-in page and submits it, as
// the user's browser would after they signed in.
func (r *run) openURL(authorizeURL string) error {
	r.events.send(event{kind: evBrowser, at: time.Now(), url: authorizeURL})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return entrasim.Browse(ctx, r.sim.HTTPClient(), authorizeURL)
}

// integrationsEnv is the machine as the delivery targets see it: the
// sandbox.
func (r *run) integrationsEnv() integrations.Env {
	return integrations.Env{
		Home:       r.sb.root,
		Getenv:     r.sb.getenv,
		GOOS:       goos(),
		BrokerPath: r.opts.BrokerPath,
	}
}

func (r *run) clientFor(t config.Target) *clientInfo {
	for _, c := range r.clients {
		if c.key == t.Client {
			return c
		}
	}
	return nil
}

// result is nil when the last check of every client passed.
func (r *run) result() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var names []string
	for _, c := range r.clients {
		if r.failed[c.label] {
			names = append(names, c.label)
		}
	}
	if len(names) > 0 {
		return &CheckError{Clients: names}
	}
	if len(r.checked) < len(r.clients) && r.opts.Once {
		return errors.New("the demo stopped before every client was checked")
	}
	return nil
}

// coordinate prints every event and runs the checks once every target
// has had the current token. It returns when the bus closes.
func (r *run) coordinate(ctx context.Context, cycle chan<- struct{}) {
	var cur token.Token
	var curFP string
	seen := map[*clientInfo]bool{}
	for {
		var ev event
		select {
		case ev = <-r.events.ch:
		case <-r.events.done:
			// Drain what is left, without checks.
			for {
				select {
				case ev := <-r.events.ch:
					r.show(ev)
				default:
					return
				}
			}
		}
		r.show(ev)
		switch ev.kind {
		case evSignIn, evRefresh, evAskedRefresh, evToken:
			if fp := entrasim.Fingerprint(ev.tok.Value.Reveal()); fp != curFP {
				cur, curFP = ev.tok, fp
				clear(seen)
			}
		case evWrite:
			if entrasim.Fingerprint(ev.tok.Value.Reveal()) != curFP || !ev.firstOf && ev.err == nil {
				continue
			}
			seen[ev.target.c] = true
			if len(seen) < len(r.clients) || ctx.Err() != nil {
				continue
			}
			clear(seen)
			r.checkAll(ctx, cur)
			r.showNext(cur)
			select {
			case cycle <- struct{}{}:
			default:
			}
		}
	}
}

// show prints one event.
func (r *run) show(ev event) {
	p := r.p
	switch ev.kind {
	case evBrowser:
		p.event(ev.at, "browser", r.style(styleBlue), "opening the sign-in page at "+hostOf(ev.url)+" (authorization code with PKCE)",
			p.style(styleDim, "the demo's browser stand-in signs "+r.sim.Username()+" in and posts the code back to MSAL"))
	case evSignIn:
		p.event(ev.at, "sign-in", r.style(styleBold+styleGreen),
			fmt.Sprintf("%s signed in; token for %s (v%d.0, aud %s) expires %s (%s)", ev.tok.Account, r.sim.APIAudience(),
				r.sim.TokenVersion(), ev.tok.Audience, ev.tok.ExpiresOn.Format("15:04:05"), until(ev.at, ev.tok.ExpiresOn)))
	case evRefresh:
		p.event(ev.at, "refresh", r.style(styleBold+styleYellow),
			fmt.Sprintf("the daemon refreshed the token by itself: new token expires %s (%s)",
				ev.tok.ExpiresOn.Format("15:04:05"), until(ev.at, ev.tok.ExpiresOn)))
	case evAskedRefresh:
		p.event(ev.at, "refresh", r.style(styleBold+styleYellow),
			fmt.Sprintf("the daemon refreshed the token for `broker headers` (less than 5 min were left): new token expires %s (%s)",
				ev.tok.ExpiresOn.Format("15:04:05"), until(ev.at, ev.tok.ExpiresOn)))
	case evToken:
		p.event(ev.at, "token", r.style(styleBold+styleYellow),
			fmt.Sprintf("the daemon got a token for %s silently (cache or refresh token), expires %s (%s)", ev.tok.Account,
				ev.tok.ExpiresOn.Format("15:04:05"), until(ev.at, ev.tok.ExpiresOn)))
	case evAuthFail:
		p.event(ev.at, "failed", r.style(styleBold+styleRed), maskAll(firstLine(ev.err.Error())),
			p.style(styleDim, "the daemon keeps the current token while it is valid and retries with backoff"))
	case evWrite:
		r.showWrite(ev)
	case evStopped:
		if ev.err != nil {
			p.event(ev.at, "error", r.style(styleRed), "the daemon stopped: "+ev.err.Error())
		}
	}
}

func (r *run) showWrite(ev event) {
	p := r.p
	c := ev.target.c
	path := p.rel(c.file)
	switch {
	case ev.err != nil:
		p.event(ev.at, "error", r.style(styleBold+styleRed), fmt.Sprintf("%-12s %s: %s", c.label, path, maskAll(ev.err.Error())))
	case ev.changed:
		rem, add := changedLines(ev.before, ev.after, ev.at)
		what, more := "wrote", p.diffLines(rem, add, 12)
		if !ev.firstOf {
			// Another program changed the value; the daemon's watcher
			// put the current token back.
			what = "restored"
			more = append([]string{p.style(styleDim, "another program changed the file; the daemon put the token back")}, more...)
		}
		p.event(ev.at, what, r.style(styleCyan), fmt.Sprintf("%-12s %s", c.label, path), more...)
	default:
		note := "already current"
		if ev.target.t.Mode() == integrations.ModeHelper {
			note = "no token in this file: headersHelper asks the broker for the current one"
		}
		p.event(ev.at, "unchanged", r.style(styleDim), fmt.Sprintf("%-12s %s", c.label, path), p.style(styleDim, note))
	}
}

// checkAll checks every client and prints one line each.
func (r *run) checkAll(ctx context.Context, cur token.Token) {
	for _, c := range r.clients {
		res := r.check(ctx, c, cur)
		if ctx.Err() != nil {
			return
		}
		r.mu.Lock()
		r.failed[c.label] = !res.ok
		r.checked[c.label] = true
		r.mu.Unlock()
		at := time.Now()
		from := res.from
		if from == "" {
			from = "its file"
		}
		if res.ok {
			note := ""
			if !res.current {
				note = r.p.style(styleYellow, " (an older token than the daemon's)")
			}
			r.p.event(at, "accepted", r.style(styleBold+styleGreen),
				fmt.Sprintf("%-12s %-38s → tools/list answered: %d tools%s", c.label, from, res.tools, note))
			continue
		}
		r.p.event(at, "REFUSED", r.style(styleBold+styleRed),
			fmt.Sprintf("%-12s %-38s → %s", c.label, from, res.problem))
	}
}

// showNext prints when the daemon will refresh next, and why then.
func (r *run) showNext(cur token.Token) {
	if r.opts.Once {
		return
	}
	st := r.d.Status()
	if len(st.Profiles) == 0 || st.Profiles[0].NextRefresh == nil {
		return
	}
	now := time.Now()
	next := *st.Profiles[0].NextRefresh
	due := cur.ExpiresOn.Add(-r.opts.RefreshBefore)
	why := fmt.Sprintf("%s before expiry", human(r.opts.RefreshBefore))
	if j := due.Sub(next).Round(time.Second); j > 0 {
		why += fmt.Sprintf(", %d s early (jitter)", int(j.Seconds()))
	}
	r.p.event(now, "next", r.style(styleDim), r.p.style(styleDim,
		fmt.Sprintf("refresh at %s (%s): %s; nothing to do but wait", next.Format("15:04:05"), until(now, next), why)))
}

// header prints what the demo set up.
func (r *run) header() {
	p, s, sb := r.p, r.sim, r.sb
	bold := func(t string) string { return p.style(styleBold, t) }
	dim := func(t string) string { return p.style(styleDim, t) }
	end := "removed at the end"
	if sb.keep {
		end = "kept after the end"
	}
	stopHow := "Ctrl-C stops the demo."
	if r.opts.Once {
		stopHow = "--once: one sign-in, write and check cycle."
	}
	jitter := min(r.opts.RefreshBefore/10, time.Minute)
	first := r.opts.Lifetime - r.opts.RefreshBefore
	lines := []string{
		bold("broker demo") + ": the whole loop against a simulated Entra ID, offline, in this process",
		"",
		"  " + bold("Entra ID ") + "  " + s.URL() + dim("  simulated tenant "+s.TenantDomain()+", user "+s.Username()),
		"  " + bold("MCP API  ") + "  " + s.MCPURL() + dim("  API Management stand-in: validates every token"),
		"  " + bold("sandbox  ") + "  " + sb.root + dim("  HOME and XDG_* point here; "+end),
		"  " + bold("config   ") + "  " + p.rel(sb.configFile()) + dim("  profile \""+profileName+"\", scope "+s.Scope()),
		"  " + bold("daemon   ") + "  the real one, in this process" + dim("; log "+p.rel(sb.logFile())),
		"             local API on " + apiWhere(p, sb),
		"  " + bold("tokens   ") + fmt.Sprintf("  live %s; refreshed when %s are left (refresh_before), up to %d s",
			human(r.opts.Lifetime), human(r.opts.RefreshBefore), int(jitter.Seconds())),
		"             " + fmt.Sprintf("earlier (jitter): a new token every %d–%d s, with nobody doing anything",
			int((first-jitter).Seconds()), int(first.Seconds())),
	}
	wide := 0
	for _, c := range r.clients {
		wide = max(wide, len(p.rel(c.file)))
	}
	for i, c := range r.clients {
		label := "           "
		if i == 0 {
			label = "  " + bold("clients  ")
		}
		lines = append(lines, fmt.Sprintf("%s  %-12s %-*s  %s", label, c.label, wide, p.rel(c.file), dim(c.how)))
	}
	lines = append(lines, "", dim(stopHow), "")
	for _, l := range lines {
		p.line(l)
	}
}

// hostOf is a URL's scheme and host.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

func goos() string { return runtime.GOOS }

// simHostname is the host the simulator announces: localhost on Windows,
// where Go verifies with the system and does not match IP addresses in
// certificates (golang/go#37176); its address elsewhere.
func simHostname(goos string) string {
	if goos == "windows" {
		return "localhost"
	}
	return ""
}

// apiWhere says where the demo's daemon serves its local API.
func apiWhere(p *printer, sb *sandbox) string {
	if runtime.GOOS == "windows" {
		return "none (a named pipe is per user, and the real daemon's to take)"
	}
	return p.rel(sb.socketPath())
}

// countingListener counts the connections to the daemon's local API, so
// that the demo can say whether `broker headers` asked the daemon.
type countingListener struct {
	net.Listener
	n atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}
