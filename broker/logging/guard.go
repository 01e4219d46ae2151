package logging

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strings"
	"sync"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// jwtShape matches a compact JWS/JWT: three base64url parts, the first two
// long enough to be a header and claims. Entra access tokens, id tokens and
// the simulator's tokens all start with "eyJ" (base64 of `{"`), but the
// guard does not rely on that.
// It is compiled on first use: compiling it costs milliseconds, which
// every short-lived `broker headers` would pay at start otherwise.
var jwtShape = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}|eyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]*\.?[A-Za-z0-9_-]*`)
})

// Redact replaces everything JWT-shaped in s with REDACTED.
func Redact(s string) string {
	if !strings.Contains(s, ".") {
		return s
	}
	return jwtShape().ReplaceAllString(s, token.Redacted)
}

// Guard wraps h so that the message and every attribute (strings, errors,
// anything printed with %v, inside groups too) have JWT-shaped text
// replaced by REDACTED before h sees them.
func Guard(h slog.Handler) slog.Handler { return guard{h} }

type guard struct{ next slog.Handler }

func (g guard) Enabled(ctx context.Context, l slog.Level) bool { return g.next.Enabled(ctx, l) }

func (g guard) Handle(ctx context.Context, r slog.Record) error {
	out := slog.NewRecord(r.Time, r.Level, Redact(r.Message), r.PC)
	r.Attrs(func(a slog.Attr) bool {
		out.AddAttrs(redactAttr(a))
		return true
	})
	return g.next.Handle(ctx, out)
}

func (g guard) WithAttrs(as []slog.Attr) slog.Handler {
	red := make([]slog.Attr, len(as))
	for i, a := range as {
		red[i] = redactAttr(a)
	}
	return guard{g.next.WithAttrs(red)}
}

func (g guard) WithGroup(name string) slog.Handler { return guard{g.next.WithGroup(name)} }

func redactAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString:
		return slog.String(a.Key, Redact(v.String()))
	case slog.KindGroup:
		g := v.Group()
		red := make([]any, len(g))
		for i, x := range g {
			red[i] = redactAttr(x)
		}
		return slog.Group(a.Key, red...)
	case slog.KindAny:
		switch x := v.Any().(type) {
		case token.Secret:
			return slog.String(a.Key, token.Redacted)
		case error:
			return slog.String(a.Key, Redact(x.Error()))
		case fmt.Stringer:
			return slog.String(a.Key, Redact(x.String()))
		default:
			return slog.String(a.Key, Redact(fmt.Sprintf("%+v", x)))
		}
	}
	return slog.Attr{Key: a.Key, Value: v}
}
