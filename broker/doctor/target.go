package doctor

import (
	"context"
	"fmt"

	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

// ForTarget makes a delivery target checkable by doctor.
func ForTarget(t *integrations.Target) Target { return targetChecker{t} }

// targetChecker turns an integration's check into doctor's findings.
type targetChecker struct{ t *integrations.Target }

func (c targetChecker) Check(ctx context.Context, tok token.Token) []Finding {
	r := c.t.Check(tok)
	secret := c.t.NeedsToken()
	path := r.Path
	switch {
	case r.Err != nil && !r.Exists:
		return []Finding{{Level: Fail, Message: fmt.Sprintf("%s: %v", path, r.Err), Hint: "check the file's permissions"}}
	case !r.Exists:
		return []Finding{{Level: Fail, Message: path + " does not exist",
			Hint: "run `broker sync` to create it (the target needs a url to create the server entry)"}}
	case !r.Parses:
		return []Finding{{Level: Fail, Message: fmt.Sprint(r.Err),
			Hint: "fix the file at that line and column; the broker leaves a file it cannot parse untouched"}}
	case r.Err != nil:
		return []Finding{{Level: Fail, Message: fmt.Sprintf("%s: %v", path, r.Err), Hint: HintOf(r.Err)}}
	case !r.Entry:
		server := c.t.Config().Server
		return []Finding{{Level: Fail, Message: fmt.Sprintf("%s has no entry for server %q", path, server),
			Hint: fmt.Sprintf("run `broker connect %s --server %s --url URL` to create it", c.t.Config().Client, server)}}
	}
	var out []Finding
	if r.Tracked && secret {
		out = append(out, Finding{Level: Fail, Message: path + " is tracked by git (or would be committed): a token there leaks",
			Hint: "use helper mode, an env file, or add the file to .gitignore"})
	}
	if r.TooOpen {
		out = append(out, Finding{Level: Warn, Message: path + " is readable by other users and holds a token",
			Hint: "chmod 600 " + path})
	}
	switch {
	case secret && tok.Value == "":
		out = append(out, Finding{Level: Warn, Message: path + ": entry present; token not checked (not signed in)"})
	case !r.Current:
		what := "an old token or none"
		if !secret {
			what = "an entry the broker did not write (headersHelper or stdio command differs)"
		}
		out = append(out, Finding{Level: Warn, Message: fmt.Sprintf("%s holds %s", path, what),
			Hint: "run `broker sync`, or keep `broker run` going so it stays current"})
	case len(out) == 0:
		msg := path + ": entry present, token current"
		if !secret {
			msg = path + ": entry present, " + c.t.Mode() + " set"
		}
		out = append(out, Finding{Level: OK, Message: msg})
	}
	return out
}
