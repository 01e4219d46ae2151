package brokerd

import (
	"context"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/daemon"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
)

// Adapt returns the engine as the daemon needs it: each profile's client,
// whose Logout also forgets the profile in the store, and where tokens
// are kept.
func Adapt(e *engine.Engine) daemon.Engine { return daemonEngine{e} }

type daemonEngine struct{ e *engine.Engine }

func (de daemonEngine) Auth(profile string) (daemon.Auth, error) {
	c, err := de.e.Client(profile)
	if err != nil {
		return nil, err
	}
	return daemonAuth{Client: c, e: de.e, profile: profile}, nil
}

// Storage reports where tokens are kept (daemon.StorageReporter).
func (de daemonEngine) Storage() (mode, warning string) {
	return de.e.Store().Mode(), de.e.Store().Warning()
}

// daemonAuth is a profile's client whose Logout also forgets the profile
// in the store.
type daemonAuth struct {
	*auth.Client
	e       *engine.Engine
	profile string
}

func (a daemonAuth) Logout(ctx context.Context) error { return a.e.Logout(ctx, a.profile) }
