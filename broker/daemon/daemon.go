// Package daemon is `broker run`: a refresher per profile that owns the
// profile's current token and refreshes it on the wall clock before it
// expires, fan-out of every new token to the profile's targets, the
// failure policy (back off on temporary failures, stop and wait for the
// user when sign-in is required, report a misconfiguration once), events
// for the tray and the local API, and config reload.
//
// Data flows one way: config → engine (MSAL) → refresher → targets and the
// local API. The Daemon's methods are safe for concurrent use; each
// profile's token is owned by its refresher goroutine.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"github.com/mcp-token-broker/mcp-token-broker/files/watch"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/reask"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Engine gives the daemon each profile's sign-in client. The engine's
// *engine.Engine satisfies it through a small adapter (cmd/broker/cli).
type Engine interface {
	Auth(profile string) (Auth, error)
}

// StorageReporter is implemented by engines that can say where tokens are
// kept ("keyring" or "file") and warn about a plain file.
type StorageReporter interface {
	Storage() (mode, warning string)
}

// Options configure a Daemon.
type Options struct {
	// Config is the configuration in force at start (required).
	Config *config.Config
	// ConfigPath is the user's config file, watched for edits ("" = no
	// reload). AdminConfigPath is the admin file (read first).
	ConfigPath      string
	AdminConfigPath string
	// Load reads the config on reload (default config.Load).
	Load func(admin, user string) (*config.Config, error)
	// Engine gives each profile's sign-in client (required).
	Engine Engine
	// Reopen builds an engine for a reloaded config; nil keeps Engine.
	Reopen func(ctx context.Context, cfg *config.Config) (Engine, error)
	// NewTarget builds a delivery target (delivery.Deliverer.Target).
	NewTarget func(t config.Target) (Target, error)
	// StateDir holds the token cache, polled to notice a `broker login`
	// run by another process ("" = no polling).
	StateDir string
	// Logger receives events; never tokens.
	Logger *slog.Logger
	// Clock is time (default the real one).
	Clock Clock
	// Rand returns numbers in [0,1) for jitter (default math/rand/v2).
	Rand func() float64
	// OpenURL opens a URL (kept for the tray's "Open config/log").
	OpenURL func(string) error
	// NoWatch turns off file watching (config reload and re-applying
	// overwritten targets); for tests that fake time.
	NoWatch bool
	// OnConfig is called with every config that comes into force (at
	// start and after each good reload), e.g. to set the log level.
	OnConfig func(cfg *config.Config)
	// Network identifies the machine's network configuration (default
	// its interface addresses); when it changes, failed profiles retry
	// at once (a VPN came up, the captive portal is passed).
	Network func() string
	// ProxyStatus, when set, is the loopback proxy's state (broker/proxy)
	// that Status includes; the proxy calls Changed when it changes.
	ProxyStatus func() *state.Proxy
}

// cachePollEvery is how often the token cache's files are looked at.
const cachePollEvery = 5 * time.Second

// Daemon keeps every profile's token fresh and delivered.
type Daemon struct {
	opts  Options
	log   *slog.Logger
	clock Clock
	rand  func() float64

	mu        sync.Mutex
	cfg       *config.Config
	eng       Engine
	profiles  map[string]*running
	configErr string
	ctx       context.Context // the Run context, nil before Run
	reloadMu  sync.Mutex      // one reload at a time
	w         *watch.Watcher

	subMu   sync.Mutex
	subs    map[int]chan struct{}
	nextSub int

	asks *reask.Memo // which server was given which token when
}

// running is a started refresher and how to stop it.
type running struct {
	r      *refresher
	cancel context.CancelFunc
	done   chan struct{}
}

// New checks the options; it starts nothing (see Run).
func New(o Options) (*Daemon, error) {
	if o.Config == nil {
		return nil, errors.New("daemon: no configuration")
	}
	if o.Engine == nil {
		return nil, errors.New("daemon: no engine")
	}
	if o.NewTarget == nil {
		return nil, errors.New("daemon: no target factory")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Clock == nil {
		o.Clock = realClock{}
	}
	if o.Rand == nil {
		o.Rand = randFloat
	}
	if o.Load == nil {
		o.Load = config.Load
	}
	if o.Network == nil {
		o.Network = interfaceAddrs
	}
	asks := reask.New()
	if o.StateDir != "" {
		asks = reask.Shared(o.StateDir) // the hot path answers a server's first ask
	}
	return &Daemon{
		opts:     o,
		log:      o.Logger,
		clock:    o.Clock,
		rand:     o.Rand,
		cfg:      o.Config,
		eng:      o.Engine,
		profiles: map[string]*running{},
		subs:     map[int]chan struct{}{},
		asks:     asks,
	}, nil
}

// Run starts a refresher per profile (each writes its current token to its
// targets at once), watches the config and the token cache, and blocks
// until ctx ends; then it stops everything, letting writes in progress
// finish.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.ctx != nil {
		d.mu.Unlock()
		return errors.New("daemon: already running")
	}
	d.ctx = ctx
	cfg := d.cfg
	d.mu.Unlock()
	d.log.Info("daemon started", "pid", os.Getpid(), "profiles", len(cfg.Profiles))
	if d.opts.OnConfig != nil {
		d.opts.OnConfig(cfg)
	}
	// The watcher exists before the first writes, so that it remembers
	// them (Written) and does not take the broker's own first write for a
	// client's; it watches the targets' folders once they are known.
	var wg sync.WaitGroup
	var w *watch.Watcher
	if !d.opts.NoWatch {
		var err error
		if w, err = watch.New(d.log); err != nil {
			d.log.Warn("file watching unavailable; config edits and overwritten targets are noticed only at the next refresh", "err", err)
			w = nil
		} else {
			d.mu.Lock()
			d.w = w
			d.mu.Unlock()
			wg.Add(1)
			go func() { defer wg.Done(); w.Run(ctx) }()
		}
	}
	d.apply(ctx, nil, cfg, false)
	if w != nil {
		d.watchFiles(w)
	}
	wg.Add(1)
	go func() { defer wg.Done(); d.pollCache(ctx) }()

	<-ctx.Done()
	d.log.Info("daemon stopping")
	d.mu.Lock()
	all := d.profiles
	d.profiles = map[string]*running{}
	d.mu.Unlock()
	for _, p := range all {
		p.cancel()
	}
	for _, p := range all {
		<-p.done
	}
	wg.Wait()
	d.notify()
	d.log.Info("daemon stopped")
	return nil
}

// apply starts, restarts and stops refreshers so that they match cfg.
// old is the config in force before (nil at start); restartAll restarts
// every profile (a new engine), still scrubbing what old had and cfg has
// not.
func (d *Daemon) apply(ctx context.Context, old, cfg *config.Config, restartAll bool) {
	rb := refreshBefore(cfg)
	for name, p := range cfg.Profiles {
		p.Name = name
		d.mu.Lock()
		cur := d.profiles[name]
		d.mu.Unlock()
		if !restartAll && cur != nil && old != nil && reflect.DeepEqual(old.Profiles[name], p) && refreshBefore(old) == rb {
			continue
		}
		if cur != nil {
			cur.cancel()
			<-cur.done
		}
		if old != nil {
			d.scrubRemoved(ctx, old.Profiles[name], p)
		}
		d.start(ctx, p, rb)
	}
	d.mu.Lock()
	var gone []*running
	for name, cur := range d.profiles {
		if _, ok := cfg.Profiles[name]; !ok {
			gone = append(gone, cur)
			delete(d.profiles, name)
		}
	}
	d.mu.Unlock()
	for _, cur := range gone {
		cur.cancel()
		<-cur.done
	}
	if old != nil {
		for name, p := range old.Profiles {
			if _, ok := cfg.Profiles[name]; !ok {
				d.scrubRemoved(ctx, p, nil)
			}
		}
	}
	d.notify()
}

// scrubRemoved takes the broker's token out of the targets that a config
// edit removed from a profile (cur is nil when the whole profile went):
// a token must not stay behind in a file the broker no longer looks after.
func (d *Daemon) scrubRemoved(ctx context.Context, old, cur *config.Profile) {
	if old == nil {
		return
	}
	for _, t := range old.Targets {
		if cur != nil && slices.Contains(cur.Targets, t) {
			continue
		}
		impl, err := d.opts.NewTarget(t)
		if err != nil {
			continue
		}
		rctx, cancel := context.WithTimeout(ctx, attemptTimeout)
		err = impl.Remove(rctx).Err
		cancel()
		if err != nil {
			d.log.Warn("cannot scrub a target removed from the config", "profile", old.Name, "client", t.Client, "server", t.Server, "path", t.Path, "err", err)
			continue
		}
		d.log.Info("scrubbed a target removed from the config", "profile", old.Name, "client", t.Client, "server", t.Server, "path", t.Path)
	}
}

// Reload reads the config file again now (`broker connect` and
// `disconnect` ask for it, so that the daemon knows the target when they
// return) and returns the reload's error; the last good config stays in
// force after an error.
func (d *Daemon) Reload(ctx context.Context) error {
	d.mu.Lock()
	run := d.ctx
	d.mu.Unlock()
	if run == nil || run.Err() != nil {
		return errors.New("the daemon is not running")
	}
	done := make(chan struct{})
	go func() { defer close(done); d.reload(run) }()
	select {
	case <-done:
	case <-ctx.Done():
		return ctx.Err()
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.configErr != "" {
		return &config.Error{Message: "the daemon cannot use the config: " + d.configErr, Hint: "fix the file; the daemon keeps the last good config"}
	}
	return nil
}

// start starts one profile's refresher.
func (d *Daemon) start(parent context.Context, p *config.Profile, rb time.Duration) {
	d.mu.Lock()
	eng := d.eng
	d.mu.Unlock()
	a, err := eng.Auth(p.Name)
	r := newRefresher(d, p, a, rb)
	ctx, cancel := context.WithCancel(parent)
	r.ctx = ctx
	for _, tc := range p.Targets {
		tc.Profile = p.Name
		impl, terr := d.opts.NewTarget(tc)
		path := tc.Path
		if terr != nil {
			impl = brokenTarget{terr}
		} else if wp, ok := impl.(interface{ WatchPaths() []string }); ok && path == "" {
			if ps := wp.WatchPaths(); len(ps) > 0 {
				path = ps[0]
			}
		}
		r.targets = append(r.targets, newTargetWorker(d, tc, path, impl, r.log))
	}
	run := &running{r: r, cancel: cancel, done: make(chan struct{})}
	d.mu.Lock()
	d.profiles[p.Name] = run
	d.mu.Unlock()
	if err != nil {
		// The profile cannot even be built (bad authority, …): report it
		// and wait for a config edit.
		r.st = state.Degraded
		r.lastErr = err
		r.broken = err
		d.log.Error("profile cannot be used", "profile", p.Name, "err", err, "hint", hintOf(err))
		go func() { defer close(run.done); defer close(r.stopped); <-ctx.Done() }()
		return
	}
	go func() { defer close(run.done); r.run(ctx) }()
}

// brokenTarget stands for a target whose config is wrong: every write
// reports why.
type brokenTarget struct{ err error }

func (b brokenTarget) Apply(context.Context, token.Token) delivery.Result { return b.result() }
func (b brokenTarget) Remove(context.Context) delivery.Result             { return b.result() }
func (b brokenTarget) result() delivery.Result {
	return delivery.Result{Word: delivery.Failed, Err: b.err}
}

// refreshBefore is the setting or its default.
func refreshBefore(cfg *config.Config) time.Duration {
	if d := cfg.Settings.RefreshBefore.Duration; d > 0 {
		return d
	}
	return DefaultRefreshBefore
}

// reload reads the config again. An invalid file keeps the config in
// force and reports the error in status and log.
func (d *Daemon) reload(ctx context.Context) {
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	cfg, err := d.opts.Load(d.opts.AdminConfigPath, d.opts.ConfigPath)
	if err != nil {
		d.mu.Lock()
		d.configErr = err.Error()
		d.mu.Unlock()
		d.log.Error("config reload failed; keeping the last good config", "err", err, "hint", hintOf(err))
		d.notify()
		return
	}
	d.mu.Lock()
	old := d.cfg
	d.configErr = ""
	d.mu.Unlock()
	if reflect.DeepEqual(old.Profiles, cfg.Profiles) && reflect.DeepEqual(old.Settings, cfg.Settings) {
		d.notify()
		return
	}
	d.log.Info("config reloaded", "profiles", len(cfg.Profiles))
	restartAll := false
	if d.opts.Reopen != nil && !reflect.DeepEqual(old.Settings.Storage, cfg.Settings.Storage) || d.opts.Reopen != nil && !reflect.DeepEqual(old.Profiles, cfg.Profiles) {
		eng, err := d.opts.Reopen(ctx, cfg)
		if err != nil {
			d.mu.Lock()
			d.configErr = err.Error()
			d.mu.Unlock()
			d.log.Error("config reload failed; keeping the last good config", "err", err)
			d.notify()
			return
		}
		d.mu.Lock()
		d.eng = eng
		d.mu.Unlock()
		// Every profile gets a client from the new engine.
		restartAll = true
	}
	d.mu.Lock()
	d.cfg = cfg
	d.mu.Unlock()
	if d.opts.OnConfig != nil {
		d.opts.OnConfig(cfg)
	}
	d.apply(ctx, old, cfg, restartAll)
	if w := d.watcherOf(); w != nil {
		d.watchFiles(w)
	}
}

// Config returns the configuration in force.
func (d *Daemon) Config() *config.Config {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.cfg
}

// Status returns the whole picture. It never blocks on I/O.
func (d *Daemon) Status() state.Status {
	d.mu.Lock()
	st := state.Status{
		Daemon:      state.Daemon{Running: d.ctx != nil && d.ctx.Err() == nil, PID: os.Getpid()},
		ConfigError: d.configErr,
		Profiles:    []state.Profile{},
	}
	if sr, ok := d.eng.(StorageReporter); ok {
		st.Storage, st.StorageWarning = sr.Storage()
	}
	var rs []*refresher
	for _, p := range d.profiles {
		rs = append(rs, p.r)
	}
	d.mu.Unlock()
	sort.Slice(rs, func(i, j int) bool { return rs[i].name < rs[j].name })
	for _, r := range rs {
		st.Profiles = append(st.Profiles, r.status())
	}
	if d.opts.ProxyStatus != nil {
		st.Proxy = d.opts.ProxyStatus()
	}
	return st
}

// Changed tells subscribers that Status changed outside the daemon's own
// state (the proxy's).
func (d *Daemon) Changed() { d.notify() }

// Subscribe returns a channel that receives a value (coalesced, buffer 1)
// after every change of Status, and a function that ends the subscription.
func (d *Daemon) Subscribe() (<-chan struct{}, func()) {
	ch := make(chan struct{}, 1)
	d.subMu.Lock()
	id := d.nextSub
	d.nextSub++
	d.subs[id] = ch
	d.subMu.Unlock()
	return ch, func() {
		d.subMu.Lock()
		delete(d.subs, id)
		d.subMu.Unlock()
	}
}

// notify tells every subscriber that something changed.
func (d *Daemon) notify() {
	d.subMu.Lock()
	defer d.subMu.Unlock()
	for _, ch := range d.subs {
		select {
		case ch <- struct{}{}:
		default:
		}
	}
}

// refresher returns the named profile's refresher ("" = the only one).
// Errors are *config.Error (exit code 2).
func (d *Daemon) refresher(name string) (*refresher, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if name == "" {
		switch len(d.profiles) {
		case 0:
			return nil, &config.Error{Path: d.cfg.Path, Message: "no profile is configured",
				Hint: "add a [profiles.NAME] table with tenant, client_id and scopes (see `broker discover URL`)"}
		case 1:
			for _, p := range d.profiles {
				return p.r, nil
			}
		default:
			names := make([]string, 0, len(d.profiles))
			for n := range d.profiles {
				names = append(names, n)
			}
			sort.Strings(names)
			return nil, &config.Error{Message: fmt.Sprintf("several profiles are configured (%s) and none was named", joinNames(names)),
				Hint: "name one with --profile, e.g. --profile " + names[0]}
		}
	}
	p, ok := d.profiles[name]
	if !ok {
		return nil, &config.Error{Message: fmt.Sprintf("unknown profile %q", name), Hint: "see `broker status` for the configured profiles"}
	}
	return p.r, nil
}

func joinNames(ns []string) string {
	s := ""
	for i, n := range ns {
		if i > 0 {
			s += ", "
		}
		s += n
	}
	return s
}

// Token returns the profile's token with at least minValidity left,
// refreshing first when needed. It never opens a browser; errors are
// classified (auth.ClassOf) so the caller can exit 3 or 4.
func (d *Daemon) Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	r, err := d.refresher(profile)
	if err != nil {
		return token.Token{}, err
	}
	return r.token(ctx, minValidity, false)
}

// TokenFor is Token for a named server's helper (Claude Code's
// headersHelper names it): when the same server asks again within
// reask.Window for the token it was just given, the server refused that
// token although it is valid (revoked, Continuous Access Evaluation, a
// key rollover), so it gets a freshly redeemed one instead (at most once
// per server and window). If that refresh fails, the old token, still
// valid, is the answer.
func (d *Daemon) TokenFor(ctx context.Context, profile, server, url string, minValidity time.Duration) (token.Token, error) {
	r, err := d.refresher(profile)
	if err != nil {
		return token.Token{}, err
	}
	tok, err := r.token(ctx, minValidity, false)
	if err != nil || server == "" {
		return tok, err
	}
	key := reask.Key(r.name, server, url)
	if !d.asks.Ask(key, tok.Value.Reveal(), d.clock.Now()) {
		return tok, nil
	}
	r.log.Info("a server asked again at once for the token it was given: replacing it", "server", server)
	fresh, err := r.token(ctx, minValidity, true)
	if err != nil {
		r.log.Warn("cannot replace the token a server asked again for", "server", server, "err", err)
		return tok, nil
	}
	d.asks.Given(key, fresh.Value.Reveal(), d.clock.Now())
	return fresh, nil
}

// RefreshNow redeems the refresh token now, whatever the schedule.
func (d *Daemon) RefreshNow(ctx context.Context, profile string) error {
	r, err := d.refresher(profile)
	if err != nil {
		return err
	}
	_, err = r.token(ctx, 0, true)
	return err
}

// Challenge answers a server's claims challenge (the decoded JSON of a
// 401's insufficient_claims: Conditional Access, CAE) for the profile: a
// token with those claims, silently when Entra allows, which becomes the
// profile's current token. When the user must act, the profile turns
// "sign-in required" naming the server (the tray notifies) and the next
// sign-in asks for the claims.
func (d *Daemon) Challenge(ctx context.Context, profile, server, claims string) (token.Token, error) {
	r, err := d.refresher(profile)
	if err != nil {
		return token.Token{}, err
	}
	return r.challenge(ctx, server, claims)
}

// ScopeChallenge answers a server's insufficient_scope challenge (a 403
// naming the scopes it needs) for the profile: a token for the union of
// the profile's scopes and these, silently when they have consent, which
// becomes the profile's current token. When the user must consent, the
// profile turns "sign-in required" naming the server and the scope (the
// tray notifies) and the next sign-in asks for them; later refreshes ask
// for them too. A scope of another API is an error for the caller only.
func (d *Daemon) ScopeChallenge(ctx context.Context, profile, server string, scopes []string) (token.Token, error) {
	r, err := d.refresher(profile)
	if err != nil {
		return token.Token{}, err
	}
	return r.scopeChallenge(ctx, server, scopes)
}

// SignIn signs the profile in interactively (the engine opens the
// browser, or prints a device code). Only one sign-in per profile is ever
// in flight; concurrent callers share it. It returns once the new token
// was handed to every target and their first results are in status.
func (d *Daemon) SignIn(ctx context.Context, profile string) error {
	r, err := d.refresher(profile)
	if err != nil {
		return err
	}
	return r.signIn(ctx)
}

// SignOut forgets the profile's account and tokens and scrubs the token
// from every target.
func (d *Daemon) SignOut(ctx context.Context, profile string) error {
	r, err := d.refresher(profile)
	if err != nil {
		return err
	}
	return r.signOut(ctx)
}

// Sync writes the current token to every target of the profile ("" = all
// profiles) now; it returns the failed targets joined (the others are
// written all the same).
func (d *Daemon) Sync(ctx context.Context, profile string) error {
	if profile == "" {
		d.mu.Lock()
		var rs []*refresher
		for _, p := range d.profiles {
			rs = append(rs, p.r)
		}
		d.mu.Unlock()
		var errs []error
		for _, r := range rs {
			if err := r.sync(ctx); err != nil {
				errs = append(errs, fmt.Errorf("profile %s: %w", r.name, err))
			}
		}
		return errors.Join(errs...)
	}
	r, err := d.refresher(profile)
	if err != nil {
		return err
	}
	return r.sync(ctx)
}

// DeviceCode shows the instructions of a device-code sign-in ("open URL
// and enter the code …", what auth writes to its DeviceCodeOut) in the
// status of the profiles whose device-code sign-in is in flight, so that
// the tray and `status` can show them; they go when the sign-in ends.
func (d *Daemon) DeviceCode(msg string) {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return
	}
	d.mu.Lock()
	var rs []*refresher
	for _, p := range d.profiles {
		rs = append(rs, p.r)
	}
	d.mu.Unlock()
	changed := false
	for _, r := range rs {
		r.mu.Lock()
		// A device code, or what a credential tool's own sign-in
		// (az login, …) says; never the browser sign-in's URL.
		if r.login != nil && (r.prof.Login == config.LoginDeviceCode || auth.IsCLISource(r.prof.Login)) {
			r.prompt, changed = msg, true
		}
		r.mu.Unlock()
	}
	if changed {
		d.notify()
	}
}

// CacheChanged tells the daemon that another process changed the token
// cache (`broker login` without the daemon's help): a profile waiting for
// the user picks up the new sign-in at once.
func (d *Daemon) CacheChanged() {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, p := range d.profiles {
		p.r.pokeCache()
	}
}

// cacheStamp identifies the token cache's current content cheaply (file
// size and modification time).
func (d *Daemon) cacheStamp() string {
	if d.opts.StateDir == "" {
		return ""
	}
	s := ""
	for _, n := range []string{"msal-cache.bin", "msal-cache.json"} {
		if fi, err := os.Stat(filepath.Join(d.opts.StateDir, n)); err == nil {
			s += fmt.Sprintf("%s:%d:%d;", n, fi.Size(), fi.ModTime().UnixNano())
		}
	}
	return s
}

// pollCache looks at the token cache every few seconds and pokes the
// refreshers when it changed; it also starts watching target folders that
// appeared since.
func (d *Daemon) pollCache(ctx context.Context) {
	last := d.cacheStamp()
	network := d.opts.Network()
	for {
		select {
		case <-ctx.Done():
			return
		case <-d.clock.After(cachePollEvery):
		}
		if w := d.watcherOf(); w != nil {
			w.Retry()
		}
		if s := d.cacheStamp(); s != last {
			last = s
			d.CacheChanged()
		}
		if n := d.opts.Network(); n != network {
			network = n
			d.mu.Lock()
			var rs []*refresher
			for _, p := range d.profiles {
				rs = append(rs, p.r)
			}
			d.mu.Unlock()
			for _, r := range rs {
				r.retrySoon("network change")
			}
		}
	}
}

// interfaceAddrs lists the machine's interface addresses: what changes
// when a network comes or goes.
func interfaceAddrs() string {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return ""
	}
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(a.String())
		b.WriteByte(' ')
	}
	return b.String()
}
