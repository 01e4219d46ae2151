// Package engine is what the command line and the daemon share: it opens
// the token store and builds one auth.Client per profile from the
// configuration, and it reports the offline status read from the cache.
package engine

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
)

// Options configure an Engine.
type Options struct {
	// Config is the loaded configuration (required).
	Config *config.Config
	// StateDir holds the token cache; "" is paths.StateDir().
	StateDir string
	// HTTPClient talks to the authority; nil is auth.HTTPClient of the
	// profile (the system's roots plus its ca_file).
	HTTPClient *http.Client
	// OpenURL opens the browser for interactive sign-in.
	OpenURL func(string) error
	// DeviceCodeOut receives the device code and sign-in URL (stderr).
	DeviceCodeOut io.Writer
	// Keyring is the OS keyring seam; nil is the real one.
	Keyring store.Keyring
	// Logger gets events (never tokens); nil discards.
	Logger *slog.Logger
	// Now is the clock; nil is time.Now.
	Now func() time.Time
}

// Engine holds the store and the per-profile clients. It is safe for
// concurrent use.
type Engine struct {
	cfg   *config.Config
	opts  Options
	store *store.Store
	log   *slog.Logger

	mu      sync.Mutex
	clients map[string]*auth.Client
}

// Open opens the token store. It does not call the authority.
func Open(ctx context.Context, o Options) (*Engine, error) {
	if o.Config == nil {
		return nil, fmt.Errorf("engine: no configuration")
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dir := o.StateDir
	if dir == "" {
		d, err := paths.StateDir()
		if err != nil {
			return nil, fmt.Errorf("finding the state folder: %w", err)
		}
		dir = d
	}
	st, err := store.Open(ctx, store.Options{Dir: dir, Storage: o.Config.Settings.Storage, Keyring: o.Keyring, Logger: o.Logger})
	if err != nil {
		return nil, err
	}
	o.StateDir = dir
	return &Engine{cfg: o.Config, opts: o, store: st, log: o.Logger, clients: map[string]*auth.Client{}}, nil
}

// Config returns the configuration the engine was opened with.
func (e *Engine) Config() *config.Config { return e.cfg }

// Store returns the token store.
func (e *Engine) Store() *store.Store { return e.store }

// Profile returns the named profile; "" means the only one.
func (e *Engine) Profile(name string) (*config.Profile, error) {
	return SelectProfile(e.cfg, name)
}

// SelectProfile returns the named profile of cfg; "" means the only one.
// Errors are *config.Error (exit code 2) with a hint.
func SelectProfile(cfg *config.Config, name string) (*config.Profile, error) {
	names := cfg.ProfileNames()
	file := cfg.Path
	if name == "" {
		switch len(names) {
		case 0:
			return nil, &config.Error{Path: file, Message: "no profile is configured",
				Hint: "add a [profiles.NAME] table with tenant, client_id and scopes (see `broker discover URL`)"}
		case 1:
			return cfg.Profiles[names[0]], nil
		default:
			return nil, &config.Error{Message: fmt.Sprintf("several profiles are configured (%s) and none was named", strings.Join(names, ", ")),
				Hint: "name one with --profile, e.g. --profile " + names[0]}
		}
	}
	p, ok := cfg.Profiles[name]
	if !ok {
		known := "none is configured"
		if len(names) > 0 {
			known = "known profiles: " + strings.Join(names, ", ")
		}
		return nil, &config.Error{Message: fmt.Sprintf("unknown profile %q", name),
			Hint: known}
	}
	return p, nil
}

// Client returns the sign-in client of the named profile ("" = the only
// one), built once.
func (e *Engine) Client(name string) (*auth.Client, error) {
	p, err := e.Profile(name)
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if c, ok := e.clients[p.Name]; ok {
		return c, nil
	}
	hc := e.opts.HTTPClient
	if hc == nil {
		var err error
		if hc, err = auth.HTTPClient(e.cfg, p); err != nil {
			return nil, err
		}
	}
	c, err := auth.New(p, auth.Options{
		HTTPClient:    hc,
		Cache:         e.store.Cache(p.Name),
		OpenURL:       e.opts.OpenURL,
		DeviceCodeOut: e.opts.DeviceCodeOut,
		Logger:        e.log.With("profile", p.Name),
		Now:           e.opts.Now,
		RefreshLock: func(ctx context.Context) (func(), error) {
			return e.store.RefreshLock(ctx, p.Name)
		},
		ClaimsFile: filepath.Join(e.opts.StateDir, "claims-"+p.Name+".json"),
		ScopesFile: ScopesFile(e.opts.StateDir, p.Name),
	})
	if err != nil {
		return nil, err
	}
	e.clients[p.Name] = c
	return c, nil
}

// ScopesFile is where the profile keeps the scopes servers' scope
// challenges added (auth.Options.ScopesFile), in the state folder.
func ScopesFile(stateDir, profile string) string {
	return filepath.Join(stateDir, "scopes-"+profile+".json")
}

// Logout forgets the profile's account and tokens: from MSAL's cache and
// from the store.
func (e *Engine) Logout(ctx context.Context, name string) error {
	c, err := e.Client(name)
	if err != nil {
		return err
	}
	if err := c.Logout(ctx); err != nil {
		return err
	}
	return e.store.Forget(ctx, c.Profile().Name)
}

// Status is the offline picture: no daemon, read from the cache without
// calling the authority.
func (e *Engine) Status(ctx context.Context) state.Status {
	st := state.Status{Storage: e.store.Mode(), StorageWarning: e.store.Warning(), Profiles: []state.Profile{}}
	now := e.opts.Now()
	names := e.cfg.ProfileNames()
	sort.Strings(names)
	for _, name := range names {
		p := e.cfg.Profiles[name]
		ps := state.Profile{Name: name, State: state.SignedOut, Source: p.Login, Targets: []state.Target{}}
		for _, t := range p.Targets {
			ps.Targets = append(ps.Targets, state.Target{Client: t.Client, Server: t.Server, Path: t.Path, State: state.TargetPending})
		}
		c, err := e.Client(name)
		if err != nil {
			ps.LastError = err.Error()
			st.Profiles = append(st.Profiles, ps)
			continue
		}
		ps.AddedScopes = c.ExtraScopes()
		cached, err := c.Cached(ctx)
		switch {
		case err != nil:
			ps.LastError = err.Error()
		case cached.Account == "":
		case cached.HasRefreshToken || cached.ExpiresOn.After(now):
			ps.State = state.OK
			ps.Account = cached.Account
			if !cached.ExpiresOn.IsZero() {
				exp := cached.ExpiresOn
				ps.ExpiresOn = &exp
			}
		default:
			ps.State = state.SignInRequired
			ps.Account = cached.Account
		}
		st.Profiles = append(st.Profiles, ps)
	}
	return st
}
