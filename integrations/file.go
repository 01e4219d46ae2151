package integrations

import "github.com/mcp-token-broker/mcp-token-broker/broker/token"

// fileClient writes the raw token, nothing else, to path (0600 when the
// broker creates it). Logout empties it.
type fileClient struct{}

func (fileClient) defaultPath(t *Target) (string, error) {
	return "", targetError(t.cfg, "path is required", "set path to the token file to write")
}

func (fileClient) modes() []string { return []string{ModeHeader} }

func (fileClient) apply(_ *Target, _ []byte, _ bool, tok token.Token) ([]byte, error) {
	return []byte(tok.Value.Reveal()), nil
}

func (fileClient) entry(*Target, []byte) (bool, error) { return true, nil }
