// Package memo writes the memo that cmd/broker/hotpath answers `broker
// headers` and `broker token` from when no daemon runs (the format is in
// hotpath's memo.go): after the command line answered from the token
// cache, what that answer depended on. It holds no token, only where the
// token is in the cache file and hashes of the files.
//
// Take runs before the command asks the cache, Remember after it
// answered: a memo is written only when every file read the same before
// and after, no daemon was there to answer either time, and the token is
// the profile's one access token in the cache (so that MSAL, reading
// those files again, can find no other).
package memo

import (
	"bytes"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/engine"
	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
	"github.com/mcp-token-broker/mcp-token-broker/broker/paths"
	"github.com/mcp-token-broker/mcp-token-broker/broker/store"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/cmd/broker/hotpath"
	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// Snapshot is what the files held before the command asked the cache.
type Snapshot struct {
	dir     string // the state folder
	arg     string // the profile as named on the command line
	name    string // the profile
	storage string
	env     []string
	files   []file // the cache file first
	cfg     *config.Config
}

type file struct {
	path string
	sum  string // "-": absent
	data []byte
}

// Take reads what the answer of profile (as named on the command line, ""
// for the only one) will depend on, or returns nil when the hot path is
// not for it: a daemon to ask, a profile that does not sign in with MSAL
// (browser or device code) or keeps the cache in the keyring, a config
// that does not load (the command line reports it).
func Take(profile string) *Snapshot {
	if runtime.GOOS != "linux" {
		return nil // the hot path reads memos on Linux only
	}
	dir, err := paths.StateDir()
	if err != nil || !noDaemon(dir) {
		return nil
	}
	s := &Snapshot{dir: dir, arg: profile}
	for _, k := range hotpath.MemoEnv {
		v := os.Getenv(k)
		if strings.ContainsAny(v, "\n\r") {
			return nil
		}
		s.env = append(s.env, k+"="+v)
	}
	if p := os.Getenv("BROKER_CONFIG"); p != "" && !filepath.IsAbs(p) {
		return nil // relative to the folder the command runs in
	}
	userFile, err := paths.ConfigFile()
	if err != nil {
		return nil
	}
	adminFile := paths.AdminConfigFile()
	// The files first, then the config from them: what Remember finds
	// unchanged is then what this config was read from.
	names := []string{filepath.Join(dir, store.PlainFile), adminFile, userFile}
	for _, path := range names {
		if !s.read(path) {
			return nil
		}
	}
	cfg, err := config.Load(adminFile, userFile)
	if err != nil {
		return nil
	}
	p, err := engine.SelectProfile(cfg, profile)
	if err != nil {
		return nil
	}
	switch p.Login {
	case "", "browser", "device-code":
	default:
		return nil // another credential source: not MSAL's cache
	}
	switch cfg.Settings.Storage {
	case "", "auto":
		s.storage = "auto"
	case store.ModeFile:
		s.storage = "file"
	default:
		return nil
	}
	if ca := cfg.CABundle(p); ca != "" && !s.read(ca) {
		return nil
	}
	// The scopes that servers' challenges added, which MSAL is asked for too.
	if !s.read(engine.ScopesFile(dir, p.Name)) {
		return nil
	}
	if s.files[0].sum == "-" {
		return nil // no cache file: nothing to answer from
	}
	s.name, s.cfg = p.Name, cfg
	return s
}

// read adds path and the hash of its content (or its absence).
func (s *Snapshot) read(path string) bool {
	if !filepath.IsAbs(path) || strings.ContainsAny(path, "\n\r") {
		return false
	}
	b, err := files.ReadRegular(path, files.MaxConfigFile)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		s.files = append(s.files, file{path: path, sum: "-"})
	case err != nil:
		return false
	default:
		s.files = append(s.files, file{path: path, sum: hotpath.Sum(b), data: b})
	}
	return true
}

// noDaemon is hotpath's rule: BROKER_NO_DAEMON, or no daemon's record.
func noDaemon(dir string) bool {
	if os.Getenv("BROKER_NO_DAEMON") != "" {
		return true
	}
	_, err := os.Lstat(filepath.Join(dir, localapi.RecordFile))
	return errors.Is(err, fs.ErrNotExist)
}

// Remember writes the memo for tok, the command's answer from the cache,
// when the files still hold what Take read and the cache holds tok as the
// profile's one access token. It is best effort and silent: without a
// memo the next command runs as this one did.
func (s *Snapshot) Remember(tok string) {
	if s == nil || !noDaemon(s.dir) {
		return
	}
	again := &Snapshot{}
	for _, f := range s.files {
		if !again.read(f.path) || again.files[len(again.files)-1].sum != f.sum {
			return
		}
	}
	cache := s.files[0].data
	e, ok := onlyToken(cache, s.name, tok)
	if !ok || bytes.Count(cache, []byte(tok)) != 1 {
		return
	}
	p := s.cfg.Profiles[s.name]
	if !strings.EqualFold(e.ClientID, p.ClientID) || !auth.HasScopes(e.Target, p.Scopes) {
		return
	}
	claims, err := token.ParseClaims(tok)
	if err != nil {
		return
	}
	var b strings.Builder
	b.WriteString(hotpath.MemoVersion + "\n")
	for _, kv := range s.env {
		b.WriteString(kv + "\n")
	}
	b.WriteString("storage " + s.storage + "\n")
	b.WriteString("token " + strconv.Itoa(bytes.Index(cache, []byte(tok))) + " " + strconv.Itoa(len(tok)) + " " +
		strconv.FormatInt(e.cachedAt, 10) + " " + strconv.FormatInt(e.expiresOn, 10) + " " +
		strconv.FormatInt(e.refreshOn, 10) + " " + strconv.FormatInt(max(claims.Exp, 0), 10) + "\n")
	for _, f := range s.files {
		b.WriteString("file " + f.sum + " " + f.path + "\n")
	}
	b.WriteString("end\n")
	write(filepath.Join(s.dir, hotpath.MemoFile(s.arg)), b.String())
}

// write replaces path with content (a new file renamed over it; no fsync:
// a memo lost in a crash only costs one slow answer, and a torn one has
// no end line).
func write(path, content string) {
	f, err := os.CreateTemp(filepath.Dir(path), ".hotpath-*")
	if err != nil {
		return
	}
	_, werr := f.WriteString(content)
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	if werr != nil || os.Rename(f.Name(), path) != nil {
		os.Remove(f.Name())
	}
}

// accessToken is the part of an MSAL cache entry the memo needs.
type accessToken struct {
	HomeAccountID string  `json:"home_account_id"`
	ClientID      string  `json:"client_id"`
	Secret        string  `json:"secret"`
	Target        string  `json:"target"`
	CachedAt      string  `json:"cached_at"`
	ExpiresOn     string  `json:"expires_on"`
	RefreshOn     *string `json:"refresh_on"`

	cachedAt, expiresOn, refreshOn int64
}

// onlyToken returns the access token of profile in the container file
// cache when it is the profile's only one, of its only account, and its
// secret is tok; its times must be what MSAL writes (Unix seconds as
// decimal strings; refresh_on may be left out).
func onlyToken(cache []byte, profile, tok string) (accessToken, bool) {
	var c struct {
		Profiles map[string]struct {
			MSAL json.RawMessage `json:"msal"`
		} `json:"profiles"`
	}
	var m struct {
		Account map[string]struct {
			HomeAccountID string `json:"home_account_id"`
		} `json:"Account"`
		AccessToken map[string]accessToken `json:"AccessToken"`
	}
	if json.Unmarshal(cache, &c) != nil || json.Unmarshal(c.Profiles[profile].MSAL, &m) != nil ||
		len(m.Account) != 1 || len(m.AccessToken) != 1 {
		return accessToken{}, false
	}
	var e accessToken
	for _, e = range m.AccessToken {
	}
	for _, a := range m.Account {
		if a.HomeAccountID != e.HomeAccountID {
			return accessToken{}, false
		}
	}
	var err1, err2 error
	e.cachedAt, err1 = positive(e.CachedAt)
	e.expiresOn, err2 = positive(e.ExpiresOn)
	if e.RefreshOn != nil {
		var err error
		if e.refreshOn, err = positive(*e.RefreshOn); err != nil {
			return accessToken{}, false
		}
	}
	if err1 != nil || err2 != nil || e.Secret != tok {
		return accessToken{}, false
	}
	return e, true
}

func positive(s string) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err == nil && n <= 0 {
		err = errors.New("not after 1970")
	}
	return n, err
}
