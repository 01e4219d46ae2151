package tray

import (
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/state"
)

func TestNoticePolicy(t *testing.T) {
	t.Parallel()
	st := func(s string) state.Status {
		return state.Status{Profiles: []state.Profile{{Name: "data", Account: "alice@contoso.com", State: s,
			ExpiresOn: at(30 * time.Minute), LastError: "boom"}}}
	}
	var np noticePolicy
	steps := []struct {
		at    time.Duration
		state string
		want  string // summary of the one notice expected, "" for none
	}{
		{0, state.OK, ""},
		{time.Minute, state.Degraded, ""},
		{2 * time.Minute, state.Refreshing, ""}, // a retry: still the same failing episode
		{3 * time.Minute, state.Degraded, ""},
		{4 * time.Minute, state.Degraded, "Token refresh failing"}, // 3 min after it started
		{5 * time.Minute, state.Degraded, ""},                      // told once
		{6 * time.Minute, state.OK, "Recovered"},
		{7 * time.Minute, state.OK, ""},
		{8 * time.Minute, state.Degraded, ""},
		{9 * time.Minute, state.OK, ""}, // a short blip: never told, no recovery either
		{10 * time.Minute, state.SignInRequired, "Sign-in required"},
		{11 * time.Minute, state.SignInRequired, ""},
		{12 * time.Minute, state.Refreshing, ""},
		{13 * time.Minute, state.OK, "Recovered"},
		{14 * time.Minute, state.SignedOut, ""},
		{15 * time.Minute, state.OK, ""},
	}
	for _, s := range steps {
		got := np.observe(st(s.state), t0.Add(s.at), utc)
		switch {
		case s.want == "" && len(got) != 0:
			t.Errorf("at %v (%s): got %+v, want no notification", s.at, s.state, got)
		case s.want != "" && (len(got) != 1 || got[0].Summary != s.want):
			t.Errorf("at %v (%s): got %+v, want %q", s.at, s.state, got, s.want)
		case s.want == "Sign-in required" && !got[0].SignIn:
			t.Errorf("the sign-in notice has no Sign in action")
		}
	}
}

func TestNoticeAtStartup(t *testing.T) {
	t.Parallel()
	var np noticePolicy
	got := np.observe(state.Status{Profiles: []state.Profile{{Name: "data", State: state.SignInRequired}}}, t0, utc)
	if len(got) != 1 || got[0].Body == "" || got[0].Profile != "data" {
		t.Errorf("a profile that needs sign-in at startup: got %+v, want one notice", got)
	}
}

// A device-code sign-in started from the menu: its code reaches the user
// in a notification (once) and in the menu.
func TestDeviceCodePrompt(t *testing.T) {
	t.Parallel()
	var np noticePolicy
	msg := "To sign in, open https://microsoft.com/devicelogin and enter the code ABCD-1234."
	st := func(prompt string) state.Status {
		return state.Status{Profiles: []state.Profile{{Name: "data", State: state.SignedOut, SignInPrompt: prompt}}}
	}
	if got := np.observe(st(""), t0, utc); len(got) != 0 {
		t.Fatalf("no sign-in yet: %+v", got)
	}
	got := np.observe(st(msg), t0.Add(time.Second), utc)
	if len(got) != 1 || got[0].Body != msg || got[0].Profile != "data" {
		t.Fatalf("the device code: got %+v", got)
	}
	if got := np.observe(st(msg), t0.Add(2*time.Second), utc); len(got) != 0 {
		t.Errorf("told twice: %+v", got)
	}
	v := render(st(msg), t0, utc, local{})
	found := false
	for _, it := range v.Items {
		if it.Disabled && strings.Contains(it.Label, "ABCD-1234") {
			found = true
		}
	}
	if !found {
		t.Errorf("the menu does not show the code: %+v", v.Items)
	}
}

// TestProxySignInNotice: a client refused by the proxy for want of a
// sign-in is told once, with a Sign in action; not again while it lasts,
// again after it was over; never when the profile's lapsed sign-in had
// its own notice.
func TestProxySignInNotice(t *testing.T) {
	t.Parallel()
	st := func(profileState string, waiting bool) state.Status {
		return state.Status{
			Profiles: []state.Profile{{Name: "data", State: profileState}},
			Proxy: &state.Proxy{Address: "127.0.0.1:17000", Targets: []state.ProxyTarget{
				{Profile: "data", Client: "copilot", Server: "api", SignInRequired: waiting}}},
		}
	}
	var np noticePolicy
	for i, s := range []struct {
		profile string
		waiting bool
		want    int
	}{
		{state.SignedOut, false, 0},
		{state.SignedOut, true, 1},
		{state.SignedOut, true, 0},
		{state.OK, false, 0},
		{state.SignedOut, true, 1},
	} {
		got := np.observe(st(s.profile, s.waiting), t0, utc)
		if len(got) != s.want {
			t.Fatalf("step %d: %+v, want %d notices", i, got, s.want)
		}
		if s.want == 1 && (!got[0].SignIn || !strings.Contains(got[0].Summary, "api")) {
			t.Errorf("step %d: %+v", i, got[0])
		}
	}
	var lapsed noticePolicy
	lapsed.observe(st(state.SignInRequired, false), t0, utc)
	if got := lapsed.observe(st(state.SignInRequired, true), t0, utc); len(got) != 0 {
		t.Errorf("a second notice for a lapsed sign-in: %+v", got)
	}
}

// TestChallengeNotice: a server's challenge that makes the profile sign-in
// required is told once, naming the server and the reason, with a Sign in
// action; polls of the same state tell nothing; another server's
// challenge is told again, and so is a challenge after a plain sign-in
// lapse; the recovery once.
func TestChallengeNotice(t *testing.T) {
	t.Parallel()
	st := func(s, by, why string) state.Status {
		return state.Status{Profiles: []state.Profile{{Name: "data", Account: "alice@contoso.com", State: s,
			ChallengedBy: by, LastError: why}}}
	}
	claims := "your organisation asks you to sign in again for demo (Conditional Access)"
	scope := "wiki needs scope api://mcp-demo-api/Tools.Write"
	var np noticePolicy
	for i, s := range []struct {
		st           state.Status
		summary, has string // the one notice expected ("" for none), a part of its body
	}{
		{st(state.OK, "", ""), "", ""},
		{st(state.SignInRequired, "demo", claims), "Sign in again for demo", claims},
		{st(state.SignInRequired, "demo", claims), "", ""},
		{st(state.SignInRequired, "demo", "the app needs your consent"), "", ""}, // a poll with other words: same episode
		{st(state.SignInRequired, "wiki", scope), "Sign in again for wiki", scope},
		{st(state.SignInRequired, "wiki", scope), "", ""},
		{st(state.OK, "", ""), "Recovered", ""},
		{st(state.SignInRequired, "", "AADSTS700082: the refresh token has expired"), "Sign-in required", "AADSTS700082"},
		{st(state.SignInRequired, "demo", claims), "Sign in again for demo", claims},
		{st(state.SignInRequired, "demo", claims), "", ""},
	} {
		got := np.observe(s.st, t0.Add(time.Duration(i)*time.Minute), utc)
		switch {
		case s.summary == "" && len(got) != 0:
			t.Errorf("step %d: %+v, want no notice", i, got)
		case s.summary != "" && (len(got) != 1 || got[0].Summary != s.summary || !strings.Contains(got[0].Body, s.has)):
			t.Errorf("step %d: %+v, want %q saying %q", i, got, s.summary, s.has)
		case s.summary != "" && s.summary != "Recovered" && !got[0].SignIn:
			t.Errorf("step %d: no Sign in action: %+v", i, got[0])
		}
	}
}
