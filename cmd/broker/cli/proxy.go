package cli

import (
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/proxy"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// integrationsEnv is this machine's integrations.Env with the loopback
// proxy's endpoints: the local credentials in the state folder and the
// port that cfg() sets (read when a proxied target is written).
func integrationsEnv(cfg func() *config.Config) (integrations.Env, error) {
	env, err := integrations.DefaultEnv()
	if err != nil {
		return env, err
	}
	stateDir, err := paths.StateDir()
	if err != nil {
		return env, err
	}
	env.Proxy = proxy.Endpoints{
		Credentials: proxy.NewCredentials(stateDir),
		Port:        func() int { return proxy.Port(cfg()) },
	}
	return env, nil
}

// envFor is integrationsEnv for a config that does not change.
func envFor(cfg *config.Config) (integrations.Env, error) {
	return integrationsEnv(func() *config.Config { return cfg })
}

// envOfApp is integrationsEnv for the app's config, read when needed.
func (a *App) envOfApp() (integrations.Env, error) {
	return integrationsEnv(func() *config.Config {
		cfg, _ := a.LoadConfig()
		return cfg
	})
}
