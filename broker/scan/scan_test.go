package scan

import (
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

func TestHolds(t *testing.T) {
	t.Parallel()
	now := time.Unix(1_800_000_000, 0)
	for _, tc := range []struct {
		name string
		e    integrations.Entry
		want string
	}{
		{"the broker's helper", integrations.Entry{Helper: "/usr/bin/broker headers --profile data"}, HoldsBroker},
		{"the broker's bridge", integrations.Entry{Command: "/usr/bin/broker"}, HoldsBroker},
		{"the broker's proxy", integrations.Entry{URL: "http://127.0.0.1:17000/data/copilot/api", Authorization: "Bearer local-credential"}, HoldsBroker},
		{"another helper", integrations.Entry{Helper: "get-token.sh"}, HoldsHelper},
		{"an env var", integrations.Entry{Authorization: "Bearer ${DATA_TOKEN}"}, HoldsEnvVar},
		{"opencode's env var", integrations.Entry{Authorization: "Bearer {env:DATA_TOKEN}"}, HoldsEnvVar},
		{"crush's broker command", integrations.Entry{Helper: "/usr/bin/broker token --profile data"}, HoldsBroker},
		{"codex's env var", integrations.Entry{TokenEnvVar: "DATA_TOKEN"}, HoldsEnvVar},
		{"nothing", integrations.Entry{}, HoldsNothing},
		{"not a JWT", integrations.Entry{Authorization: "Basic dTpw"}, HoldsOtherHeader},
	} {
		if got, _, _ := holds(tc.e, now); got != tc.want {
			t.Errorf("%s: holds %q, want %q", tc.name, got, tc.want)
		}
	}
	if !brokerProxy("http://127.0.0.1:17000/data/copilot/api") || brokerProxy("http://127.0.0.1:8080/mcp") || brokerProxy("https://apim.contoso.com/a/b/c") {
		t.Error("brokerProxy misreads a URL")
	}
}
