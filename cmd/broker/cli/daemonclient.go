package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/delivery"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/fetch"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// How the verbs use a running daemon (`broker run`): they ask it first and
// fall back to the token cache when none runs. The daemon owns the
// tokens while it runs, so that only one process refreshes, opens a
// browser or writes the targets.

// daemon returns a client of the running daemon, or nil when none runs
// (found out at once: no daemon means no record, no socket or a refused
// connect) or when it did not answer within localapi.AnswerWithin (said
// on stderr, once). A --config other than the daemon's is answered
// without it, and so is everything when BROKER_NO_DAEMON is set.
func (a *App) daemon(ctx context.Context) *localapi.Client {
	if a.daemonDown != nil {
		return nil
	}
	c, err := a.dialDaemon(ctx)
	var na *localapi.NotAnsweringError
	switch {
	case errors.As(err, &na):
		a.daemonNotice(na)
	case errors.Is(err, localapi.ErrNotPrivate):
		// Another user's socket where ours should be: say so, ask nothing.
		fmt.Fprintf(a.Stderr, "broker: warning: %s\nhint: that socket is not your broker's; `broker run` listens in a private folder of yours\n", err)
	}
	if err != nil {
		return nil
	}
	return c
}

// dialDaemon connects to the running daemon (localapi.Dial), unless this
// command must do without one.
func (a *App) dialDaemon(ctx context.Context) (*localapi.Client, error) {
	if a.ConfigPath != "" || os.Getenv("BROKER_NO_DAEMON") != "" {
		return nil, localapi.ErrNoDaemon
	}
	return localapi.Dial(ctx)
}

// daemonNotice says on stderr (once) that the daemon did not answer and
// that this command does the work without it; later asks skip it.
func (a *App) daemonNotice(err error) {
	if a.daemonDown != nil {
		return
	}
	a.daemonDown = err
	fmt.Fprintf(a.Stderr, "broker: warning: %s; going on without it\n", err)
	var h interface{ HintText() string }
	if errors.As(err, &h) {
		fmt.Fprintf(a.Stderr, "hint: %s\n", h.HintText())
	}
}

// noDaemon reports whether err says the daemon did not answer (so the
// caller should do the work itself).
func noDaemon(err error) bool { return errors.Is(err, localapi.ErrNoDaemon) }

// findProfile returns the named profile of st ("" = the only one).
func findProfile(st state.Status, name string) (state.Profile, bool) {
	if name == "" && len(st.Profiles) == 1 {
		return st.Profiles[0], true
	}
	for _, p := range st.Profiles {
		if p.Name == name {
			return p, true
		}
	}
	return state.Profile{}, false
}

// loginViaDaemon has the daemon sign the profile in (it opens the browser;
// concurrent logins share one sign-in) and reports like a local login.
func (a *App) loginViaDaemon(ctx context.Context, c *localapi.Client, profile string) error {
	if err := c.SignIn(ctx, profile); err != nil {
		return err
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	p, ok := findProfile(st, profile)
	if !ok {
		return fmt.Errorf("the daemon does not know profile %q", profile)
	}
	until := "unknown"
	if p.ExpiresOn != nil {
		until = p.ExpiresOn.Local().Format(time.DateTime)
	}
	printSignedIn(a.Stdout, p.Name, p.Account, until, config.IsUnattended(p.Source))
	a.printWarnings(statusResults(p))
	return nil
}

// daemonSyncTimeout bounds a sync by a daemon that answered but then
// does not finish; the command then writes the targets itself.
const daemonSyncTimeout = time.Minute

// syncViaDaemon has the daemon write every target now and prints the
// result per target, as a local sync does.
func (a *App) syncViaDaemon(ctx context.Context, c *localapi.Client, profile string) error {
	sctx, cancel := context.WithTimeout(ctx, daemonSyncTimeout)
	serr := c.Sync(sctx, profile)
	if sctx.Err() != nil && ctx.Err() == nil {
		a.daemonNotice(&localapi.NotAnsweringError{PID: c.PID(), Within: daemonSyncTimeout})
	}
	cancel()
	if serr != nil && noDaemon(serr) {
		return serr
	}
	st, err := c.Status(ctx)
	if err != nil {
		return err
	}
	var results []delivery.Result
	for _, p := range st.Profiles {
		if profile == "" || p.Name == profile {
			results = append(results, statusResults(p)...)
		}
	}
	if len(results) == 0 {
		if serr != nil {
			return serr
		}
		fmt.Fprintln(a.Stdout, "no targets configured")
		return nil
	}
	failed := a.printResults(results)
	if serr != nil && !failed {
		return ExitCodeError(ExitError, serr)
	}
	if failed {
		return ExitCodeError(ExitError, errSilent)
	}
	return nil
}

// loginWithDaemon signs in through the daemon. A device-code sign-in
// prints its code on this terminal, and a credential tool's own sign-in
// (az login, …) talks to the user here, so these run here and then tell
// the daemon that the token cache changed.
func loginWithDaemon(ctx context.Context, app *App, c *localapi.Client, opts loginOptions) error {
	deviceCode, here := opts.DeviceCode, opts.DeviceCode
	if cfg, err := app.LoadConfig(); err == nil {
		if p, err := engine.SelectProfile(cfg, opts.Profile); err == nil {
			deviceCode = deviceCode || p.Login == config.LoginDeviceCode
			here = deviceCode || auth.IsCLISource(p.Login)
		}
	}
	if !here {
		return app.loginViaDaemon(ctx, c, opts.Profile)
	}
	eng, err := app.openEngine(ctx, true)
	if err != nil {
		return err
	}
	cl, err := eng.Client(opts.Profile)
	if err != nil {
		return err
	}
	tok, err := cl.Login(ctx, deviceCode)
	if err != nil {
		return err
	}
	printSignedIn(app.Stdout, cl.Profile().Name, tok.Account, tok.ExpiresOn.Local().Format(time.DateTime), cl.Profile().IsUnattended())
	// The daemon picks the new sign-in up and writes the targets.
	if err := c.CacheChanged(ctx); err != nil {
		app.deliver(ctx, cl.Profile(), tok)
	}
	return nil
}

// logoutViaDaemon has the daemon sign the profile (or all) out and scrub
// the targets, so that it does not keep delivering a token it holds. With
// all it prints nothing: the caller's local pass reports.
func (a *App) logoutViaDaemon(ctx context.Context, c *localapi.Client, profile string, all bool) error {
	names := []string{profile}
	if all {
		st, err := c.Status(ctx)
		if err != nil {
			return err
		}
		names = names[:0]
		for _, p := range st.Profiles {
			names = append(names, p.Name)
		}
	}
	for _, name := range names {
		if err := c.SignOut(ctx, name); err != nil {
			return err
		}
		if all {
			continue // the caller reports
		}
		if name == "" {
			if st, err := c.Status(ctx); err == nil && len(st.Profiles) == 1 {
				name = st.Profiles[0].Name
			}
		}
		fmt.Fprintf(a.Stdout, "signed out of profile %s\n", name)
	}
	return nil
}

// fastHeaders answers `broker headers [--profile P]` straight from the
// running daemon, before the command tree is built: Claude Code runs it
// on every connection, so it should cost little more than starting the
// process. It prints only what the client checked (one Authorization
// header with a JWT-shaped bearer token). It reports false (and prints
// nothing) for anything else — other flags, no daemon, an error answer —
// and Main then runs the command as usual; down is the daemon's
// *localapi.NotAnsweringError when it did not answer, so that the command
// does not wait for it again.
func fastHeaders(args []string, stdout io.Writer) (done bool, down error) {
	if len(args) == 0 || args[0] != "headers" || os.Getenv("BROKER_NO_DAEMON") != "" {
		return false, nil
	}
	profile := ""
	for i := 1; i < len(args); i++ {
		switch a := args[i]; {
		case (a == "--profile" || a == "-p") && i+1 < len(args):
			profile = args[i+1]
			i++
		case strings.HasPrefix(a, "--profile="):
			profile = strings.TrimPrefix(a, "--profile=")
		default:
			return false, nil
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), fetch.Limit)
	defer cancel()
	c, err := localapi.Dial(ctx)
	var na *localapi.NotAnsweringError
	if errors.As(err, &na) {
		return false, na
	}
	if err != nil {
		return false, nil
	}
	defer c.Close()
	server, url := helperServer()
	b, err := c.HeadersFor(ctx, profile, server, url, defaultMinValidity)
	if err != nil {
		return false, nil
	}
	_, err = stdout.Write(b)
	return err == nil, nil
}
