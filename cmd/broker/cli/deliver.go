package cli

import (
	"context"
	"fmt"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// deliver writes tok to every target of p after `login`; failures are
// warnings on stderr (login still succeeds).
func (a *App) deliver(ctx context.Context, eng *engine.Engine, p *config.Profile, tok token.Token) {
	_ = eng
	env, err := integrations.DefaultEnv()
	if err != nil {
		fmt.Fprintf(a.Stderr, "broker: warning: %v\n", err)
		return
	}
	var targets []*integrations.Target
	for _, tc := range p.Targets {
		tc.Profile = p.Name
		tg, err := integrations.New(tc, env)
		if err != nil {
			fmt.Fprintf(a.Stderr, "broker: warning: %v\n", err)
			continue
		}
		targets = append(targets, tg)
	}
	for i, err := range integrations.ApplyAll(ctx, targets, tok) {
		if err != nil {
			fmt.Fprintf(a.Stderr, "broker: warning: %s: %v\n", targets[i].Path(), err)
		}
	}
}

// scrub removes the tokens the broker wrote from every target of p after
// `logout`; failures are warnings on stderr.
func (a *App) scrub(ctx context.Context, eng *engine.Engine, p *config.Profile) {
	_ = eng
	env, err := integrations.DefaultEnv()
	if err != nil {
		fmt.Fprintf(a.Stderr, "broker: warning: %v\n", err)
		return
	}
	for _, tc := range p.Targets {
		tc.Profile = p.Name
		tg, err := integrations.New(tc, env)
		if err == nil {
			err = tg.Remove(ctx)
		}
		if err != nil {
			fmt.Fprintf(a.Stderr, "broker: warning: %v\n", err)
		}
	}
}
