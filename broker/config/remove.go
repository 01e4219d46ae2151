package config

import (
	"context"
	"errors"
	"fmt"

	"github.com/mcp-token-broker/mcp-token-broker/files/atomicfile"
	"github.com/mcp-token-broker/mcp-token-broker/files/tomledit"
)

// RemoveTarget removes the target of profile t.Profile with t's client
// and server (for json, envfile and file: t's path) from the config file
// at path, for `broker disconnect`. Every other byte stays: the
// [[profiles.P.targets]] table goes from its header to its last key (a
// comment after it, which may belong to what follows, stays), found by
// the byte spans of go-toml's parser (files/tomledit). It reports whether
// the file held such a target.
func RemoveTarget(ctx context.Context, path string, t Target) (removed bool, err error) {
	_, err = atomicfile.Update(ctx, path, func(old []byte, exists bool) ([]byte, error) {
		removed = false
		if !exists {
			return nil, errNoChange
		}
		if _, err := parse(path, []file{{path, old}}); err != nil {
			return nil, err
		}
		out, ok, err := removeTarget(old, t)
		if err != nil {
			return nil, &Error{Path: path, Message: err.Error()}
		}
		if !ok {
			return nil, errNoChange
		}
		if _, err := parse(path, []file{{path, out}}); err != nil {
			return nil, err
		}
		removed = true
		return out, nil
	})
	if errors.Is(err, errNoChange) {
		return false, nil
	}
	var ce *Error
	if err != nil && !errors.As(err, &ce) {
		return false, &Error{Path: path, Message: fmt.Sprintf("cannot write the config file: %v", err), Hint: "check the file's and folder's permissions"}
	}
	return removed, err
}

var errNoChange = errors.New("no change")

// removeTarget is the edit behind RemoveTarget.
func removeTarget(old []byte, t Target) ([]byte, bool, error) {
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
			continue
		}
		nd, err := d.DeleteArrayTable(arr, i)
		if err != nil {
			return nil, false, err
		}
		return nd.Bytes(), true, nil
	}
	return old, false, nil
}
