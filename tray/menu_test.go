package tray

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

var (
	t0  = time.Date(2026, 11, 25, 13, 45, 0, 0, time.UTC)
	utc = time.UTC
)

func at(d time.Duration) *time.Time { t := t0.Add(d); return &t }

func TestHeader(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		p    state.Profile
		want string
	}{
		{"ok", state.Profile{State: state.OK, ExpiresOn: at(47 * time.Minute)}, "token valid until 14:32 (in 47 min)"},
		{"ok long", state.Profile{State: state.OK, ExpiresOn: at(65 * time.Minute)}, "token valid until 14:50 (in 1 h 05 min)"},
		{"ok last seconds", state.Profile{State: state.OK, ExpiresOn: at(20 * time.Second)}, "token valid until 13:45 (in less than a minute)"},
		{"expired", state.Profile{State: state.OK, ExpiresOn: at(-time.Minute)}, "token expired at 13:44"},
		{"signed out", state.Profile{State: state.SignedOut}, "signed out"},
		{"sign-in required", state.Profile{State: state.SignInRequired, ExpiresOn: at(time.Hour)}, "sign-in required"},
		{"refreshing", state.Profile{State: state.Refreshing, ExpiresOn: at(10 * time.Minute)}, "refreshing… (token valid until 13:55)"},
		{"degraded", state.Profile{State: state.Degraded, ExpiresOn: at(9 * time.Minute)}, "refresh failing, token valid until 13:54 (in 9 min)"},
		{"degraded expired", state.Profile{State: state.Degraded, ExpiresOn: at(-time.Minute)}, "refresh failing, no valid token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := header(tc.p, t0, utc); got != tc.want {
				t.Errorf("header = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestWorstIcon(t *testing.T) {
	t.Parallel()
	p := func(s string, exp time.Duration) state.Profile {
		return state.Profile{State: s, ExpiresOn: at(exp)}
	}
	for _, tc := range []struct {
		name string
		ps   []state.Profile
		want string
	}{
		{"no profiles", nil, assets.SignedOut},
		{"all signed out", []state.Profile{p(state.SignedOut, 0), p(state.SignedOut, 0)}, assets.SignedOut},
		{"ok beats signed out", []state.Profile{p(state.SignedOut, 0), p(state.OK, time.Hour)}, assets.OK},
		{"expiring soon warns", []state.Profile{p(state.OK, 3*time.Minute)}, assets.Warning},
		{"refreshing", []state.Profile{p(state.OK, time.Hour), p(state.Refreshing, time.Hour)}, assets.Refreshing},
		{"degraded", []state.Profile{p(state.Refreshing, time.Hour), p(state.Degraded, time.Hour)}, assets.Warning},
		{"failing target warns", []state.Profile{{State: state.OK, ExpiresOn: at(time.Hour), Targets: []state.Target{{State: state.TargetError}}}}, assets.Warning},
		{"sign-in required is worst", []state.Profile{p(state.Degraded, time.Hour), p(state.SignInRequired, 0), p(state.OK, time.Hour)}, assets.SignInRequired},
	} {
		if got := worstIcon(tc.ps, t0); got != tc.want {
			t.Errorf("%s: icon %q, want %q", tc.name, got, tc.want)
		}
	}
}

// labels is the menu as text: one line per item, "-" for separators,
// "(x)" for disabled, "[x]"/"[ ]" for check items.
func labels(items []item) []string {
	var out []string
	for _, it := range items {
		switch {
		case it.Separator:
			out = append(out, "-")
		case it.Checkable && it.Checked:
			out = append(out, "[x] "+it.Label)
		case it.Checkable:
			out = append(out, "[ ] "+it.Label)
		case it.Disabled:
			out = append(out, "("+it.Label+")")
		default:
			out = append(out, it.Label)
		}
	}
	return out
}

func TestRenderOneProfile(t *testing.T) {
	t.Parallel()
	st := state.Status{Profiles: []state.Profile{{
		Name: "data", State: state.OK, Account: "alice@contoso.com", ExpiresOn: at(47 * time.Minute),
		LastError: "old error, not shown when ok",
		Targets: []state.Target{
			{Client: "claude-code", Server: "data", Path: "/x/.claude.json", State: state.TargetOK, Written: at(-time.Minute)},
			{Client: "copilot", Path: "/x/mcp-config.json", State: state.TargetPending},
		},
	}}}
	v := render(st, t0, utc, local{StartAtLogin: startAtLogin{Known: true, Installed: true}, ConfigPath: "/c", LogPath: "/l"})
	want := []string{
		"(alice@contoso.com — token valid until 14:32 (in 47 min))",
		"Sign out",
		"Refresh now",
		"Copy token",
		"Copy Authorization header",
		"(    ✓ claude-code (data) — /x/.claude.json, written 13:44)",
		"(    … copilot — pending)",
		"-",
		"Open config",
		"Open log",
		"[x] Start at login",
		"-",
		"Quit",
	}
	if diff := cmp.Diff(want, labels(v.Items)); diff != "" {
		t.Errorf("menu (-want +got):\n%s", diff)
	}
	if v.Icon != assets.OK {
		t.Errorf("icon %q, want ok", v.Icon)
	}
	if want := "MCP token broker\nalice@contoso.com — token valid until 14:32 (in 47 min)"; v.Tooltip != want {
		t.Errorf("tooltip %q, want %q", v.Tooltip, want)
	}
}

func TestRenderProblems(t *testing.T) {
	t.Parallel()
	st := state.Status{
		ConfigError: "config.toml:3:1: unknown key \"scops\"",
		Profiles: []state.Profile{
			{Name: "data", State: state.SignInRequired, Account: "alice@contoso.com", LastError: "AADSTS700082: expired"},
			{Name: "ops", State: state.SignedOut},
		},
	}
	v := render(st, t0, utc, local{ConfigPath: "/c", LogPath: "/l"})
	want := []string{
		"(⚠ Config error: config.toml:3:1: unknown key \"scops\")",
		"(data: alice@contoso.com — sign-in required)",
		"(    AADSTS700082: expired)",
		"Sign in…",
		"(Refresh now)",
		"(Copy token)",
		"(Copy Authorization header)",
		"-",
		"(ops — signed out)",
		"Sign in…",
		"(Refresh now)",
		"(Copy token)",
		"(Copy Authorization header)",
		"-",
		"Open config",
		"Open log",
		"-",
		"Quit",
	}
	if diff := cmp.Diff(want, labels(v.Items)); diff != "" {
		t.Errorf("menu (-want +got):\n%s", diff)
	}
	if v.Icon != assets.SignInRequired {
		t.Errorf("icon %q", v.Icon)
	}
	if !strings.Contains(v.Tooltip, "data: alice@contoso.com — sign-in required") {
		t.Errorf("tooltip %q", v.Tooltip)
	}
}

func TestRenderNoProfiles(t *testing.T) {
	t.Parallel()
	v := render(state.Status{}, t0, utc, local{ConfigPath: "/c"})
	want := []string{"(No profiles configured)", "-", "Open config", "(Open log)", "-", "Quit"}
	if diff := cmp.Diff(want, labels(v.Items)); diff != "" {
		t.Errorf("menu (-want +got):\n%s", diff)
	}
}

func BenchmarkRender(b *testing.B) {
	exp := t0.Add(47 * time.Minute)
	st := state.Status{Profiles: []state.Profile{{Name: "data", State: state.OK, Account: "alice@contoso.com", ExpiresOn: &exp,
		Targets: []state.Target{{Client: "claude-code", Path: "/x/.claude.json", State: state.TargetOK, Written: &exp}}}}}
	for b.Loop() {
		render(st, t0, utc, local{})
	}
}

// TestRenderProxy: the proxy's address and each proxied server's
// requests and last error are in the menu; a port it cannot take says so.
func TestRenderProxy(t *testing.T) {
	t.Parallel()
	st := state.Status{Profiles: []state.Profile{{Name: "data", State: state.OK}}, Proxy: &state.Proxy{
		Address: "127.0.0.1:17000",
		Targets: []state.ProxyTarget{
			{Profile: "data", Client: "copilot", Server: "api", Requests: 12},
			{Profile: "data", Client: "gemini", Server: "api", Requests: 3, LastError: "HTTP 502 from the server"},
		},
	}}
	got := labels(render(st, t0, utc, local{}).Items)
	for _, want := range []string{"(Proxy on 127.0.0.1:17000)", "(    copilot (api) — 12 requests)", "(    gemini (api) — 3 requests, last error: HTTP 502 from the server)"} {
		if !slices.Contains(got, want) {
			t.Errorf("menu has no %q:\n%q", want, got)
		}
	}
	st.Proxy = &state.Proxy{Error: "port 17000 on 127.0.0.1 is taken by another program"}
	if got := labels(render(st, t0, utc, local{}).Items); !slices.Contains(got, "(⚠ Proxy not listening: port 17000 on 127.0.0.1 is taken by another program)") {
		t.Errorf("menu with a taken port:\n%q", got)
	}
}

// A profile whose tokens come from a credential tool says so, and Sign in
// says it runs the tool.
func TestRenderCLISource(t *testing.T) {
	t.Parallel()
	st := state.Status{Profiles: []state.Profile{
		{Name: "api", State: state.SignInRequired, Source: "azurecli", LastError: "az needs you to sign in"},
		{Name: "web", State: state.SignedOut, Source: "browser"},
	}}
	v := render(st, t0, utc, local{})
	tips := map[string]string{}
	for _, it := range v.Items {
		if it.Profile != "" || strings.Contains(it.Tooltip, "profile ") {
			tips[it.Label+"/"+it.Profile] = it.Tooltip
		}
	}
	for key, want := range map[string]string{
		"api — sign-in required/": "profile api, tokens from the Azure CLI (az)",
		"Sign in…/api":            "Runs az login",
		"web — signed out/":       "profile web, tokens from a browser sign-in",
		"Sign in…/web":            "Opens the browser to sign in",
	} {
		if got := tips[key]; got != want {
			t.Errorf("%s: tooltip %q, want %q (all: %q)", key, got, want, tips)
		}
	}
}
