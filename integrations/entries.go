package integrations

import (
	"encoding/json"
	"errors"
	"io/fs"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/pelletier/go-toml/v2"
	"github.com/tailscale/hujson"
	"go.yaml.in/yaml/v3"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/broker/token"
	"github.com/mcp-token-broker/mcp-token-broker/files"
	"github.com/mcp-token-broker/mcp-token-broker/files/jsonedit"
)

// Entry is one remote MCP server configured in a client's file, as
// `broker scan` reports it. It is read only: nothing here writes.
type Entry struct {
	// Client is the broker's name of the client ("claude", "vscode", …).
	Client string
	// Scope is "user", "local" (Claude Code's per-project entries in
	// ~/.claude.json) or "project" (a .mcp.json or .vscode/mcp.json).
	Scope string
	// Project is the project folder of a local or project entry.
	Project string
	// Path is the file the entry is in.
	Path string
	// Server is the entry's name in the client.
	Server string
	// URL is the remote MCP endpoint (for Claude Desktop, the URL that an
	// mcp-remote command line forwards to).
	URL string
	// Authorization is the Authorization header's value as written (a
	// pasted bearer token, a ${VAR} reference…); "" when none.
	Authorization token.Secret
	// Helper is the headers helper command (headersHelper,
	// http_headers_helper); "" when none.
	Helper string
	// TokenEnvVar is the variable a client reads the bearer token from
	// (Codex's bearer_token_env_var).
	TokenEnvVar string
	// OtherHeaders are the names of the other headers (an API
	// Management subscription key, …), sorted.
	OtherHeaders []string
	// Command is the stdio command (bridge entries, mcp-remote).
	Command string
}

// Entries reads every client's file that the broker knows (user scope,
// and the project scopes of projectDirs and of the projects that Claude
// Code lists) and returns the remote MCP servers in them. A file that is
// missing is skipped; one that does not parse is reported as a *FileError
// and the others are still read.
func Entries(env Env, projectDirs []string) ([]Entry, []error) {
	if env.BrokerPath == "" {
		env.BrokerPath = "/broker" // only paths are resolved here
	}
	var out []Entry
	var errs []error
	read := func(client, scope, project, path string, servers []string) {
		es, err := jsonEntries(path, servers)
		if err != nil {
			errs = append(errs, err)
			return
		}
		for _, e := range es {
			e.Client, e.Scope, e.Project = client, scope, project
			out = append(out, e)
		}
	}
	projects := map[string]bool{}
	for _, d := range projectDirs {
		projects[filepath.Clean(d)] = true
	}
	for _, name := range Clients() {
		c := clients[name]
		if name == "json" || name == "envfile" || name == "file" {
			continue
		}
		tg, err := New(config.Target{Client: name, Server: "x", Mode: c.modes()[len(c.modes())-1]}, env)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		switch c := c.(type) {
		case codexClient:
			es, err := codexEntries(tg.path)
			if err != nil {
				errs = append(errs, err)
			}
			for _, e := range es {
				e.Client, e.Scope = name, "user"
				out = append(out, e)
			}
		case continueClient:
			es, err := continueEntries(tg.path)
			if err != nil {
				errs = append(errs, err)
			}
			for _, e := range es {
				e.Client, e.Scope = name, "user"
				out = append(out, e)
			}
		case jsonServerClient:
			read(name, "user", "", tg.path, c.servers(tg))
			if name == "claude" {
				for _, d := range claudeProjects(tg.path) {
					projects[d] = true
					read(name, "local", d, tg.path, []string{"projects", d, "mcpServers"})
				}
			}
			if name == "vscode" {
				legacy := filepath.Join(filepath.Dir(tg.path), "settings.json")
				read(name, "user", "", legacy, []string{"mcp", "servers"})
			}
		}
	}
	dirs := make([]string, 0, len(projects))
	for d := range projects {
		dirs = append(dirs, d)
	}
	sort.Strings(dirs)
	for _, d := range dirs {
		read("claude", "project", d, filepath.Join(d, ".mcp.json"), []string{"mcpServers"})
		read("vscode", "project", d, filepath.Join(d, ".vscode", "mcp.json"), []string{"servers"})
	}
	return out, errs
}

// readConfig reads a client's file (a regular file, capped); a missing
// one is (nil, nil).
func readConfig(path string) ([]byte, error) {
	data, err := files.ReadRegular(path, files.MaxClientFile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, &FileError{Path: path, Msg: err.Error()}
	}
	return data, nil
}

// jsonEntry is a server entry of any of the JSON clients.
type jsonEntry struct {
	Type          string            `json:"type"`
	URL           string            `json:"url"`
	HTTPURL       string            `json:"httpUrl"`
	ServerURL     string            `json:"serverUrl"`
	Headers       map[string]string `json:"headers"`
	HeadersHelper string            `json:"headersHelper"`
	// Command is a string, or (opencode, Kilo Code) the whole command
	// line as an array.
	Command json.RawMessage `json:"command"`
	Args    []string        `json:"args"`
	// Transport holds the fields instead (Cline CLI).
	Transport *jsonEntry `json:"transport"`
}

// commandLine returns the entry's command and its arguments.
func (je jsonEntry) commandLine() (string, []string) {
	var s string
	if json.Unmarshal(je.Command, &s) == nil {
		return s, je.Args
	}
	var argv []string
	if json.Unmarshal(je.Command, &argv) == nil && len(argv) > 0 {
		return argv[0], append(argv[1:], je.Args...)
	}
	return "", je.Args
}

func jsonEntries(path string, servers []string) ([]Entry, error) {
	data, err := readConfig(path)
	if err != nil || data == nil {
		return nil, err
	}
	raw, ok, err := jsonedit.Get(data, servers)
	if err != nil {
		var se *jsonedit.SyntaxError
		if errors.As(err, &se) {
			return nil, &FileError{Path: path, Line: se.Line, Col: se.Col, Msg: se.Msg}
		}
		return nil, &FileError{Path: path, Msg: err.Error()}
	}
	if !ok {
		return nil, nil
	}
	std, err := hujson.Standardize(append([]byte(nil), raw...))
	if err != nil {
		return nil, &FileError{Path: path, Msg: err.Error()}
	}
	var m map[string]jsonEntry
	if err := json.Unmarshal(std, &m); err != nil {
		// Not an object of entries (someone else's shape): nothing to list.
		return nil, nil
	}
	var out []Entry
	for name, je := range m {
		if je.Transport != nil {
			je = *je.Transport
		}
		command, args := je.commandLine()
		e := Entry{Path: path, Server: name, Helper: je.HeadersHelper, Command: command}
		for _, u := range []string{je.URL, je.HTTPURL, je.ServerURL} {
			if u != "" {
				e.URL = u
				break
			}
		}
		for k, v := range je.Headers {
			switch {
			case strings.EqualFold(k, "Authorization") && shellHelper().MatchString(v):
				// Crush runs $(…) in a header when it opens the session.
				e.Helper = shellHelper().FindStringSubmatch(v)[1]
			case strings.EqualFold(k, "Authorization"):
				e.Authorization = token.Secret(v)
			default:
				e.OtherHeaders = append(e.OtherHeaders, k)
			}
		}
		if e.URL == "" && command != "" {
			e.URL, e.Authorization = fromMCPRemote(append([]string{command}, args...))
		}
		if e.URL == "" {
			continue // a local stdio server: nothing to sign in to
		}
		sort.Strings(e.OtherHeaders)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Server < out[j].Server })
	return out, nil
}

// shellHelper is a header value that runs a command: "Bearer $(cmd)".
var shellHelper = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^(?:Bearer\s+)?\$\((.+)\)\s*$`) })

// fromMCPRemote reads an mcp-remote command line (`npx mcp-remote URL
// --header "Authorization: Bearer …"`), the usual way to reach a remote
// server from a client that only starts stdio ones.
func fromMCPRemote(args []string) (url string, auth token.Secret) {
	remote := false
	for i, a := range args {
		switch {
		case strings.Contains(a, "mcp-remote"):
			remote = true
		case remote && url == "" && (strings.HasPrefix(a, "https://") || strings.HasPrefix(a, "http://")):
			url = a
		case remote && a == "--header" && i+1 < len(args):
			if k, v, ok := strings.Cut(args[i+1], ":"); ok && strings.EqualFold(strings.TrimSpace(k), "Authorization") {
				auth = token.Secret(strings.TrimSpace(v))
			}
		}
	}
	return url, auth
}

// claudeProjects lists the project folders that ~/.claude.json knows.
func claudeProjects(path string) []string {
	data, err := readConfig(path)
	if err != nil || data == nil {
		return nil
	}
	var doc struct {
		Projects map[string]json.RawMessage `json:"projects"`
	}
	if json.Unmarshal(data, &doc) != nil {
		return nil
	}
	var dirs []string
	for d := range doc.Projects {
		if filepath.IsAbs(d) {
			dirs = append(dirs, filepath.Clean(d))
		}
	}
	sort.Strings(dirs)
	return dirs
}

// codexEntries reads Codex's [mcp_servers.NAME] tables.
func codexEntries(path string) ([]Entry, error) {
	data, err := readConfig(path)
	if err != nil || data == nil {
		return nil, err
	}
	var doc struct {
		MCPServers map[string]struct {
			URL               string            `toml:"url"`
			HTTPHeaders       map[string]string `toml:"http_headers"`
			BearerTokenEnvVar string            `toml:"bearer_token_env_var"`
			HTTPHeadersHelper string            `toml:"http_headers_helper"`
			Command           string            `toml:"command"`
		} `toml:"mcp_servers"`
	}
	if err := toml.Unmarshal(data, &doc); err != nil {
		var de *toml.DecodeError
		if errors.As(err, &de) {
			line, col := de.Position()
			return nil, &FileError{Path: path, Line: line, Col: col, Msg: de.Error()}
		}
		return nil, &FileError{Path: path, Msg: err.Error()}
	}
	var out []Entry
	for name, s := range doc.MCPServers {
		if s.URL == "" {
			continue
		}
		e := Entry{Path: path, Server: name, URL: s.URL, TokenEnvVar: s.BearerTokenEnvVar, Helper: s.HTTPHeadersHelper, Command: s.Command}
		for k, v := range s.HTTPHeaders {
			if strings.EqualFold(k, "Authorization") {
				e.Authorization = token.Secret(v)
			} else {
				e.OtherHeaders = append(e.OtherHeaders, k)
			}
		}
		sort.Strings(e.OtherHeaders)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Server < out[j].Server })
	return out, nil
}

// continueEntries reads the Continue CLI's mcpServers list (config.yaml).
func continueEntries(path string) ([]Entry, error) {
	data, err := readConfig(path)
	if err != nil || data == nil {
		return nil, err
	}
	var doc struct {
		MCPServers []struct {
			Name           string `yaml:"name"`
			URL            string `yaml:"url"`
			APIKey         string `yaml:"apiKey"`
			Command        string `yaml:"command"`
			RequestOptions struct {
				Headers map[string]string `yaml:"headers"`
			} `yaml:"requestOptions"`
		} `yaml:"mcpServers"`
	}
	if err := yaml.Unmarshal(data, &doc); err != nil {
		fe := &FileError{Path: path, Msg: err.Error()}
		if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
			fe.Line, _ = strconv.Atoi(m[1])
			fe.Col = 1
		}
		return nil, fe
	}
	var out []Entry
	for _, s := range doc.MCPServers {
		if s.URL == "" {
			continue
		}
		e := Entry{Path: path, Server: s.Name, URL: s.URL, Command: s.Command}
		for k, v := range s.RequestOptions.Headers {
			if strings.EqualFold(k, "Authorization") {
				e.Authorization = token.Secret(v)
			} else {
				e.OtherHeaders = append(e.OtherHeaders, k)
			}
		}
		if s.APIKey != "" {
			// cn sends it as "Authorization: Bearer …", over the headers.
			e.Authorization = token.Secret("Bearer " + s.APIKey)
		}
		sort.Strings(e.OtherHeaders)
		out = append(out, e)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Server < out[j].Server })
	return out, nil
}
