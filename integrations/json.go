package integrations

import (
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// jsonClient is any other JSON or JSONC file: the string at the RFC 6901
// pointer (object keys only) becomes the template with {token} replaced
// (default "Bearer {token}"). Missing objects on the way are created.
type jsonClient struct{}

const defaultTemplate = "Bearer {token}"

func (jsonClient) defaultPath(t *Target) (string, error) {
	return "", targetError(t.cfg, "path is required", "set path to the JSON file to write")
}

func (jsonClient) modes() []string { return []string{ModeHeader} }

func (jsonClient) validate(t *Target) error {
	if _, err := parsePointer(t.cfg.Pointer); err != nil {
		return targetError(t.cfg, "%v", `write the pointer like "/servers/api/headers/Authorization"`, err)
	}
	if t.cfg.Template != "" && !strings.Contains(t.cfg.Template, "{token}") {
		return targetError(t.cfg, "template %q has no {token}", `for example template = "Bearer {token}"`, t.cfg.Template)
	}
	return nil
}

// parsePointer splits an RFC 6901 pointer into keys.
func parsePointer(p string) ([]string, error) {
	if p == "" || p[0] != '/' {
		return nil, errorString("pointer " + quoteGo(p) + " must start with /")
	}
	parts := strings.Split(p[1:], "/")
	for i, s := range parts {
		parts[i] = strings.ReplaceAll(strings.ReplaceAll(s, "~1", "/"), "~0", "~")
	}
	return parts, nil
}

type errorString string

func (e errorString) Error() string { return string(e) }

func quoteGo(s string) string { return string(jsonedit.String(s)) }

func (jsonClient) keys(t *Target) []string {
	k, _ := parsePointer(t.cfg.Pointer)
	return k
}

func (c jsonClient) apply(t *Target, old []byte, exists bool, tok token.Token) ([]byte, error) {
	if exists && isBlank(old) {
		return nil, emptyFileError("write {} into it, or delete it")
	}
	if !exists {
		old = emptyFile
	}
	tmpl := t.cfg.Template
	if tmpl == "" {
		tmpl = defaultTemplate
	}
	v := strings.ReplaceAll(tmpl, "{token}", tok.Value.Reveal())
	return jsonedit.Edit(old, jsonedit.Set(c.keys(t), jsonedit.String(v)))
}

func (c jsonClient) entry(t *Target, data []byte) (bool, error) {
	_, ok, err := jsonedit.Get(data, c.keys(t))
	return ok, err
}
