// Package hotpath answers `broker headers` and `broker token` from the
// running daemon (from its memo of its current token when it wrote one,
// else over its socket), or without one from the token cache when nothing
// changed since the command line last answered from it (cache_linux.go),
// while the process is still starting, before the rest of the program is
// initialised.
//
// Claude Code runs `broker headers` on every connection, and scripts run
// `broker token` as often: what these cost is mostly process start. Go
// runs every package's initialisers before main, and the broker links
// MSAL, the MCP SDK (with encoding/gob and jsonschema-go), kardianos/service,
// D-Bus and the tray, whose initialisers together cost more than a whole
// hello-world process. This package's init runs first instead: Go
// initialises packages in import-path order as soon as their imports are
// initialised (the spec's rule since Go 1.21), and this package imports
// only os, syscall, strconv, time, errors and hash/fnv, which are
// initialised right after the runtime. When it has the answer, init
// prints it and exits; nothing else of the program runs. When anything is
// not as expected (other flags, an error answer, a cache it cannot vouch
// for, another system), it returns without printing and the command runs
// as usual, which asks again and reports properly.
//
// Keep the imports to those: strings, bytes, path/filepath, fmt or
// encoding/json would each make Go initialise dozens of packages first
// (TestHotPath in cmd/broker fails then).
package hotpath

import (
	"os"
	"strconv"
	"time"
)

// DefaultMinValidity is what `broker headers` asks for and `broker token`
// asks for without --min-validity, as the command line does (tests check
// it against cmd/broker/cli and broker/localapi).
const DefaultMinValidity = 5 * time.Minute

// answerWithin bounds the whole exchange with the daemon. A live daemon
// answers in well under a millisecond (it refreshes ahead of expiry); when
// it does not (stopped, stuck, or waiting for the authority), the command
// asks it again the usual way, with its own time limit, which starts
// after this one: Claude Code kills a headersHelper at 10 s.
const answerWithin = 500 * time.Millisecond

func init() {
	q, ok := parse(os.Args[1:])
	if !ok {
		return
	}
	// Claude Code names the server that asks (broker/reask): a second
	// ask right after the server refused the token gets a fresh one
	// (the daemon's to give: askDaemon answers a first ask only).
	var server, serverURL string
	if q.format == "headers" {
		server, serverURL = os.Getenv("CLAUDE_CODE_MCP_SERVER_NAME"), os.Getenv("CLAUDE_CODE_MCP_SERVER_URL")
	}
	tok, ok := "", false
	if os.Getenv("BROKER_NO_DAEMON") == "" {
		tok, ok = askDaemon(q, server, serverURL)
	}
	// Without a daemon, a server's second ask is reask's to judge (the
	// command line keeps its memo).
	if !ok && server == "" {
		tok, ok = fromCache(q.profile, q.minValidity, time.Now())
	}
	if !ok {
		return
	}
	if _, err := os.Stdout.WriteString(q.render(tok)); err != nil {
		os.Stderr.WriteString("broker: writing the answer: " + err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// query is a command line the hot path answers.
type query struct {
	format      string // headers, or token's raw, header or env
	profile     string
	minValidity time.Duration
}

// parse reads `headers [--profile P]` and `token [--profile P]
// [--format raw|header|env] [--min-validity D]`, each flag as --flag V,
// --flag=V or -p/-f V. It reports false for anything else, which the
// command line proper handles (and explains when wrong).
func parse(args []string) (query, bool) {
	if len(args) == 0 || args[0] != "headers" && args[0] != "token" {
		return query{}, false
	}
	q := query{format: "headers", minValidity: DefaultMinValidity}
	if args[0] == "token" {
		q.format = "raw"
	}
	for i := 1; i < len(args); i++ {
		name, v, inline := cut(args[i], '=')
		if !inline {
			if i+1 == len(args) || hasPrefix(args[i+1], "-") {
				return query{}, false
			}
			i++
			v = args[i]
		}
		switch {
		case name == "--profile" || name == "-p" && !inline:
			q.profile = v
		case args[0] == "token" && (name == "--format" || name == "-f" && !inline):
			if v != "raw" && v != "header" && v != "env" {
				return query{}, false // json needs more than the token; others are errors
			}
			q.format = v
		case args[0] == "token" && name == "--min-validity":
			d, err := time.ParseDuration(v)
			if err != nil || d < 0 {
				return query{}, false
			}
			q.minValidity = d
		default:
			return query{}, false
		}
	}
	return q, true
}

// render is what the command prints for tok, as the command line proper
// prints it (cmd/broker/cli: headers.go, token.go).
func (q query) render(tok string) string {
	switch q.format {
	case "headers":
		return `{"Authorization":"Bearer ` + tok + `"}` + "\n"
	case "header":
		return "Authorization: Bearer " + tok + "\n"
	case "env":
		return "export MCP_TOKEN='" + tok + "'\n" // a JWT holds no quote
	}
	return tok + "\n"
}

// headersAnswer returns the token in the daemon's answer to GET
// /v1/headers: exactly {"Authorization":"Bearer JWT"} and a newline, as
// encoding/json writes it (a JWT has nothing it escapes); anything else
// reports false.
func headersAnswer(body []byte) (string, bool) {
	const pre, post = `{"Authorization":"Bearer `, `"}` + "\n"
	s := string(body)
	if len(s) < len(pre)+len(post) || s[:len(pre)] != pre || s[len(s)-len(post):] != post {
		return "", false
	}
	tok := s[len(pre) : len(s)-len(post)]
	return tok, jwtShaped(tok)
}

// jwtShaped reports whether s is three dot-separated base64url parts, the
// first two not empty (what broker/localapi accepts from the daemon).
func jwtShaped(s string) bool {
	if len(s) > 64<<10 {
		return false
	}
	dots, last := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '.':
			if dots < 2 && i == last+1 {
				return false // an empty header or payload
			}
			dots++
			last = i
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// queryString is the request's query, escaped as net/url does; server and
// serverURL name the asking server ("" when none does), as the local
// API's headers endpoint reads them.
func queryString(profile string, minValidity time.Duration, server, serverURL string) string {
	q := "min_validity=" + escape(minValidity.String())
	if profile != "" {
		q += "&profile=" + escape(profile)
	}
	if server != "" {
		q += "&server=" + escape(server)
		if serverURL != "" {
			q += "&server_url=" + escape(serverURL)
		}
	}
	return q
}

// escape percent-encodes all but unreserved characters (RFC 3986).
func escape(s string) string {
	const hex = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_', c == '.', c == '~':
			b = append(b, c)
		default:
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

// response returns the body of a complete HTTP/1.1 200 answer with a
// Content-Length (what net/http's server sends for a small body).
func response(b []byte) ([]byte, bool) {
	s := string(b)
	const ok200 = "HTTP/1.1 200 "
	if !hasPrefix(s, ok200) {
		return nil, false
	}
	end := index(s, "\r\n\r\n")
	if end < 0 {
		return nil, false
	}
	body := b[end+4:]
	length := -1
	for rest := s[:end+2]; rest != ""; {
		line, tail, _ := cut(rest, '\n')
		rest = tail
		name, v, ok := cut(line, ':')
		if !ok {
			continue
		}
		switch lower(name) {
		case "content-length":
			n, err := strconv.Atoi(trim(v))
			if err != nil {
				return nil, false
			}
			length = n
		case "transfer-encoding":
			return nil, false
		}
	}
	if length != len(body) {
		return nil, false
	}
	return body, true
}

// The few string helpers this package needs (see the package comment for
// why not package strings).

func hasPrefix(s, p string) bool { return len(s) >= len(p) && s[:len(p)] == p }

func index(s, sub string) int {
	for i := 0; i+len(sub) <= len(s); i++ {
		if s[i:i+len(sub)] == sub {
			return i
		}
	}
	return -1
}

func cutPrefix(s, p string) (string, bool) {
	if !hasPrefix(s, p) {
		return s, false
	}
	return s[len(p):], true
}

func cut(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

func lower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

func trim(s string) string {
	for s != "" && (s[0] == ' ' || s[0] == '\t') {
		s = s[1:]
	}
	for s != "" && (s[len(s)-1] == ' ' || s[len(s)-1] == '\t' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
