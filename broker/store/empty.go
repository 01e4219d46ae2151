package store

import (
	"bytes"
	"encoding/json"
)

// isEmptyMSAL reports whether blob is an MSAL cache with no account and no
// token in it: a JSON object whose members are all empty objects, empty
// arrays or null, except AppMetadata (the client's own metadata, which MSAL
// keeps after its last account is removed).
func isEmptyMSAL(blob []byte) bool {
	var top map[string]json.RawMessage
	if err := json.Unmarshal(blob, &top); err != nil {
		return false
	}
	for name, v := range top {
		if name == "AppMetadata" {
			continue
		}
		v = bytes.TrimSpace(v)
		switch {
		case bytes.Equal(v, []byte("null")):
		case len(v) >= 2 && (v[0] == '{' || v[0] == '['):
			var m map[string]json.RawMessage
			var a []json.RawMessage
			if json.Unmarshal(v, &m) == nil && len(m) == 0 {
				continue
			}
			if json.Unmarshal(v, &a) == nil && len(a) == 0 {
				continue
			}
			return false
		default:
			return false
		}
	}
	return true
}
