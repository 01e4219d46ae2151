package tray

import (
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/assets"
	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

// notice is one desktop notification.
type notice struct {
	Profile string
	Summary string
	Body    string
	// SignIn adds a "Sign in" action that signs the profile in.
	SignIn bool
	// Icon is the assets icon shown with it ("" for none).
	Icon string
}

// failingAfter is how long a profile must stay degraded before the user is
// told: a short network blip recovers by itself and is not worth a bubble.
const failingAfter = 3 * time.Minute

// noticePolicy decides which state changes deserve a notification: one per
// change, never repeated. It is owned by the tray's event loop.
type noticePolicy struct {
	profiles map[string]*profileNotes
	// proxySignIn holds the profiles whose proxied requests wait for a
	// sign-in and that the user was told about.
	proxySignIn map[string]bool
}

type profileNotes struct {
	degradedSince time.Time
	// problem is the problem the user was told about ("" for none), so
	// that a recovery is announced only after a problem was.
	problem string
	// prompt is the device-code prompt the user was shown.
	prompt string
}

// observe returns the notifications that st deserves at now.
func (np *noticePolicy) observe(st state.Status, now time.Time, loc *time.Location) []notice {
	if np.profiles == nil {
		np.profiles = map[string]*profileNotes{}
	}
	var out []notice
	seen := map[string]bool{}
	for _, p := range st.Profiles {
		seen[p.Name] = true
		pn := np.profiles[p.Name]
		if pn == nil {
			pn = &profileNotes{}
			np.profiles[p.Name] = pn
		}
		who := p.Account
		if who == "" {
			who = "profile " + p.Name
		}
		// A device-code sign-in in flight: the code must reach the user,
		// who started it from the menu and sees no terminal.
		if p.SignInPrompt != "" && p.SignInPrompt != pn.prompt {
			out = append(out, notice{Profile: p.Name, Summary: "Sign in to " + p.Name, Body: p.SignInPrompt, Icon: assets.SignedOut})
		}
		pn.prompt = p.SignInPrompt
		// A failing episode starts at the first degraded state and lasts
		// through retries (refreshing) until the profile is ok again.
		switch p.State {
		case state.Degraded:
			if pn.degradedSince.IsZero() {
				pn.degradedSince = now
			}
		case state.Refreshing:
		default:
			pn.degradedSince = time.Time{}
		}
		switch p.State {
		case state.SignInRequired:
			// Once per episode, and once more when a server's challenge
			// (Conditional Access, a scope without consent) is the new
			// reason: the user learns which server asks, and why.
			problem := state.SignInRequired + "|" + p.ChallengedBy
			if pn.problem != problem {
				pn.problem = problem
				out = append(out, signInNotice(p, who))
			}
		case state.Degraded:
			if pn.problem == "" && now.Sub(pn.degradedSince) >= failingAfter {
				pn.problem = state.Degraded
				body := "Refreshing the token for " + who + " has failed for " +
					now.Sub(pn.degradedSince).Round(time.Minute).String() + "."
				if p.ExpiresOn != nil && p.ExpiresOn.After(now) {
					body += " The current token is valid until " + clock(*p.ExpiresOn, loc) + "."
				}
				if p.LastError != "" {
					body += "\n" + shorten(p.LastError, 120)
				}
				out = append(out, notice{Profile: p.Name, Summary: "Token refresh failing", Body: body, Icon: assets.Warning})
			}
		case state.OK:
			if pn.problem != "" {
				pn.problem = ""
				body := "The token for " + who + " is fresh again"
				if p.ExpiresOn != nil {
					body += ", valid until " + clock(*p.ExpiresOn, loc)
				}
				out = append(out, notice{Profile: p.Name, Summary: "Recovered", Body: body + ".", Icon: assets.OK})
			}
		case state.SignedOut:
			pn.problem = "" // the user's choice: nothing to announce
		}
	}
	for name := range np.profiles {
		if !seen[name] {
			delete(np.profiles, name)
		}
	}
	return append(out, np.observeProxy(st)...)
}

// signInNotice is the notification of a profile that needs a sign-in:
// after a server's challenge it names the server and what it asked for.
func signInNotice(p state.Profile, who string) notice {
	n := notice{Profile: p.Name, Summary: "Sign-in required", SignIn: true, Icon: assets.SignInRequired}
	if p.ChallengedBy != "" {
		n.Summary = "Sign in again for " + p.ChallengedBy
		n.Body = shorten(p.LastError, 160) + "\nSign in to " + p.Name + " to go on; the sign-in asks for it."
		return n
	}
	n.Body = who + " must sign in again; tokens are no longer refreshed."
	if p.LastError != "" {
		n.Body += "\n" + shorten(p.LastError, 120)
	}
	return n
}

// observeProxy tells the user once when a client's request through the
// proxy was refused for want of a sign-in while the profile is signed out
// (a profile whose sign-in lapsed already had its own notification).
func (np *noticePolicy) observeProxy(st state.Status) []notice {
	if st.Proxy == nil {
		np.proxySignIn = nil
		return nil
	}
	states := map[string]string{}
	for _, p := range st.Profiles {
		states[p.Name] = p.State
	}
	wanted := map[string]bool{}
	var out []notice
	for _, t := range st.Proxy.Targets {
		if !t.SignInRequired {
			continue
		}
		wanted[t.Profile] = true
		if np.proxySignIn[t.Profile] || states[t.Profile] == state.SignInRequired {
			continue
		}
		out = append(out, notice{Profile: t.Profile, Summary: "Sign in to use " + t.Server,
			Body:   t.Client + " asked for " + t.Server + " through the broker, which is signed out of " + t.Profile + ".",
			SignIn: true, Icon: assets.SignedOut})
		wanted[t.Profile] = true
	}
	np.proxySignIn = wanted
	return out
}
