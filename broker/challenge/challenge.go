// Package challenge reads the WWW-Authenticate header of a refusal (RFC
// 6750 Bearer challenges): the RFC 9728 resource_metadata link, and the
// challenges an API sends for a token that is valid but not enough,
// insufficient_claims (Conditional Access authentication context,
// Continuous Access Evaluation) and insufficient_scope.
package challenge

import (
	"encoding/base64"
	"encoding/json"
	"strings"
)

// Bearer returns the parameters of every Bearer challenge in the header
// values, names lowercased.
func Bearer(values []string) []map[string]string {
	var out []map[string]string
	for _, h := range values {
		out = append(out, split(h)...)
	}
	return out
}

// Param returns the first Bearer challenge's parameter name ("" when none).
func Param(values []string, name string) string {
	for _, ch := range Bearer(values) {
		if v, ok := ch[name]; ok {
			return v
		}
	}
	return ""
}

// Claims returns the claims (JSON) that an insufficient_claims challenge
// asks for, decoded from its base64 claims parameter, and whether there
// is such a challenge.
func Claims(values []string) (string, bool) {
	for _, ch := range Bearer(values) {
		if ch["error"] != "insufficient_claims" || ch["claims"] == "" {
			continue
		}
		raw := ch["claims"]
		for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
			if b, err := enc.DecodeString(raw); err == nil && json.Valid(b) {
				return string(b), true
			}
		}
		if json.Valid([]byte(raw)) { // some servers send it unencoded
			return raw, true
		}
	}
	return "", false
}

// InsufficientScope returns the scope an insufficient_scope challenge
// names, and whether there is one.
func InsufficientScope(values []string) (string, bool) {
	for _, ch := range Bearer(values) {
		if ch["error"] == "insufficient_scope" {
			return ch["scope"], true
		}
	}
	return "", false
}

// Description is the error_description of the first challenge that has one.
func Description(values []string) string { return Param(values, "error_description") }

// split parses one WWW-Authenticate header into its Bearer challenges.
func split(h string) []map[string]string {
	var out []map[string]string
	var cur map[string]string
	s := h
	for len(s) > 0 {
		s = strings.TrimLeft(s, " ,\t")
		if s == "" {
			break
		}
		// A scheme is a token followed by a space or the end, not by '='.
		tok := s
		if i := strings.IndexAny(s, " ,=\t"); i >= 0 {
			tok = s[:i]
		}
		rest := s[len(tok):]
		if !strings.HasPrefix(strings.TrimLeft(rest, " \t"), "=") {
			if strings.EqualFold(tok, "Bearer") {
				cur = map[string]string{}
				out = append(out, cur)
			} else {
				cur = nil
			}
			s = rest
			continue
		}
		rest = strings.TrimLeft(strings.TrimLeft(rest, " \t")[1:], " \t")
		var val string
		if strings.HasPrefix(rest, `"`) {
			var b strings.Builder
			i := 1
			for ; i < len(rest); i++ {
				if rest[i] == '\\' && i+1 < len(rest) {
					i++
					b.WriteByte(rest[i])
					continue
				}
				if rest[i] == '"' {
					break
				}
				b.WriteByte(rest[i])
			}
			val = b.String()
			if i < len(rest) {
				i++
			}
			rest = rest[i:]
		} else {
			j := strings.IndexAny(rest, " ,\t")
			if j < 0 {
				j = len(rest)
			}
			val, rest = rest[:j], rest[j:]
		}
		if cur != nil {
			cur[strings.ToLower(tok)] = val
		}
		s = rest
	}
	return out
}
