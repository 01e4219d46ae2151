package entrasim

import (
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
)

var (
	formRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?is)<form\b([^>]*)>(.*?)</form>`) })
	inputRe = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?is)<input\b([^>]*)>`) })
	attrRe  = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?is)([a-z_:-]+)\s*=\s*(?:"([^"]*)"|'([^']*)')`) })
	tagRe   = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?s)<script.*?</script>|<[^>]*>`) })
)

// Browse does what a browser does with an authorization URL: it opens it,
// and while the page holds a form (the simulator's or Entra's
// auto-submitting form_post page) it submits the form's fields to its
// action, so the code and state reach the loopback redirect URI by POST,
// the only way MSAL's listener accepts them. It blocks until the last page
// is read and returns an error for a page with a 4xx/5xx status (with the
// page's text, such as an AADSTS message). client must trust the
// simulator's CA (Server.HTTPClient).
func Browse(ctx context.Context, client *http.Client, authorizeURL string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, authorizeURL, nil)
	if err != nil {
		return fmt.Errorf("browse: %w", err)
	}
	for step := 0; ; step++ {
		if step == 5 {
			return fmt.Errorf("browse: too many forms, giving up at %s", req.URL.Redacted())
		}
		req.Header.Set("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) entrasim-browse/1.0")
		req.Header.Set("Accept", "text/html,application/xhtml+xml;q=0.9,*/*;q=0.8")
		resp, err := client.Do(req)
		if err != nil {
			return fmt.Errorf("browse: %w", err)
		}
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		_ = resp.Body.Close()
		if err != nil {
			return fmt.Errorf("browse: reading %s: %w", resp.Request.URL.Redacted(), err)
		}
		if resp.StatusCode >= 400 {
			return fmt.Errorf("browse: %s answered %d: %s", hostPath(resp.Request.URL), resp.StatusCode, pageText(body))
		}
		next, ok, err := submitForm(ctx, resp.Request.URL, string(body))
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		req = next
	}
}

// submitForm builds the request that submitting the page's first form
// sends. ok is false when the page has no form.
func submitForm(ctx context.Context, page *url.URL, body string) (*http.Request, bool, error) {
	m := formRe().FindStringSubmatch(body)
	if m == nil {
		return nil, false, nil
	}
	attrs := attributes(m[1])
	action, err := page.Parse(attrs["action"])
	if err != nil {
		return nil, false, fmt.Errorf("browse: form action %q: %w", attrs["action"], err)
	}
	values := url.Values{}
	for _, in := range inputRe().FindAllStringSubmatch(m[2], -1) {
		a := attributes(in[1])
		if a["name"] == "" || strings.EqualFold(a["type"], "submit") {
			continue
		}
		values.Add(a["name"], a["value"])
	}
	var req *http.Request
	if strings.EqualFold(attrs["method"], "post") {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, action.String(), strings.NewReader(values.Encode()))
		if err == nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			req.Header.Set("Origin", page.Scheme+"://"+page.Host)
		}
	} else {
		action.RawQuery = values.Encode()
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, action.String(), nil)
	}
	if err != nil {
		return nil, false, fmt.Errorf("browse: %w", err)
	}
	req.Header.Set("Referer", page.Scheme+"://"+page.Host+"/")
	return req, true, nil
}

func attributes(s string) map[string]string {
	out := map[string]string{}
	for _, m := range attrRe().FindAllStringSubmatch(s, -1) {
		v := m[2]
		if v == "" {
			v = m[3]
		}
		out[strings.ToLower(m[1])] = html.UnescapeString(v)
	}
	return out
}

// pageText is the visible text of an HTML page, shortened.
func pageText(body []byte) string {
	t := html.UnescapeString(tagRe().ReplaceAllString(string(body), " "))
	t = strings.Join(strings.Fields(t), " ")
	if len(t) > 400 {
		t = t[:400] + "…"
	}
	return t
}

// hostPath prints a URL without its query (which may hold a code).
func hostPath(u *url.URL) string { return u.Scheme + "://" + u.Host + u.Path }
