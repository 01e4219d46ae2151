package bridge

import (
	"context"
	"sync"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// Lazy returns a TokenSource that opens the real one at its first call
// (the token cache and MSAL cost time the bridge should not spend before
// it answers its client). A failure to open is returned and retried at the
// next call. It is safe for concurrent use.
func Lazy(open func(context.Context) (TokenSource, error)) TokenSource {
	return &lazy{open: open}
}

type lazy struct {
	open func(context.Context) (TokenSource, error)
	mu   sync.Mutex
	src  TokenSource
}

func (l *lazy) get(ctx context.Context) (TokenSource, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.src == nil {
		s, err := l.open(ctx)
		if err != nil {
			return nil, err
		}
		l.src = s
	}
	return l.src, nil
}

func (l *lazy) Token(ctx context.Context, minValidity time.Duration) (token.Token, error) {
	s, err := l.get(ctx)
	if err != nil {
		return token.Token{}, err
	}
	return s.Token(ctx, minValidity)
}

func (l *lazy) Refresh(ctx context.Context) (token.Token, error) {
	s, err := l.get(ctx)
	if err != nil {
		return token.Token{}, err
	}
	return s.Refresh(ctx)
}
