package integrations

import (
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/files/tomledit"
)

// Codex's places are TOML keys under mcp_servers.NAME: http_headers_helper
// (helper mode), http_headers.Authorization (header mode), command
// (bridge), and the server's table itself when the broker created it.
func (codexClient) places(t *Target) []place {
	srv := codexServer(t)
	at := func(keys ...string) place {
		k := append(append([]string{}, srv...), keys...)
		q := make([]string, len(k))
		for i, s := range k {
			q[i] = tomledit.Key(s)
		}
		return place{name: strings.Join(q, "."), keys: k}
	}
	helper := at("http_headers_helper")
	auth := at("http_headers", "Authorization")
	auth.secret = true
	command := at("command")
	command.wholeEntryOnly = true
	entry := at()
	entry.entry = true
	switch t.mode {
	case ModeHeader:
		return []place{auth, helper, command, entry}
	case ModeBridge:
		return []place{command, auth, helper, entry}
	}
	return []place{helper, auth, command, entry}
}

func (codexClient) get(t *Target, data []byte, p place) (string, bool, error) {
	if isBlank(data) {
		return "", false, nil
	}
	d, err := parseCodex(data, true)
	if err != nil {
		return "", false, err
	}
	v, ok := d.Get(p.keys...)
	if !ok {
		return "", false, nil
	}
	if p.entry {
		return "", true, nil
	}
	s, ok := v.(string)
	return s, ok, nil
}

// del removes the key (and http_headers when the Authorization was all it
// held).
func (codexClient) del(t *Target, data []byte, p place) ([]byte, error) {
	d, err := parseCodex(data, true)
	if err != nil {
		return nil, err
	}
	if d, _, err = d.Delete(p.keys...); err != nil {
		return nil, err
	}
	if p.secret {
		headers := p.keys[:len(p.keys)-1]
		if h, ok := d.Get(headers...); ok {
			if m, ok := h.(map[string]any); ok && len(m) == 0 {
				if d, _, err = d.Delete(headers...); err != nil {
					return nil, err
				}
			}
		}
	}
	return d.Bytes(), nil
}
