package cli

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gofrs/flock"
	"github.com/spf13/cobra"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/logging"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
	"github.com/mcp-token-broker/mcp-token-broker/tray"
)

type runOptions struct {
	NoTray bool
}

func newRunCmd(app *App) *cobra.Command {
	opts := runOptions{}
	cmd := &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: keep every token fresh and delivered (tray when possible)",
		Long: `Run the daemon: refresh every signed-in profile's token before it expires
(also after the computer wakes from sleep), write it to every target, put it
back when a client overwrites it, and answer ` + "`broker token`" + `, ` + "`headers`" + `,
` + "`status`" + `, ` + "`login`" + ` and ` + "`sync`" + ` over a private local socket. With a tray host
it shows an icon and menu; otherwise (or with --no-tray) it runs headless.

One daemon runs per user: a second ` + "`broker run`" + ` says so and exits 0.
Edits of the config file are picked up without a restart. The log is
broker.log in the state folder.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRun(cmd.Context(), app, opts)
		},
	}
	cmd.Flags().BoolVar(&opts.NoTray, "no-tray", false, "run headless, without a tray icon")
	return cmd
}

func runRun(ctx context.Context, app *App, opts runOptions) error {
	// One daemon per user: the lock lives as long as the process (the
	// kernel drops it on SIGKILL too).
	rt, err := paths.RuntimeDir()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(rt, 0o700); err != nil {
		return fmt.Errorf("creating %s: %w", rt, err)
	}
	lock := flock.New(filepath.Join(rt, "daemon.lock"))
	locked, err := lock.TryLock()
	if err != nil {
		return fmt.Errorf("taking the daemon lock: %w", err)
	}
	pidFile := filepath.Join(rt, "daemon.pid")
	if !locked {
		pid := "unknown pid"
		if b, err := os.ReadFile(pidFile); err == nil {
			pid = "pid " + strings.TrimSpace(string(b))
		}
		fmt.Fprintf(app.Stdout, "broker is already running (%s)\n", pid)
		return nil
	}
	defer lock.Unlock()
	if err := os.WriteFile(pidFile, []byte(strconv.Itoa(os.Getpid())+"\n"), 0o600); err != nil {
		return fmt.Errorf("writing %s: %w", pidFile, err)
	}

	cfgPath, err := app.ConfigFile()
	if err != nil {
		return err
	}
	cfg, err := app.LoadConfig()
	if err != nil {
		return err
	}
	stateDir, err := paths.StateDir()
	if err != nil {
		return err
	}
	logPath, err := paths.LogFile()
	if err != nil {
		return err
	}
	lg, err := logging.Open(logging.Options{Path: logPath, Level: cfg.Settings.LogLevel})
	if err != nil {
		return err
	}
	defer lg.Close()
	log := lg.Logger

	var d *daemon.Daemon
	// A device code goes to stderr and into status (the tray shows it).
	deviceCodeOut := io.MultiWriter(app.Stderr, writerFunc(func(p []byte) {
		if d != nil {
			d.DeviceCode(string(p))
		}
	}))
	openEngine := func(ctx context.Context, cfg *config.Config) (daemon.Engine, error) {
		e, err := engine.Open(ctx, engine.Options{
			Config:        cfg,
			StateDir:      stateDir,
			OpenURL:       auth.BrowserOpener(os.Getenv("BROWSER")),
			DeviceCodeOut: deviceCodeOut,
			Logger:        log,
		})
		if err != nil {
			return nil, err
		}
		return daemonEngine{e}, nil
	}
	eng, err := openEngine(ctx, cfg)
	if err != nil {
		return err
	}
	env, err := integrations.DefaultEnv()
	if err != nil {
		return err
	}
	// The watcher ignores the daemon's own writes.
	env.Written = func(path string, data []byte) { d.Written(path, data) }
	d, err = daemon.New(daemon.Options{
		Config:          cfg,
		ConfigPath:      cfgPath,
		AdminConfigPath: paths.AdminConfigFile(),
		Engine:          eng,
		Reopen:          openEngine,
		NewTarget: func(t config.Target) (daemon.Target, error) {
			tg, err := integrations.New(t, env)
			if err != nil {
				return nil, err
			}
			return tg, nil
		},
		StateDir: stateDir,
		Logger:   log,
		OnConfig: func(c *config.Config) {
			if err := lg.SetLevel(c.Settings.LogLevel); err != nil {
				log.Warn("log level unchanged", "err", err)
			}
		},
	})
	if err != nil {
		return err
	}
	addr, err := localapi.Address()
	if err != nil {
		return err
	}
	l, err := localapi.Listen(addr, log)
	if err != nil {
		return fmt.Errorf("opening the local socket: %w", err)
	}
	srv := localapi.NewServer(d, log)
	runDaemon := func(ctx context.Context) error {
		served := make(chan error, 1)
		go func() { served <- srv.Serve(ctx, l) }()
		err := d.Run(ctx)
		if serr := <-served; err == nil && serr != nil {
			err = fmt.Errorf("local api: %w", serr)
		}
		return err
	}
	return serveWithTray(ctx, log, opts.NoTray, d, runDaemon, tray.Options{
		ConfigPath: cfgPath,
		LogPath:    logPath,
		Installer:  newStartAtLogin(),
	})
}

// daemonEngine adapts the engine to what the daemon needs.
type daemonEngine struct{ e *engine.Engine }

func (de daemonEngine) Auth(profile string) (daemon.Auth, error) {
	c, err := de.e.Client(profile)
	if err != nil {
		return nil, err
	}
	return daemonAuth{Client: c, e: de.e, profile: profile}, nil
}

func (de daemonEngine) Storage() (mode, warning string) {
	return de.e.Store().Mode(), de.e.Store().Warning()
}

// daemonAuth is a profile's client whose Logout also forgets the profile
// in the store.
type daemonAuth struct {
	*auth.Client
	e       *engine.Engine
	profile string
}

func (a daemonAuth) Logout(ctx context.Context) error { return a.e.Logout(ctx, a.profile) }

// writerFunc is an io.Writer that hands each write to f.
type writerFunc func(p []byte)

func (f writerFunc) Write(p []byte) (int, error) { f(p); return len(p), nil }
