package integrations

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// Owner says which values in a client's file are the broker's. The
// delivery ledger (broker/delivery) is the one in production: a value the
// broker did not write (a header the user wrote by hand) is never
// removed. A nil Owner owns nothing and records nothing.
type Owner interface {
	// Owns reports whether the value whose SHA-256 (hex) is sum, at
	// place, is one the broker wrote. For an entry place sum is "".
	Owns(place, sum string) bool
	// Placing is told, before the file is replaced, what the new content
	// holds that the broker wrote (file is the real file, symbolic links
	// resolved). An error stops the write.
	Placing(file string, placed []Placed) error
}

// Placed is one value the broker wrote: where, and the SHA-256 of the
// value (never the value: it may be the token).
type Placed struct {
	// Place is a JSON pointer (RFC 6901), a TOML key, an environment
	// variable's name, or "" for the whole file.
	Place string
	// SHA256 is the hex SHA-256 of the value ("" for an entry).
	SHA256 string
	// Secret reports whether the value holds the token (logout scrubs it).
	Secret bool
	// Entry reports that the broker created the server's whole entry
	// (disconnect removes it).
	Entry bool
}

// Sum is the SHA-256 (hex) under which a value is recorded.
func Sum(value string) string {
	h := sha256.Sum256([]byte(value))
	return hex.EncodeToString(h[:])
}

// place is one spot in a client's file the broker may write.
type place struct {
	name   string   // as Placed.Place
	keys   []string // the JSON path (JSON clients)
	secret bool     // holds the token
	entry  bool     // the server's whole entry
	// wholeEntryOnly: removed only with the entry (a bridge's command:
	// without it the entry would not work at all).
	wholeEntryOnly bool
}

// placer is implemented by every client: the places it may write for t,
// what is at one now, and how to delete it.
type placer interface {
	// places lists every place the broker may write for t, whatever the
	// mode; the first is the one t's mode writes.
	places(t *Target) []place
	// get returns the value at p (a string's content; "" for an entry).
	get(t *Target, data []byte, p place) (string, bool, error)
	// del removes p.
	del(t *Target, data []byte, p place) ([]byte, error)
}

// pointer is the RFC 6901 pointer of a JSON path.
func pointer(keys []string) string {
	var b strings.Builder
	for _, k := range keys {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

func jsonPlace(keys []string, secret bool) place {
	return place{name: pointer(keys), keys: keys, secret: secret}
}

// jsonGet reads the string at p (an entry's value is "").
func jsonGet(data []byte, p place) (string, bool, error) {
	if isBlank(data) {
		return "", false, nil // holds nothing
	}
	raw, ok, err := jsonedit.Get(data, p.keys)
	if err != nil || !ok {
		return "", false, err
	}
	if p.entry {
		return "", true, nil
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		// Not a string: not something the broker wrote.
		return "", false, nil
	}
	return s, true, nil
}

func jsonDel(data []byte, p place) ([]byte, error) {
	return jsonedit.Edit(data, jsonedit.Delete(p.keys))
}

func (j jsonServers) places(t *Target) []place {
	auth := jsonPlace(j.under(t, "headers", "Authorization"), true)
	helper := jsonPlace(j.under(t, "headersHelper"), false)
	command := jsonPlace(j.under(t, "command"), false)
	command.wholeEntryOnly = true
	entry := jsonPlace(j.entry(t), false)
	entry.entry = true
	switch t.mode {
	case ModeHelper:
		return []place{helper, auth, command, entry}
	case ModeBridge:
		return []place{command, auth, helper, entry}
	}
	return []place{auth, helper, command, entry}
}

func (jsonServers) get(_ *Target, data []byte, p place) (string, bool, error) {
	return jsonGet(data, p)
}

func (jsonServers) del(_ *Target, data []byte, p place) ([]byte, error) { return jsonDel(data, p) }

func (c jsonClient) places(t *Target) []place { return []place{jsonPlace(c.keys(t), true)} }

func (jsonClient) get(_ *Target, data []byte, p place) (string, bool, error) {
	return jsonGet(data, p)
}

func (jsonClient) del(_ *Target, data []byte, p place) ([]byte, error) { return jsonDel(data, p) }

// An env file's place is the variable; its value is the whole line that
// sets it (without the line ending), as written.
func (envfileClient) places(t *Target) []place {
	return []place{{name: envVar(t), secret: true}}
}

func (envfileClient) get(t *Target, data []byte, _ place) (string, bool, error) {
	for _, l := range bytes.SplitAfter(data, []byte("\n")) {
		if defines(l, envVar(t)) {
			return string(bytes.TrimRight(l, "\r\n")), true, nil
		}
	}
	return "", false, nil
}

func (envfileClient) del(t *Target, data []byte, _ place) ([]byte, error) {
	return editLines(data, envVar(t), "", newline(t)), nil
}

// A token file's place is the whole file.
func (fileClient) places(*Target) []place { return []place{{name: "", secret: true}} }

func (fileClient) get(_ *Target, data []byte, _ place) (string, bool, error) {
	return string(data), len(data) > 0, nil
}

func (fileClient) del(*Target, []byte, place) ([]byte, error) { return []byte{}, nil }
