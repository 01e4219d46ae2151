package bridge_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/bridge"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

type fakeDaemon struct {
	tok       token.Token
	err       error
	refreshed int
	closed    *int
}

func (f *fakeDaemon) Token(ctx context.Context, profile string, minValidity time.Duration) (token.Token, error) {
	if profile != "data" {
		return token.Token{}, errors.New("wrong profile " + profile)
	}
	return f.tok, f.err
}

func (f *fakeDaemon) RefreshNow(ctx context.Context, profile string) error {
	f.refreshed++
	f.tok.Value = "refreshed"
	return f.err
}

func (f *fakeDaemon) Close() error { *f.closed++; return nil }

func TestDaemonFirst(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	cache := &source{cur: token.Token{Value: "from-cache"}, next: token.Token{Value: "cache-refreshed"}}
	var running *fakeDaemon
	closed := 0
	dial := func(context.Context) (bridge.Daemon, error) {
		if running == nil {
			return nil, errors.New("the broker daemon is not running")
		}
		return running, nil
	}
	src := bridge.DaemonFirst(dial, "data", cache, nil)

	// No daemon: the cache answers.
	if tok, err := src.Token(ctx, time.Minute); err != nil || tok.Value != "from-cache" {
		t.Fatalf("without a daemon: %v %v", tok.Value.Reveal(), err)
	}
	if tok, err := src.Refresh(ctx); err != nil || tok.Value != "cache-refreshed" {
		t.Fatalf("refresh without a daemon: %v %v", tok.Value.Reveal(), err)
	}
	// The daemon starts: it answers, and a refresh goes through it.
	running = &fakeDaemon{tok: token.Token{Value: "from-daemon"}, closed: &closed}
	if tok, err := src.Token(ctx, time.Minute); err != nil || tok.Value != "from-daemon" {
		t.Fatalf("with a daemon: %v %v", tok.Value.Reveal(), err)
	}
	if tok, err := src.Refresh(ctx); err != nil || tok.Value != "refreshed" || running.refreshed != 1 {
		t.Fatalf("refresh with a daemon: %v %v (%d)", tok.Value.Reveal(), err, running.refreshed)
	}
	// The daemon knows sign-in is required: that is the answer, the cache
	// is not asked behind its back.
	running.err = &auth.Error{Class: auth.ClassSignInRequired, Message: "sign-in required"}
	before, _ := cache.counts()
	if _, err := src.Token(ctx, time.Minute); !errors.Is(err, auth.ErrSignInRequired) {
		t.Fatalf("daemon says sign-in required: %v", err)
	}
	if after, _ := cache.counts(); after != before {
		t.Error("the cache was asked while the daemon runs")
	}
	if closed != 3 {
		t.Errorf("daemon clients closed %d times, want 3", closed)
	}
}
