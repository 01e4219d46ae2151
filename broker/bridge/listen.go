package bridge

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"time"

	"github.com/modelcontextprotocol/go-sdk/jsonrpc"
)

// Reconnection of the server-to-client stream.
const (
	listenFirstDelay = time.Second
	listenMaxDelay   = 30 * time.Second
	listenMaxEvent   = 16 << 20
)

// listenLoop keeps the standalone server-to-client stream open (an HTTP GET
// on the endpoint, answered with server-sent events) for as long as the
// session lives, and copies its messages to stdout. The SDK's client
// connection opens this stream only for its own client session, which a
// message-level proxy does not have, hence this small reader. A server
// that offers no stream (405, or any other 4xx, or no event stream) is
// left alone.
func (s *session) listenLoop(ctx context.Context) {
	delay := listenFirstDelay
	var lastID string
	for ctx.Err() == nil {
		progressed, retryAfter, keep := s.listenOnce(ctx, &lastID)
		if !keep || ctx.Err() != nil {
			return
		}
		if progressed {
			delay = listenFirstDelay
		}
		wait := delay
		if retryAfter > 0 {
			wait = retryAfter
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		delay = min(delay*2, listenMaxDelay)
	}
}

// listenOnce opens the stream once and reads it until it ends. It reports
// whether a message came, the server's retry delay, and whether to open
// the stream again.
func (s *session) listenOnce(ctx context.Context, lastID *string) (progressed bool, retry time.Duration, keep bool) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.b.url, nil)
	if err != nil {
		return false, 0, false
	}
	req.Header.Set("Accept", "text/event-stream")
	conn, _ := s.conn()
	if id := conn.SessionID(); id != "" {
		req.Header.Set(headerSessionID, id)
	}
	if *lastID != "" {
		req.Header.Set("Last-Event-ID", *lastID)
	}
	resp, err := s.b.client.Do(req)
	if err != nil {
		if ctx.Err() == nil {
			s.b.log.Warn("bridge could not open the server's event stream", "error", s.b.rpcError(err).Message)
		}
		return false, 0, true
	}
	defer resp.Body.Close()
	ct, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	switch {
	case resp.StatusCode == http.StatusMethodNotAllowed:
		s.b.log.Debug("the MCP server offers no event stream")
		return false, 0, false
	case resp.StatusCode >= 400 && resp.StatusCode < 500, resp.StatusCode < 300 && ct != "text/event-stream":
		s.b.log.Info("the MCP server offers no usable event stream", "status", resp.StatusCode, "content_type", ct)
		return false, 0, false
	case resp.StatusCode >= 300:
		return false, 0, true
	}
	s.b.log.Debug("bridge opened the server's event stream")
	err = readEvents(resp.Body, func(ev event) {
		if ev.id != "" {
			*lastID = ev.id
		}
		if ev.retry > 0 {
			retry = ev.retry
		}
		if len(ev.data) == 0 || (ev.name != "" && ev.name != "message") {
			return
		}
		msg, err := jsonrpc.DecodeMessage(ev.data)
		if err != nil {
			s.b.log.Warn("bridge dropped a malformed event from the server", "error", err)
			return
		}
		progressed = true
		s.reply(ctx, msg)
	})
	if err != nil && ctx.Err() == nil {
		s.b.log.Info("the server's event stream ended", "error", err)
	}
	return progressed, retry, true
}

// event is one server-sent event.
type event struct {
	name  string
	id    string
	data  []byte
	retry time.Duration
}

// readEvents parses a text/event-stream (WHATWG HTML §9.2) and calls fn for
// every event, until the stream ends (nil) or fails.
func readEvents(r io.Reader, fn func(event)) error {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), listenMaxEvent)
	var ev event
	var data bytes.Buffer
	dispatch := func() {
		if data.Len() > 0 || ev.id != "" || ev.retry > 0 {
			ev.data = bytes.Clone(bytes.TrimSuffix(data.Bytes(), []byte("\n")))
			fn(ev)
		}
		ev = event{}
		data.Reset()
	}
	for sc.Scan() {
		line := sc.Bytes()
		if len(line) == 0 {
			dispatch()
			continue
		}
		if line[0] == ':' {
			continue // comment (keep-alive)
		}
		field, value, _ := bytes.Cut(line, []byte(":"))
		value = bytes.TrimPrefix(value, []byte(" "))
		switch string(field) {
		case "event":
			ev.name = string(value)
		case "data":
			data.Write(value)
			data.WriteByte('\n')
		case "id":
			ev.id = string(value)
		case "retry":
			if n, err := strconv.Atoi(string(value)); err == nil && n >= 0 {
				ev.retry = time.Duration(n) * time.Millisecond
			}
		}
	}
	if err := sc.Err(); err != nil && !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}
