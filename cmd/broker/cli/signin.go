package cli

import (
	"context"
	"log/slog"
	"os"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// What the sign-in verbs (login, logout, token, headers, status) share.

// quickTimeout bounds `token` and `headers` as a whole, keyring and lock
// waits included: Claude Code kills a headersHelper at 10 s.
const quickTimeout = 8 * time.Second

// loginTimeout bounds an interactive sign-in.
const loginTimeout = 10 * time.Minute

// defaultMinValidity is how much validity `token` and `headers` guarantee.
const defaultMinValidity = 5 * time.Minute

// openEngine loads the configuration and opens the token store. It never
// opens a browser unless interactive is set (only `login` sets it).
func (a *App) openEngine(ctx context.Context, interactive bool) (*engine.Engine, error) {
	cfg, err := a.LoadConfig()
	if err != nil {
		return nil, err
	}
	o := engine.Options{
		Config:        cfg,
		DeviceCodeOut: a.Stderr,
		Logger:        a.stderrLogger(),
	}
	if interactive {
		o.OpenURL = auth.BrowserOpener(os.Getenv("BROWSER"))
	} else {
		o.OpenURL = func(string) error { return errNoBrowser }
	}
	return engine.Open(ctx, o)
}

// errNoBrowser is what a non-interactive verb answers if anything tried
// to open a browser (nothing should).
var errNoBrowser = &auth.Error{Class: auth.ClassSignInRequired, Message: "sign-in required", Hint: "run `broker login`"}

// stderrLogger reports warnings on stderr; it never sees a token.
func (a *App) stderrLogger() *slog.Logger {
	return slog.New(slog.NewTextHandler(a.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// fetchToken returns a token of the profile with at least minValidity
// left, from the persistent cache or by a silent refresh; never
// interactive. (The daemon's local API, when running, is asked first.)
func (a *App) fetchToken(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	eng, err := a.openEngine(ctx, false)
	if err != nil {
		return token.Token{}, err
	}
	c, err := eng.Client(profile)
	if err != nil {
		return token.Token{}, err
	}
	return c.Token(ctx, minValidity)
}
