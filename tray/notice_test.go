package tray

import (
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
