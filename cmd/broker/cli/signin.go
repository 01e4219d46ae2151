package cli

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/fetch"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// What the sign-in verbs (login, logout, token, headers, status) share.

// quickTimeout bounds `status` as a whole (token and headers: fetch.Limit).
const quickTimeout = fetch.Limit

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
		Logger:        a.stderrLogger(slog.LevelError),
	}
	if interactive {
		o.Logger = a.stderrLogger(slog.LevelWarn) // e.g. the storage fallback
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

// stderrLogger reports events of at least level on stderr; it never sees a
// token. `token` and `headers` keep stderr quiet (helpers' stderr ends up
// in client logs); `status` and `doctor` report the storage warning.
func (a *App) stderrLogger(level slog.Level) *slog.Logger {
	return slog.New(&stderrHandler{w: a.Stderr, level: level})
}

// stderrHandler prints "broker: warning: message: detail" lines for people.
type stderrHandler struct {
	w     io.Writer
	level slog.Level
	attrs []slog.Attr
}

func (h *stderrHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= h.level }

func (h *stderrHandler) Handle(_ context.Context, r slog.Record) error {
	var b strings.Builder
	b.WriteString("broker: ")
	if r.Level >= slog.LevelError {
		b.WriteString("error: ")
	} else {
		b.WriteString("warning: ")
	}
	b.WriteString(r.Message)
	add := func(a slog.Attr) bool {
		if a.Key == "profile" {
			return true
		}
		fmt.Fprintf(&b, "; %s", a.Value.Resolve())
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	b.WriteString("\n")
	_, err := io.WriteString(h.w, b.String())
	return err
}

func (h *stderrHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &stderrHandler{w: h.w, level: h.level, attrs: append(append([]slog.Attr(nil), h.attrs...), attrs...)}
}

func (h *stderrHandler) WithGroup(string) slog.Handler { return h }

// fetchToken returns a token of the profile with at least minValidity
// left: from the running daemon when it answers, else from the persistent
// cache or by a silent refresh; never interactive, within fetch.Limit.
func (a *App) fetchToken(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	return fetch.Token(ctx, a.fetchOptions(profile, minValidity))
}

// fetchOptions are fetch's options for this command line.
func (a *App) fetchOptions(profile string, minValidity time.Duration) fetch.Options {
	return fetch.Options{
		Profile:     profile,
		MinValidity: minValidity,
		Daemon:      a.daemon,
		Cache: func(ctx context.Context) (fetch.Source, error) {
			eng, err := a.openEngine(ctx, false)
			if err != nil {
				return nil, err
			}
			return eng.Client(profile)
		},
		Notice: a.daemonNotice,
	}
}
