package config

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/files/tomledit"
)

// AddTarget adds t to profile t.Profile in the config file at path
// (created 0600 when missing), for `broker connect`. A target with the
// same client and server (for json, envfile and file: the same path) in
// that profile is updated in place (its keys
// that t sets are rewritten, the others kept), so running connect twice
// gives one target. Every other byte of the file stays as it was. It
// reports whether an existing target was updated (rather than added) and
// whether the file changed at all.
func AddTarget(ctx context.Context, path string, t Target) (updated, changed bool, err error) {
	if t.Profile == "" || t.Client == "" {
		return false, false, &Error{Path: path, Message: "a target needs a profile and a client"}
	}
	res, err := atomicfile.Update(ctx, path, func(old []byte, exists bool) ([]byte, error) {
		out, upd, err := AddedTarget(path, old, t)
		updated = upd
		return out, err
	})
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		return false, false, &Error{Path: path, Message: fmt.Sprintf("cannot write the config file: %v", err), Hint: "check the file's and folder's permissions"}
	}
	return updated, res.Changed, err
}

// AddedTarget is old (the config file at path) with t added or updated,
// as AddTarget writes it; nothing is written. It reports whether an
// existing target was updated.
func AddedTarget(path string, old []byte, t Target) (out []byte, updated bool, err error) {
	if len(bytes.TrimSpace(old)) > 0 {
		if _, err := parse(path, []file{{path, old}}); err != nil {
			return nil, false, err
		}
	}
	out, updated, err = addTarget(old, t)
	if err != nil {
		return nil, false, &Error{Path: path, Message: err.Error()}
	}
	if _, err := parse(path, []file{{path, out}}); err != nil {
		return nil, false, err
	}
	return out, updated, nil
}

// targetKeys are the keys of a target in the order they are written.
func targetKeys(t Target) [][2]string {
	var kv [][2]string
	add := func(k, v string) {
		if v != "" {
			kv = append(kv, [2]string{k, v})
		}
	}
	add("client", t.Client)
	add("server", t.Server)
	add("url", t.URL)
	add("path", t.Path)
	add("project", t.Project)
	add("mode", t.Mode)
	add("pointer", t.Pointer)
	add("template", t.Template)
	add("var", t.Var)
	add("format", t.Format)
	return kv
}

func tomlKey(s string) string { return tomledit.Key(s) }

// tomlString writes s as a TOML basic string (JSON's escapes are valid
// TOML escapes).
func tomlString(s string) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	return strings.TrimSuffix(b.String(), "\n")
}

// addTarget is the edit behind AddTarget. It finds the targets by the
// byte spans of go-toml's parser (files/tomledit), so a multi-line string
// holding "[" never ends a block, and each key set is checked where it
// landed.
func addTarget(old []byte, t Target) ([]byte, bool, error) {
	d, err := tomledit.Parse(old)
	if err != nil {
		return nil, false, err
	}
	arr := []string{"profiles", t.Profile, "targets"}
	for i := 0; i < d.ArrayLen(arr...); i++ {
		str := func(k string) string { v, _ := d.GetInArray(arr, i, k); s, _ := v.(string); return s }
		if str("client") != t.Client || str("server") != t.Server {
			continue
		}
		if t.Server == "" && str("path") != t.Path {
			continue // json, envfile, file: one target per file
		}
		for _, kv := range targetKeys(t) {
			if d, err = d.SetInArray(arr, i, []string{kv[0]}, tomlString(kv[1])); err != nil {
				return nil, false, err
			}
		}
		return d.Bytes(), true, nil
	}
	nl := "\n"
	if bytes.Contains(old, []byte("\r\n")) {
		nl = "\r\n"
	}
	var b bytes.Buffer
	b.Write(old)
	if len(old) > 0 {
		if !bytes.HasSuffix(old, []byte("\n")) {
			b.WriteString(nl)
		}
		b.WriteString(nl)
	}
	b.WriteString("[[" + tomlKey("profiles") + "." + tomlKey(t.Profile) + ".targets]]" + nl)
	for _, kv := range targetKeys(t) {
		b.WriteString(kv[0] + " = " + tomlString(kv[1]) + nl)
	}
	// The new block must be the last target of the profile, with
	// exactly the keys written.
	nd, err := tomledit.Parse(b.Bytes())
	if err != nil {
		return nil, false, err
	}
	n := nd.ArrayLen(arr...)
	last, _ := nd.GetInArray(arr, n-1)
	m, _ := last.(map[string]any)
	if n != d.ArrayLen(arr...)+1 || len(m) != len(targetKeys(t)) {
		return nil, false, fmt.Errorf("adding the target did not give the intended file; it is left as it was")
	}
	for _, kv := range targetKeys(t) {
		if m[kv[0]] != kv[1] {
			return nil, false, fmt.Errorf("adding the target did not give the intended file; it is left as it was")
		}
	}
	return b.Bytes(), false, nil
}
