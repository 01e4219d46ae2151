package tray

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// action is what a menu item does when clicked.
type action int

const (
	actNone action = iota
	actSignIn
	actSignOut
	actRefresh
	actCopyToken
	actCopyHeader
	actOpenConfig
	actOpenLog
	actStartAtLogin
	actQuit
)

// item is one line of the menu, as drawn from the state. A separator has
// only Separator set.
type item struct {
	Label     string
	Tooltip   string
	Action    action
	Profile   string
	Disabled  bool
	Checkable bool
	Checked   bool
	Separator bool
}

// expiringSoon is how close to expiry a valid token turns the icon to
// warning: the refresher renews at least 5 minutes before expiry, so a token
// this close to its end means refreshing is late.
const expiringSoon = 4 * time.Minute

// view is everything the tray shows for one status: icon, tooltip, menu.
type view struct {
	Icon    string // an assets icon name
	Tooltip string
	Items   []item
}

// startAtLogin is the state of the "Start at login" check item: shown only
// when Known.
type startAtLogin struct {
	Known, Installed bool
}

// local is what the menu shows besides the daemon's status.
type local struct {
	StartAtLogin startAtLogin
	// ConfigPath and LogPath enable Open config and Open log.
	ConfigPath, LogPath string
}

// render draws the view of st at now, with times in loc.
func render(st state.Status, now time.Time, loc *time.Location, lc local) view {
	sal := lc.StartAtLogin
	var v view
	v.Icon = worstIcon(st.Profiles, now)

	var tips []string
	if st.ConfigError != "" {
		v.Items = append(v.Items, item{Label: "⚠ Config error: " + shorten(st.ConfigError, 70), Tooltip: st.ConfigError, Disabled: true})
		tips = append(tips, "config error")
	}
	if len(st.Profiles) == 0 {
		v.Items = append(v.Items, item{Label: "No profiles configured", Disabled: true})
		tips = append(tips, "no profiles configured")
	}
	many := len(st.Profiles) > 1
	for i, p := range st.Profiles {
		if i > 0 {
			v.Items = append(v.Items, item{Separator: true})
		}
		h := header(p, now, loc)
		name := p.Account
		if name == "" {
			name = p.Name
		}
		if many && p.Account != "" {
			name = p.Name + ": " + name
		}
		tip := "profile " + p.Name
		if p.Source != "" {
			tip += ", tokens from " + sourceWords(p.Source)
		}
		v.Items = append(v.Items, item{Label: name + " — " + h, Tooltip: tip, Disabled: true})
		tips = append(tips, name+" — "+h)
		if p.LastError != "" && p.State != state.OK {
			v.Items = append(v.Items, item{Label: "    " + shorten(p.LastError, 70), Tooltip: p.LastError, Disabled: true})
		}
		if p.SignInPrompt != "" {
			v.Items = append(v.Items, item{Label: "    " + shorten(p.SignInPrompt, 90), Tooltip: p.SignInPrompt, Disabled: true})
		}
		signedIn := p.State != state.SignedOut && p.State != state.SignInRequired
		if signedIn {
			v.Items = append(v.Items, item{Label: "Sign out", Action: actSignOut, Profile: p.Name})
		} else {
			v.Items = append(v.Items, item{Label: "Sign in…", Action: actSignIn, Profile: p.Name,
				Tooltip: signInTip(p.Source)})
		}
		v.Items = append(v.Items, item{Label: "Refresh now", Action: actRefresh, Profile: p.Name,
			Disabled: !signedIn || p.State == state.Refreshing})
		valid := signedIn && p.ExpiresOn != nil && p.ExpiresOn.After(now)
		v.Items = append(v.Items,
			item{Label: "Copy token", Action: actCopyToken, Profile: p.Name, Disabled: !valid,
				Tooltip: "Copies the access token to the clipboard"},
			item{Label: "Copy Authorization header", Action: actCopyHeader, Profile: p.Name, Disabled: !valid,
				Tooltip: "Copies “Authorization: Bearer …” to the clipboard"})
		for _, t := range p.Targets {
			v.Items = append(v.Items, item{Label: targetLine(t, loc), Tooltip: t.Path, Disabled: true})
		}
	}
	v.Items = append(v.Items, proxyItems(st.Proxy)...)
	v.Items = append(v.Items, item{Separator: true},
		item{Label: "Open config", Action: actOpenConfig, Disabled: lc.ConfigPath == "", Tooltip: lc.ConfigPath},
		item{Label: "Open log", Action: actOpenLog, Disabled: lc.LogPath == "", Tooltip: lc.LogPath})
	if sal.Known {
		v.Items = append(v.Items, item{Label: "Start at login", Action: actStartAtLogin, Checkable: true, Checked: sal.Installed})
	}
	v.Items = append(v.Items, item{Separator: true}, item{Label: "Quit", Action: actQuit,
		Tooltip: "Stops the broker: tokens are no longer refreshed"})
	v.Tooltip = "MCP token broker\n" + strings.Join(tips, "\n")
	return v
}

// header is the words after the account: what state the token is in.
func header(p state.Profile, now time.Time, loc *time.Location) string {
	switch p.State {
	case state.SignedOut:
		return "signed out"
	case state.SignInRequired:
		return "sign-in required"
	case state.Refreshing:
		if p.ExpiresOn != nil && p.ExpiresOn.After(now) {
			return "refreshing… (token valid until " + clock(*p.ExpiresOn, loc) + ")"
		}
		return "refreshing…"
	case state.Degraded:
		if p.ExpiresOn != nil && p.ExpiresOn.After(now) {
			return "refresh failing, token valid until " + validity(*p.ExpiresOn, now, loc)
		}
		return "refresh failing, no valid token"
	}
	if p.ExpiresOn == nil {
		return "token valid"
	}
	if !p.ExpiresOn.After(now) {
		return "token expired at " + clock(*p.ExpiresOn, loc)
	}
	return "token valid until " + validity(*p.ExpiresOn, now, loc)
}

// validity is "14:32 (in 47 min)".
func validity(exp, now time.Time, loc *time.Location) string {
	left := exp.Sub(now)
	var in string
	switch {
	case left < time.Minute:
		in = "in less than a minute"
	case left < time.Hour:
		in = fmt.Sprintf("in %d min", int(left/time.Minute))
	default:
		in = fmt.Sprintf("in %d h %02d min", int(left/time.Hour), int(left%time.Hour/time.Minute))
	}
	return clock(exp, loc) + " (" + in + ")"
}

// clock is the time of day in loc (tokens live about an hour).
func clock(t time.Time, loc *time.Location) string {
	t = t.In(loc)
	return t.Format("15:04")
}

// targetLine is one target's last result: "✓ claude-code ~/.claude.json".
func targetLine(t state.Target, loc *time.Location) string {
	name := t.Client
	if t.Server != "" {
		name += " (" + t.Server + ")"
	}
	switch t.State {
	case state.TargetOK:
		s := "    ✓ " + name + " — " + home(t.Path)
		if t.Written != nil {
			s += ", written " + clock(*t.Written, loc)
		}
		return s
	case state.TargetError:
		return "    ✗ " + name + " — " + shorten(t.Error, 60)
	}
	return "    … " + name + " — pending"
}

// proxyItems are the loopback proxy's lines: its address, then each
// proxied server with the requests it forwarded and its last upstream
// error.
func proxyItems(px *state.Proxy) []item {
	if px == nil {
		return nil
	}
	head := "Proxy on " + px.Address
	if px.Address == "" {
		head = "⚠ Proxy not listening: " + shorten(px.Error, 60)
	}
	items := []item{{Separator: true}, {Label: head, Tooltip: px.Error, Disabled: true}}
	for _, t := range px.Targets {
		line := fmt.Sprintf("    %s (%s) — %d requests", t.Client, t.Server, t.Requests)
		switch {
		case t.SignInRequired:
			line = "    ✗ " + strings.TrimPrefix(line, "    ") + ", sign-in required"
		case t.LastError != "":
			line += ", last error: " + shorten(t.LastError, 50)
		}
		items = append(items, item{Label: line, Tooltip: t.URL + " → " + t.Upstream, Disabled: true})
	}
	return items
}

// home writes the user's home folder as ~.
func home(p string) string {
	h, err := os.UserHomeDir()
	if err != nil || h == "" {
		return p
	}
	if rel, err := filepath.Rel(h, p); err == nil && !strings.HasPrefix(rel, "..") {
		return filepath.Join("~", rel)
	}
	return p
}

// shorten1 cuts s to at most n runes, keeping its lines.
func shorten1(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// shorten puts s on one line of at most n runes.
func shorten(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

// severity orders the icons: the tray shows the worst profile.
var severity = map[string]int{
	assets.OK:             1,
	assets.Refreshing:     2,
	assets.Warning:        3,
	assets.SignInRequired: 4,
}

// worstIcon is the icon for the worst profile. Signed-out profiles count only
// when every profile is signed out (signing out is a choice, not a problem).
// A target that failed to take its token is a warning.
func worstIcon(ps []state.Profile, now time.Time) string {
	icon := assets.SignedOut
	for _, p := range ps {
		var i string
		switch p.State {
		case state.SignedOut:
			continue
		case state.OK:
			i = assets.OK
			if p.ExpiresOn != nil && p.ExpiresOn.Sub(now) < expiringSoon {
				i = assets.Warning
			}
		case state.Refreshing:
			i = assets.Refreshing
		case state.Degraded:
			i = assets.Warning
		case state.SignInRequired:
			i = assets.SignInRequired
		default:
			i = assets.Warning
		}
		for _, t := range p.Targets {
			if t.State == state.TargetError && severity[assets.Warning] > severity[i] {
				i = assets.Warning // a client is not getting its token
			}
		}
		if severity[i] > severity[icon] {
			icon = i
		}
	}
	return icon
}

// sourceWords names where a profile's tokens come from (its login).
func sourceWords(login string) string {
	switch login {
	case "azurecli":
		return "the Azure CLI (az)"
	case "azd":
		return "the Azure Developer CLI (azd)"
	case "azureauth":
		return "AzureAuth"
	case "device-code":
		return "a device-code sign-in"
	}
	return "a browser sign-in"
}

// signInTip says what Sign in does for the profile's login.
func signInTip(login string) string {
	switch login {
	case "azurecli":
		return "Runs az login"
	case "azd":
		return "Runs azd auth login"
	case "azureauth":
		return "Runs azureauth, which uses the system's sign-in"
	case "device-code":
		return "Shows a code to enter on another device"
	}
	return "Opens the browser to sign in"
}
