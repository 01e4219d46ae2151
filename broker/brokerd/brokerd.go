// Package brokerd builds the daemon the one way it runs: `broker run`,
// `broker demo` and the tests all call New, so that no test passes on
// wiring production does not have. New puts together the engine (MSAL and
// the token store) and Reopen for a changed config, the delivery targets
// with the watcher's hook for the daemon's own writes, the log, and the
// local API server with the daemon's record; callers give only what
// differs for them (an HTTP client that trusts the simulator, a browser
// stand-in, a wrapper that watches the engine or the targets, sandbox
// paths). The daemon's loopback MCP proxy (broker/proxy) is built here
// too: it serves the targets in proxy mode with the daemon's tokens.
package brokerd

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/logging"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// Options configure a daemon. The zero value of every field but Config is
// what `broker run` uses.
type Options struct {
	// Config is the configuration in force at start (required).
	Config *config.Config
	// ConfigPath is the user's config file, watched for edits;
	// AdminConfigPath the admin layer ("" = paths.AdminConfigFile()).
	ConfigPath      string
	AdminConfigPath string
	// StateDir holds the token cache, the log and the daemon's record (""
	// = paths.StateDir()).
	StateDir string
	// Logger receives the daemon's events; nil opens broker.log in the
	// state folder at the config's log level (and follows its changes).
	Logger *slog.Logger

	// HTTPClient talks to the authority, and its Transport (when set) to
	// the MCP servers behind the proxy (nil = the default client).
	HTTPClient *http.Client
	// OpenURL opens the sign-in page (nil = $BROWSER, else the OS's).
	OpenURL func(string) error
	// DeviceCodeOut receives a device-code sign-in's instructions
	// (besides the daemon's status, where the tray shows them).
	DeviceCodeOut io.Writer
	// WrapEngine, when set, wraps each engine the daemon gets (at start
	// and after a config edit); the demo watches the engine through it.
	WrapEngine func(*engine.Engine) daemon.Engine

	// TargetEnv is the machine as the targets see it (nil =
	// integrations.DefaultEnv()). Its Written hook is the daemon's.
	TargetEnv *integrations.Env
	// WrapTarget, when set, wraps each real target (the demo reports
	// every write through it).
	WrapTarget func(config.Target, *delivery.Target) (daemon.Target, error)

	// Address is where the local API listens ("" = localapi.ListenDefault:
	// the usual place, or a new private folder when that is not safe).
	Address string
	// NoLocalAPI serves no local API (the demo on Windows, where the named
	// pipe is per user and the real daemon's).
	NoLocalAPI bool
	// WrapListener, when set, wraps the local API's listener.
	WrapListener func(net.Listener) net.Listener
}

// Daemon is a built daemon: the daemon, its local API and its log.
type Daemon struct {
	*daemon.Daemon
	opts     Options
	log      *slog.Logger
	logFile  *logging.Log
	logPath  string
	listener net.Listener
	address  string
	proxy    *proxy.Server
}

// New builds the daemon; it starts nothing but the listener (see Run).
// The caller of `broker run` holds the one-daemon Lock first, and calls
// Close when done with the daemon and its log.
func New(ctx context.Context, o Options) (_ *Daemon, err error) {
	if o.Config == nil {
		return nil, errors.New("brokerd: no configuration")
	}
	if o.AdminConfigPath == "" {
		o.AdminConfigPath = paths.AdminConfigFile()
	}
	if o.StateDir == "" {
		if o.StateDir, err = paths.StateDir(); err != nil {
			return nil, err
		}
	}
	if o.OpenURL == nil {
		o.OpenURL = auth.BrowserOpener(os.Getenv("BROWSER"))
	}
	if o.DeviceCodeOut == nil {
		o.DeviceCodeOut = io.Discard
	}
	b := &Daemon{opts: o, log: o.Logger}
	defer func() {
		if err != nil {
			b.Close()
		}
	}()
	if b.log == nil {
		b.logPath = filepath.Join(o.StateDir, paths.LogName)
		b.logFile, err = logging.Open(logging.Options{Path: b.logPath, Level: o.Config.Settings.LogLevel})
		if err != nil {
			return nil, err
		}
		b.log = b.logFile.Logger
	}
	env := o.TargetEnv
	if env == nil {
		e, err := integrations.DefaultEnv()
		if err != nil {
			return nil, err
		}
		env = &e
	}
	tenv := *env
	// The watcher ignores the daemon's own writes.
	tenv.Written = func(path string, data []byte) { b.Daemon.Written(path, data) }
	// Proxied targets get the proxy's URL at the port of the config in
	// force, and their local credential from the state folder.
	creds := proxy.NewCredentials(o.StateDir)
	if tenv.Proxy == nil {
		tenv.Proxy = proxy.Endpoints{Credentials: creds, Port: func() int { return proxy.Port(b.Daemon.Config()) }}
	}

	// A device code goes to DeviceCodeOut and into status (the tray shows
	// it), each on its own: brokerw.exe (the Windows GUI build the Run key
	// starts) has no stderr, and io.MultiWriter would stop at its error.
	deviceCodeOut := fanOut{o.DeviceCodeOut, writerFunc(func(p []byte) {
		if b.Daemon != nil {
			b.Daemon.DeviceCode(string(p))
		}
	})}
	openEngine := func(ctx context.Context, cfg *config.Config) (daemon.Engine, error) {
		e, err := engine.Open(ctx, engine.Options{
			Config:        cfg,
			StateDir:      o.StateDir,
			HTTPClient:    o.HTTPClient,
			OpenURL:       o.OpenURL,
			DeviceCodeOut: deviceCodeOut,
			Logger:        b.log,
		})
		if err != nil {
			return nil, err
		}
		if o.WrapEngine != nil {
			return o.WrapEngine(e), nil
		}
		return Adapt(e), nil
	}
	eng, err := openEngine(ctx, o.Config)
	if err != nil {
		return nil, err
	}
	// The one delivery engine (as login, logout, sync and connect use
	// it), its ledger in the state folder.
	deliverer := delivery.New(tenv, o.StateDir)
	newTarget := func(t config.Target) (daemon.Target, error) {
		tg, err := deliverer.Target(t) // the delivery to one client
		if err != nil {
			return nil, err
		}
		if o.WrapTarget != nil {
			return o.WrapTarget(t, tg)
		}
		return tg, nil
	}
	b.Daemon, err = daemon.New(daemon.Options{
		Config:          o.Config,
		ConfigPath:      o.ConfigPath,
		AdminConfigPath: o.AdminConfigPath,
		Engine:          eng,
		Reopen:          openEngine,
		NewTarget:       newTarget,
		StateDir:        o.StateDir,
		Logger:          b.log,
		OnConfig: func(c *config.Config) {
			b.proxy.Configure(proxy.Port(c), proxy.Targets(c))
			if b.logFile == nil {
				return
			}
			if err := b.logFile.SetLevel(c.Settings.LogLevel); err != nil {
				b.log.Warn("log level unchanged", "err", err)
			}
		},
		ProxyStatus: func() *state.Proxy { return b.proxy.Status() },
	})
	if err != nil {
		return nil, err
	}
	po := proxy.Options{Tokens: b.Daemon, Credentials: creds, Logger: b.log, Changed: b.Daemon.Changed}
	if o.HTTPClient != nil && o.HTTPClient.Transport != nil {
		po.Transport = o.HTTPClient.Transport
	} else {
		// The system's roots plus the profile's ca_file, like sign-in.
		po.TransportFor = func(t config.Target) (http.RoundTripper, error) {
			cfg := b.Daemon.Config()
			return auth.Transport(cfg, cfg.Profiles[t.Profile])
		}
	}
	b.proxy = proxy.New(po)
	if o.NoLocalAPI {
		return b, nil
	}
	if o.Address != "" {
		b.listener, err = localapi.Listen(o.Address, b.log)
		b.address = o.Address
	} else {
		b.listener, b.address, err = localapi.ListenDefault(b.log)
	}
	if err != nil {
		return nil, fmt.Errorf("opening the local socket: %w", err)
	}
	if o.WrapListener != nil {
		b.listener = o.WrapListener(b.listener)
	}
	return b, nil
}

// Run runs the daemon and serves the local API until ctx ends or the
// daemon fails. While it serves, the daemon's record in the state folder
// says where, so that every process of the user finds it.
func (b *Daemon) Run(ctx context.Context) error {
	pctx, stop := context.WithCancel(ctx)
	proxied := make(chan struct{})
	go func() { defer close(proxied); b.proxy.Run(pctx) }()
	defer func() { stop(); <-proxied }()
	if b.listener == nil {
		return b.Daemon.Run(ctx)
	}
	rec := localapi.Record{PID: os.Getpid(), Address: b.address}
	if err := localapi.Publish(b.opts.StateDir, rec); err != nil {
		return err
	}
	defer localapi.Unpublish(b.opts.StateDir, rec)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	served := make(chan error, 1)
	go func() { served <- localapi.NewServer(b.Daemon, b.log).Serve(ctx, b.listener) }()
	err := b.Daemon.Run(ctx)
	cancel()
	if serr := <-served; err == nil && serr != nil {
		err = fmt.Errorf("local api: %w", serr)
	}
	return err
}

// Logger is the daemon's log.
func (b *Daemon) Logger() *slog.Logger { return b.log }

// LogPath is the log file ("" when the caller gave the Logger).
func (b *Daemon) LogPath() string { return b.logPath }

// Address is where the local API listens ("" without one).
func (b *Daemon) Address() string { return b.address }

// Close closes the listener (if Run did not) and the log New opened.
func (b *Daemon) Close() error {
	if b.listener != nil {
		b.listener.Close()
	}
	if b.logFile != nil {
		return b.logFile.Close()
	}
	return nil
}

// fanOut writes to every writer, whatever the others answer, and never
// fails: for output that is only shown (a missing stderr must not keep a
// device code from the tray).
type fanOut []io.Writer

func (f fanOut) Write(p []byte) (int, error) {
	for _, w := range f {
		_, _ = w.Write(p)
	}
	return len(p), nil
}

// writerFunc is an io.Writer that hands each write to f.
type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
