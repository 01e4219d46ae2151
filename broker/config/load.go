package config

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/pelletier/go-toml/v2/unstable"

	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// fileDoc is one file as written: pointers tell a value that is set from
// one that is not, so that the user's file overrides only what it sets.
type fileDoc struct {
	Settings *fileSettings           `toml:"settings"`
	Profiles map[string]*fileProfile `toml:"profiles"`
}

type fileSettings struct {
	Storage       *string   `toml:"storage"`
	RefreshBefore *Duration `toml:"refresh_before"`
	LogLevel      *string   `toml:"log_level"`
	CAFile        *string   `toml:"ca_file"`
	ProxyPort     *int      `toml:"proxy_port"`
}

type fileProfile struct {
	Tenant    *string   `toml:"tenant"`
	ClientID  *string   `toml:"client_id"`
	Scopes    *[]string `toml:"scopes"`
	Authority *string   `toml:"authority"`
	Login     *string   `toml:"login"`
	LoginHint *string   `toml:"login_hint"`
	CAFile    *string   `toml:"ca_file"`
	Targets   []Target  `toml:"targets"`
	fileUnattended
}

// where is a place in a file.
type where struct {
	path      string
	line, col int
}

// Load reads adminPath (optional: a missing file is fine) and then userPath
// (optional too), the user's values overriding the admin's key by key, and
// validates the result. A profile's targets are the admin's followed by the
// user's. Errors are *Error values that name file, line and key.
func Load(adminPath, userPath string) (*Config, error) {
	var read []file
	for _, path := range []string{adminPath, userPath} {
		if path == "" {
			continue
		}
		// Only a regular file, and a small one: a config that is a FIFO
		// or a link to /dev/zero is an error, not a hang or a crash.
		data, err := files.ReadRegular(path, files.MaxConfigFile)
		if errors.Is(err, os.ErrNotExist) {
			continue
		}
		if errors.Is(err, files.ErrNotRegular) || errors.Is(err, files.ErrTooLarge) {
			return nil, &Error{Path: path, Message: "cannot read the config file: " + strings.TrimPrefix(err.Error(), path+": "),
				Hint: "the config must be a regular TOML file; replace it with one"}
		}
		if err != nil {
			return nil, &Error{Path: path, Message: fmt.Sprintf("cannot read the config file: %v", unwrapPathError(err)),
				Hint: "check the file's permissions"}
		}
		read = append(read, file{path, data})
	}
	return parse(userPath, read)
}

// file is one config file's name and content.
type file struct {
	path string
	data []byte
}

// parse decodes, merges and validates files in order (admin first).
func parse(userPath string, files []file) (*Config, error) {
	cfg := &Config{Profiles: map[string]*Profile{}, Path: userPath}
	pos := map[string]where{}
	for _, f := range files {
		// Windows Notepad starts a UTF-8 file with a byte order mark.
		f.data = bytes.TrimPrefix(f.data, []byte("\ufeff"))
		doc, err := decodeFile(f.path, f.data)
		if err != nil {
			return nil, err
		}
		filePos := map[string]where{}
		index(f.path, f.data, filePos)
		if err := checkRefreshBefore(doc, filePos); err != nil {
			return nil, err
		}
		for k, w := range shiftTargets(filePos, cfg) {
			pos[k] = w
		}
		merge(cfg, doc)
		cfg.Files = append(cfg.Files, f.path)
	}
	if err := validate(cfg, pos); err != nil {
		return nil, err
	}
	return cfg, nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// decodeFile decodes strictly: an unknown key is an error naming its place.
func decodeFile(path string, data []byte) (*fileDoc, error) {
	var doc fileDoc
	dec := toml.NewDecoder(bytes.NewReader(data)).DisallowUnknownFields()
	err := dec.Decode(&doc)
	if err == nil {
		return &doc, nil
	}
	var strict *toml.StrictMissingError
	if errors.As(err, &strict) && len(strict.Errors) > 0 {
		e := strict.Errors[0]
		line, col := e.Position()
		key := strings.Join(e.Key(), ".")
		return nil, &Error{Path: path, Line: line, Col: col, Key: key,
			Message: fmt.Sprintf("unknown key %q", key),
			Hint:    "remove it or fix its spelling; the keys are listed in `broker help config`"}
	}
	var de *toml.DecodeError
	if errors.As(err, &de) {
		line, col := de.Position()
		msg := strings.TrimPrefix(de.Error(), "toml: ")
		key := strings.Join(de.Key(), ".")
		if key != "" {
			msg = fmt.Sprintf("%s: %s", key, msg)
		}
		return nil, &Error{Path: path, Line: line, Col: col, Key: key, Message: msg,
			Hint: "fix the TOML syntax at that place"}
	}
	var dur *DurationError
	if errors.As(err, &dur) {
		// The decoder gives no place for a value it handed to
		// UnmarshalText as is (a number); refresh_before is the only
		// duration.
		pos := map[string]where{}
		index(path, data, pos)
		w := pos["settings.refresh_before"]
		return nil, &Error{Path: path, Line: w.line, Col: w.col, Key: "settings.refresh_before",
			Message: fmt.Sprintf("settings.refresh_before: %s is not a duration (%s)", dur.Value, strings.TrimPrefix(dur.Err.Error(), "time: ")),
			Hint:    `write a quoted duration with its unit, e.g. refresh_before = "15m"`}
	}
	return nil, &Error{Path: path, Message: err.Error(), Hint: "fix the value's type (strings are quoted, scopes is a list)"}
}

// checkRefreshBefore refuses a refresh_before that a file sets outside the
// range, "0s" included (which would otherwise read as "not set").
func checkRefreshBefore(doc *fileDoc, pos map[string]where) error {
	if doc.Settings == nil || doc.Settings.RefreshBefore == nil {
		return nil
	}
	d := doc.Settings.RefreshBefore.Duration
	if d >= MinRefreshBefore && d <= MaxRefreshBefore {
		return nil
	}
	w := pos["settings.refresh_before"]
	return &Error{Path: w.path, Line: w.line, Col: w.col, Key: "settings.refresh_before",
		Message: fmt.Sprintf("settings.refresh_before: %s is out of range", d),
		Hint:    "use a duration between 5m and 50m (MSAL itself refreshes below 5 min; tokens live 60–90 min), or leave it out for 15m"}
}

// index records where each dotted key is set in data. Targets are indexed
// as "profiles.NAME.targets[i]" (and ".key" below that) in file order.
func index(path string, data []byte, pos map[string]where) {
	p := unstable.Parser{}
	p.Reset(data)
	counts := map[string]int{}
	prefix := ""
	at := func(n *unstable.Node) where {
		s := p.Shape(n.Raw)
		return where{path, s.Start.Line, s.Start.Column}
	}
	keyOf := func(it unstable.Iterator) (string, *unstable.Node) {
		var parts []string
		var first *unstable.Node
		for it.Next() {
			if first == nil {
				first = it.Node()
			}
			parts = append(parts, string(it.Node().Data))
		}
		return strings.Join(parts, "."), first
	}
	var walkInline func(base string, n *unstable.Node)
	walkInline = func(base string, n *unstable.Node) {
		it := n.Children()
		for it.Next() {
			kv := it.Node()
			k, first := keyOf(kv.Key())
			full := join(base, k)
			if first != nil {
				pos[full] = at(first)
			}
			walkValue(full, kv.Value(), walkInline, pos, at, first)
		}
	}
	for p.NextExpression() {
		e := p.Expression()
		switch e.Kind {
		case unstable.Table:
			k, first := keyOf(e.Key())
			prefix = k
			if first != nil {
				pos[k] = at(first)
			}
		case unstable.ArrayTable:
			k, first := keyOf(e.Key())
			i := counts[k]
			counts[k]++
			prefix = fmt.Sprintf("%s[%d]", k, i)
			if first != nil {
				pos[prefix] = at(first)
			}
		case unstable.KeyValue:
			k, first := keyOf(e.Key())
			full := join(prefix, k)
			if first != nil {
				pos[full] = at(first)
			}
			walkValue(full, e.Value(), walkInline, pos, at, first)
		}
	}
}

func walkValue(full string, v *unstable.Node, walkInline func(string, *unstable.Node),
	pos map[string]where, at func(*unstable.Node) where, keyNode *unstable.Node) {
	if v == nil {
		return
	}
	switch v.Kind {
	case unstable.InlineTable:
		walkInline(full, v)
	case unstable.Array:
		i := 0
		it := v.Children()
		for it.Next() {
			el := it.Node()
			k := fmt.Sprintf("%s[%d]", full, i)
			if keyNode != nil {
				pos[k] = at(keyNode)
			}
			if el.Kind == unstable.InlineTable {
				walkInline(k, el)
			}
			i++
		}
	}
}

var targetIndex = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^profiles\.([^.\[]+)\.targets\[(\d+)\]`) })

// shiftTargets renumbers a file's target positions to follow the targets
// that earlier files already gave each profile.
func shiftTargets(filePos map[string]where, cfg *Config) map[string]where {
	out := make(map[string]where, len(filePos))
	for k, w := range filePos {
		if m := targetIndex().FindStringSubmatch(k); m != nil {
			if p := cfg.Profiles[m[1]]; p != nil && len(p.Targets) > 0 {
				i, _ := strconv.Atoi(m[2])
				k = fmt.Sprintf("profiles.%s.targets[%d]%s", m[1], i+len(p.Targets), k[len(m[0]):])
			}
		}
		out[k] = w
	}
	return out
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "." + b
}

// merge lays doc over cfg.
func merge(cfg *Config, doc *fileDoc) {
	if s := doc.Settings; s != nil {
		if s.Storage != nil {
			cfg.Settings.Storage = *s.Storage
		}
		if s.RefreshBefore != nil {
			cfg.Settings.RefreshBefore = *s.RefreshBefore
		}
		if s.ProxyPort != nil {
			cfg.Settings.ProxyPort = *s.ProxyPort
		}
		if s.LogLevel != nil {
			cfg.Settings.LogLevel = *s.LogLevel
		}
		if s.CAFile != nil {
			cfg.Settings.CAFile = *s.CAFile
		}
	}
	for name, fp := range doc.Profiles {
		if fp == nil {
			continue
		}
		p := cfg.Profiles[name]
		if p == nil {
			p = &Profile{Name: name}
			cfg.Profiles[name] = p
		}
		set := func(dst *string, src *string) {
			if src != nil {
				*dst = *src
			}
		}
		set(&p.Tenant, fp.Tenant)
		set(&p.ClientID, fp.ClientID)
		set(&p.Authority, fp.Authority)
		set(&p.Login, fp.Login)
		set(&p.LoginHint, fp.LoginHint)
		set(&p.CAFile, fp.CAFile)
		fp.fileUnattended.merge(&p.Unattended)
		if fp.Scopes != nil {
			p.Scopes = append([]string(nil), (*fp.Scopes)...)
		}
		for _, t := range fp.Targets {
			t.Profile = name
			p.Targets = append(p.Targets, t)
		}
	}
}

// ProfileNames returns the profile names, sorted.
func (c *Config) ProfileNames() []string {
	names := make([]string, 0, len(c.Profiles))
	for n := range c.Profiles {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
