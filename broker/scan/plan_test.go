package scan

import (
	"errors"
	"strings"
	"testing"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
	"github.com/mcp-token-broker/mcp-token-broker/integrations"
)

func entra(client, name, url, tenant, scope string, holds string) Server {
	return Server{Client: client, Scope: "user", Name: name, URL: url, Holds: holds,
		Protection: Protection{Entra: true, Authority: config.DefaultAuthority, Tenant: tenant, Scopes: []string{scope}, AppIDURI: strings.TrimSuffix(scope, "/.default")}}
}

func TestPropose(t *testing.T) {
	t.Parallel()
	env := integrations.Env{Home: "/home/u", GOOS: "linux", Getenv: func(string) string { return "" }, BrokerPath: "/usr/bin/broker"}
	const tenant = "11111111-2222-3333-4444-555555555555"
	r := Report{Servers: []Server{
		entra("claude", "data", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsPasted),
		entra("vscode", "data", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsNothing),
		entra("copilot", "hr", "https://contoso-apim.azure-api.net/hr/mcp", tenant, "api://0a1b2c3d-0000-1111-2222-333344445555/.default", HoldsEnvVar),
		entra("codex", "old", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsBroker),
		{Client: "gemini", Name: "acme", URL: "https://acme.example/mcp", Holds: HoldsPasted},
	}}
	r.Servers[0].Path = "/home/u/.claude.json"
	r.Servers[1].Path = "/home/u/.config/Code/User/mcp.json"
	r.Servers[2].Path = "/home/u/.copilot/mcp-config.json"

	t.Run("new profiles need a client ID", func(t *testing.T) {
		_, err := Propose(r, &config.Config{Profiles: map[string]*config.Profile{}}, "", env)
		var ce *ClientIDError
		if !errors.As(err, &ce) || len(ce.Tenants) != 1 || ce.Tenants[0] != tenant || !strings.Contains(ce.HintText(), "--client-id") {
			t.Fatalf("err %v", err)
		}
	})

	t.Run("one profile per API, named after it, never a taken name", func(t *testing.T) {
		cfg := &config.Config{Profiles: map[string]*config.Profile{
			// Same name, another API: the new profile must not take it.
			"data-platform": {Name: "data-platform", Tenant: "contoso.onmicrosoft.com", ClientID: "c-other", Scopes: []string{"api://other/.default"}},
		}}
		plan, err := Propose(r, cfg, "c-new", env)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, p := range plan.Profiles {
			if !p.New || p.Profile.ClientID != "c-new" || p.Profile.Tenant != tenant || p.Profile.Authority != "" {
				t.Errorf("profile %+v", p)
			}
			names = append(names, p.Profile.Name)
		}
		// Sorted by API: the GUID App ID URI first, named after the host.
		if strings.Join(names, " ") != "contoso-apim data-platform-2" {
			t.Errorf("profiles %q", names)
		}
		if len(plan.Targets) != 3 {
			t.Fatalf("targets %+v", plan.Targets)
		}
		for _, pt := range plan.Targets {
			want := map[string]string{"claude": "data-platform-2", "vscode": "data-platform-2", "copilot": "contoso-apim"}[pt.Target.Client]
			if pt.Target.Profile != want || pt.Target.Path != "" || pt.Target.Mode != "" || pt.Target.URL != pt.Entry.URL {
				t.Errorf("target %+v", pt.Target)
			}
			if pt.Replace != (pt.Target.Client == "claude") {
				t.Errorf("%s: replace %v", pt.Target.Client, pt.Replace)
			}
		}
	})

	t.Run("a matching profile is reused, its tenant's client ID taken", func(t *testing.T) {
		cfg := &config.Config{Profiles: map[string]*config.Profile{
			"data": {Name: "data", Tenant: strings.ToUpper(tenant), ClientID: "c-data", Scopes: []string{"api://data-platform/.default"},
				Authority: config.DefaultAuthority + "/"},
		}}
		plan, err := Propose(r, cfg, "", env)
		if err != nil {
			t.Fatal(err)
		}
		if len(plan.Profiles) != 2 || plan.Profiles[1].New || plan.Profiles[1].Profile.Name != "data" ||
			!plan.Profiles[0].New || plan.Profiles[0].Profile.ClientID != "c-data" {
			t.Errorf("profiles %+v", plan.Profiles)
		}
	})

	t.Run("a project entry keeps its file", func(t *testing.T) {
		p := r
		p.Servers = []Server{entra("claude", "data", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsNothing)}
		p.Servers[0].Scope, p.Servers[0].Path = "project", "/src/app/.mcp.json"
		plan, err := Propose(p, nil, "c", env)
		if err != nil || len(plan.Targets) != 1 || plan.Targets[0].Target.Path != "/src/app/.mcp.json" {
			t.Fatalf("%v %+v", err, plan.Targets)
		}
		p.Servers[0].Scope, p.Servers[0].Path, p.Servers[0].Project = "local", "/home/u/.claude.json", "/src/app"
		plan, _ = Propose(p, nil, "c", env)
		if tg := plan.Targets[0].Target; tg.Path != "" || tg.Project != "/src/app" {
			t.Errorf("local scope: %+v", tg)
		}
	})

	t.Run("one target per client and server name in a profile", func(t *testing.T) {
		p := r
		user := entra("vscode", "data", "https://apim.contoso.com/data/mcp", tenant, "api://data-platform/.default", HoldsNothing)
		user.Path = "/home/u/.config/Code/User/mcp.json"
		work := user
		work.Scope, work.Path = "project", "/src/app/.vscode/mcp.json"
		p.Servers = []Server{user, work}
		plan, err := Propose(p, nil, "c", env)
		if err != nil || len(plan.Targets) != 1 || plan.Targets[0].Target.Path != "" || len(plan.Skipped) != 1 ||
			plan.Skipped[0].Entry.Path != work.Path || !strings.Contains(plan.Skipped[0].Why, "--profile OTHER") {
			t.Fatalf("%v %+v %+v", err, plan.Targets, plan.Skipped)
		}
		// An existing target of that name in the reused profile, for
		// another file: never moved by the plan.
		cfg := &config.Config{Profiles: map[string]*config.Profile{"data": {Name: "data", Tenant: tenant, ClientID: "c", Scopes: []string{"api://data-platform/.default"},
			Targets: []config.Target{{Client: "vscode", Server: "data", Path: "/elsewhere/mcp.json"}}}}}
		p.Servers = []Server{user}
		if plan, _ := Propose(p, cfg, "", env); !plan.Empty() || len(plan.Skipped) != 1 || len(plan.Profiles) != 0 {
			t.Errorf("%+v", plan)
		}
	})

	t.Run("nothing left to wire", func(t *testing.T) {
		p := r
		p.Servers = []Server{r.Servers[3], r.Servers[4]}
		if plan, err := Propose(p, nil, "", env); err != nil || !plan.Empty() || len(plan.Profiles) != 0 {
			t.Errorf("%v %+v", err, plan)
		}
	})
}

func TestProfileName(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ scope, url, want string }{
		{"api://data-platform/.default", "", "data-platform"},
		{"https://contoso.com/data-api/access_as_user", "", "data-api"},
		{"https://api.contoso.com/.default", "", "api"},
		{"api://0a1b2c3d-0000-1111-2222-333344445555/.default", "https://contoso-apim.azure-api.net/x/mcp", "contoso-apim"},
		{"api://0a1b2c3d-0000-1111-2222-333344445555/.default", "https://127.0.0.1:8443/mcp", "api"},
		{"api://Data_Platform v2/.default", "", "data-platform-v2"},
		{"api://42/.default", "", "api-42"},
	} {
		if got := profileName(tc.scope, tc.url, map[string]bool{}); got != tc.want {
			t.Errorf("profileName(%q) = %q, want %q", tc.scope, got, tc.want)
		}
	}
	if got := profileName("api://data/.default", "", map[string]bool{"data": true, "data-2": true}); got != "data-3" {
		t.Errorf("taken names: %q", got)
	}
}

func TestRedact(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`"headers": {"Authorization": "Bearer eyJhbGciOi.eyJzdWIiOi.c2ln"}`:                      `"headers": {"Authorization": "Bearer ***"}`,
		`http_headers = { "Ocp-Apim-Subscription-Key" = "k-123", Authorization = "Bearer abc" }`: `http_headers = { "Ocp-Apim-Subscription-Key" = "***", Authorization = "Bearer ***" }`,
		`"Authorization": "Bearer ${DATA_TOKEN}"`:                                                `"Authorization": "Bearer ${DATA_TOKEN}"`,
		`bearer_token_env_var = "DATA_TOKEN"`:                                                    `bearer_token_env_var = "DATA_TOKEN"`,
		`"args": ["--header", "Authorization: Bearer eyJhbGciOi.eyJzdWIiOi.c2ln"]`:               `"args": ["--header", "Authorization: Bearer ***"]`,
		`"url": "https://x/mcp"`:                                                                 `"url": "https://x/mcp"`,
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%s)\n = %s\nwant %s", in, got, want)
		}
	}
}
