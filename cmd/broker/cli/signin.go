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
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// What the sign-in verbs (login, logout, token, headers, status) share.

// quickTimeout bounds `token` and `headers` as a whole, keyring and lock
// waits included: Claude Code kills a headersHelper at 10 s.
const quickTimeout = 8 * time.Second

// innerMargin is how much earlier than the hard limit the work itself is
// told to stop.
const innerMargin = 500 * time.Millisecond

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
// left, from the persistent cache or by a silent refresh; never
// interactive. (The daemon's local API, when running, is asked first.)
func (a *App) fetchToken(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	if c := a.daemon(ctx); c != nil {
		if tok, err := c.Token(ctx, profile, minValidity); !noDaemon(err) {
			return tok, err
		}
	}
	// Whatever blocks without honouring ctx (a keyring call that hangs),
	// the answer comes by the deadline: the process exits right after, and
	// the stuck goroutine with it.
	type result struct {
		tok token.Token
		err error
	}
	// The work gets a little less time than the caller, so that its own
	// (better) error usually arrives first.
	inner := ctx
	if d, ok := ctx.Deadline(); ok {
		var cancel context.CancelFunc
		inner, cancel = context.WithDeadline(ctx, d.Add(-innerMargin))
		defer cancel()
	}
	done := make(chan result, 1)
	go func() {
		tok, err := a.fetchTokenSync(inner, profile, minValidity)
		done <- result{tok, err}
	}()
	select {
	case r := <-done:
		return r.tok, r.err
	case <-ctx.Done():
		return token.Token{}, &auth.Error{Class: auth.ClassTemporary, Message: "no token within the time limit",
			Hint: "the keyring, the token cache lock or the authority did not answer; try again, or run `broker status`", Err: ctx.Err()}
	}
}

func (a *App) fetchTokenSync(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
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
