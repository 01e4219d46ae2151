package hotpath

import (
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/localapi"
)

// The hot path itself, against the real daemon, is tested end to end in
// cmd/broker (TestHotPath).

func TestParse(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		args []string
		want query
		ok   bool
	}{
		{[]string{"headers"}, query{"headers", "", DefaultMinValidity}, true},
		{[]string{"headers", "--profile", "work"}, query{"headers", "work", DefaultMinValidity}, true},
		{[]string{"headers", "-p", "work"}, query{"headers", "work", DefaultMinValidity}, true},
		{[]string{"headers", "--profile=work"}, query{"headers", "work", DefaultMinValidity}, true},
		{[]string{"headers", "--profile=a", "--profile", "b"}, query{"headers", "b", DefaultMinValidity}, true},
		{[]string{"token"}, query{"raw", "", DefaultMinValidity}, true},
		{[]string{"token", "-f", "header", "--min-validity", "1h"}, query{"header", "", time.Hour}, true},
		{[]string{"token", "--format=env", "--min-validity=0s", "-p", "x"}, query{"env", "x", 0}, true},
		{[]string{"token", "--format", "raw"}, query{"raw", "", DefaultMinValidity}, true},

		{nil, query{}, false},
		{[]string{"version"}, query{}, false},
		{[]string{"headers", "--min-validity", "1m"}, query{}, false}, // not a flag of headers
		{[]string{"headers", "--format", "raw"}, query{}, false},
		{[]string{"headers", "--config", "x.toml"}, query{}, false}, // answered without the daemon
		{[]string{"headers", "--profile"}, query{}, false},
		{[]string{"headers", "--profile", "--help"}, query{}, false},
		{[]string{"headers", "-h"}, query{}, false},
		{[]string{"headers", "extra"}, query{}, false},
		{[]string{"headers", "-pwork"}, query{}, false},
		{[]string{"headers", "-p=work"}, query{}, false},
		{[]string{"token", "--format", "json"}, query{}, false}, // needs the expiry and tenant
		{[]string{"token", "--format", "yaml"}, query{}, false}, // the command line explains
		{[]string{"token", "--min-validity", "-1m"}, query{}, false},
		{[]string{"token", "--min-validity", "soon"}, query{}, false},
		{[]string{"token", "--", "x"}, query{}, false},
	} {
		got, ok := parse(tc.args)
		if ok != tc.ok || got != tc.want {
			t.Errorf("parse(%q) = %+v, %v; want %+v, %v", tc.args, got, ok, tc.want, tc.ok)
		}
	}
}

func TestDefaultMinValidityIsTheDaemons(t *testing.T) {
	t.Parallel()
	if DefaultMinValidity != localapi.DefaultMinValidity {
		t.Errorf("DefaultMinValidity = %v, the local API's %v", DefaultMinValidity, localapi.DefaultMinValidity)
	}
}

func TestQueryStringIsNetURLs(t *testing.T) {
	t.Parallel()
	for _, profile := range []string{"", "work", "a b&c=d/é%", "Ünïcode-_.~"} {
		q := url.Values{"min_validity": {(90 * time.Second).String()}}
		if profile != "" {
			q.Set("profile", profile)
		}
		server, serverURL := "", ""
		if profile != "" {
			server, serverURL = "data "+profile, "https://apim.contoso.com/mcp?x=1&y="+profile
			q.Set("server", server)
			q.Set("server_url", serverURL)
		}
		got, err := url.ParseQuery(queryString(profile, 90*time.Second, server, serverURL))
		if err != nil || got.Encode() != q.Encode() {
			t.Errorf("queryString(%q) decodes to %v (%v), want %v", profile, got, err, q)
		}
	}
}

const jwt = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJhIn0.c2ln-_"

func TestHeadersAnswer(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`{"Authorization":"Bearer ` + jwt + `"}` + "\n", true},
		{`{"Authorization":"Bearer a.b."}` + "\n", true}, // an unsigned JWT
		{`{"Authorization":"Bearer ` + jwt + `"}`, false},
		{`{"Authorization": "Bearer ` + jwt + `"}` + "\n", false},
		{`{"Authorization":"Bearer ` + jwt + `","X":"y"}` + "\n", false},
		{`{"Authorization":"Bearer a..c"}` + "\n", false},
		{`{"Authorization":"Bearer .b.c"}` + "\n", false},
		{`{"Authorization":"Bearer a.b"}` + "\n", false},
		{`{"Authorization":"Bearer a.b.c.d"}` + "\n", false},
		{`{"Authorization":"Bearer a.b.c\u003c"}` + "\n", false},
		{`{"Authorization":"Bearer a.b.c'"}` + "\n", false},
		{`{"Authorization":"Bearer a.b.c\n"}` + "\n", false},
		{`{"Authorization":"Bearer a.b.c"}"}` + "\n", false},
		{`{"Authorization":"Bearer "}` + "\n", false},
		{`{"error":"sign-in required"}` + "\n", false},
		{"", false},
	} {
		tok, ok := headersAnswer([]byte(tc.body))
		if ok != tc.ok || ok && !strings.Contains(tc.body, `"Bearer `+tok+`"`) {
			t.Errorf("headersAnswer(%q) = %q, %v; want ok %v", tc.body, tok, ok, tc.ok)
		}
	}
	if _, ok := headersAnswer([]byte(`{"Authorization":"Bearer a.` + strings.Repeat("b", 64<<10) + `.c"}` + "\n")); ok {
		t.Error("a token over 64 KiB was taken")
	}
}

func TestRender(t *testing.T) {
	t.Parallel()
	for format, want := range map[string]string{
		"headers": `{"Authorization":"Bearer ` + jwt + `"}` + "\n",
		"raw":     jwt + "\n",
		"header":  "Authorization: Bearer " + jwt + "\n",
		"env":     "export MCP_TOKEN='" + jwt + "'\n",
	} {
		if got := (query{format: format}).render(jwt); got != want {
			t.Errorf("render %s = %q, want %q", format, got, want)
		}
	}
}

func TestResponse(t *testing.T) {
	t.Parallel()
	body := `{"Authorization":"Bearer ` + jwt + `"}` + "\n"
	n := len(body)
	for _, tc := range []struct {
		what, ans string
		ok        bool
	}{
		{"net/http's answer", "HTTP/1.1 200 OK\r\nCache-Control: no-store\r\nContent-Type: application/json\r\nDate: Fri, 04 Dec 2026 19:00:00 GMT\r\nContent-Length: " + strconv.Itoa(n) + "\r\nConnection: close\r\n\r\n" + body, true},
		{"header names in any case", "HTTP/1.1 200 OK\r\ncontent-length:" + strconv.Itoa(n) + "\r\n\r\n" + body, true},
		{"an error answer", "HTTP/1.1 401 Unauthorized\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n" + body, false},
		{"HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n" + body, false},
		{"cut short", "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(n+1) + "\r\n\r\n" + body, false},
		{"more than said", "HTTP/1.1 200 OK\r\nContent-Length: " + strconv.Itoa(n-1) + "\r\n\r\n" + body, false},
		{"no length", "HTTP/1.1 200 OK\r\n\r\n" + body, false},
		{"a bad length", "HTTP/1.1 200 OK\r\nContent-Length: x\r\n\r\n" + body, false},
		{"chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: " + strconv.Itoa(n) + "\r\n\r\n" + body, false},
		{"no end of headers", "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n", false},
	} {
		got, ok := response([]byte(tc.ans))
		if ok != tc.ok || ok && string(got) != body {
			t.Errorf("%s: response = %q, %v; want ok %v", tc.what, got, ok, tc.ok)
		}
	}
}
