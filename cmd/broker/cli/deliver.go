package cli

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// deliver writes tok to every target of p after `login`. Failures are
// warnings on stderr: login still succeeds, and `status` shows them.
func (a *App) deliver(ctx context.Context, p *config.Profile, tok token.Token) {
	a.eachTarget(p, func(t *integrations.Target) {
		if err := t.Apply(ctx, tok); err != nil {
			a.warnTarget(err)
			return
		}
		what := t.Config().Client
		if t.Config().Server != "" {
			what += " " + t.Config().Server
		}
		fmt.Fprintf(a.Stdout, "wrote %s (%s)\n", t.Path(), what)
	})
}

// scrub removes the tokens the broker wrote from every target of p after
// `logout`; failures are warnings on stderr.
func (a *App) scrub(ctx context.Context, p *config.Profile) {
	a.eachTarget(p, func(t *integrations.Target) {
		if err := t.Remove(ctx); err != nil {
			a.warnTarget(err)
		}
	})
}

// eachTarget calls f for every target of p that resolves; the others are
// reported as warnings.
func (a *App) eachTarget(p *config.Profile, f func(*integrations.Target)) {
	if len(p.Targets) == 0 {
		return
	}
	env, err := a.envOfApp()
	if err != nil {
		fmt.Fprintf(a.Stderr, "broker: warning: targets of profile %s: %s\n", p.Name, err)
		return
	}
	for _, tc := range p.Targets {
		t, err := integrations.New(tc, env)
		if err != nil {
			a.warnTarget(err)
			continue
		}
		f(t)
	}
}

// warnTarget reports a target's failure (its errors name the target).
func (a *App) warnTarget(err error) {
	fmt.Fprintf(a.Stderr, "broker: warning: %s\n", err)
	var h interface{ HintText() string }
	if errors.As(err, &h) && h.HintText() != "" {
		fmt.Fprintf(a.Stderr, "hint: %s\n", h.HintText())
	}
}

// targetPaths fills in each target's file in an offline status.
func targetPaths(cfg *config.Config, st *state.Status) {
	env, err := envFor(cfg)
	if err != nil {
		return
	}
	for i := range st.Profiles {
		p := cfg.Profiles[st.Profiles[i].Name]
		if p == nil {
			continue
		}
		for j := range st.Profiles[i].Targets {
			if j >= len(p.Targets) {
				break
			}
			t, err := integrations.New(p.Targets[j], env)
			if err != nil {
				st.Profiles[i].Targets[j].State = state.TargetError
				st.Profiles[i].Targets[j].Error = err.Error()
				continue
			}
			st.Profiles[i].Targets[j].Path = t.Path()
		}
	}
}
