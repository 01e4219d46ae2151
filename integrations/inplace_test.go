package integrations

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

// Another program rewrites ~/.claude.json in place: truncate, a pause,
// then its whole content. The broker must never take the empty file of
// that moment for a new one: its file put in place would be all that is
// left once the other program's write lands in the replaced one.
func TestInPlaceWriterKeepsItsFile(t *testing.T) {
	t.Parallel()
	own := &memOwner{}
	env := testEnv(t, nil)
	tg, err := New(config.Target{Client: "claude", Server: "api", Mode: "header", URL: "https://mcp.example/mcp"}, env)
	if err != nil {
		t.Fatal(err)
	}
	p := tg.Path()
	theirs := `{"projects":{"/src/app":{"history":["` + strings.Repeat("h", 4096) + `"]}}}`
	os.WriteFile(p, []byte(theirs), 0o600)
	stop, done := make(chan struct{}), make(chan struct{})
	var lost error
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			default:
			}
			f, err := os.OpenFile(p, os.O_WRONLY|os.O_TRUNC, 0)
			if err != nil {
				continue
			}
			time.Sleep(5 * time.Millisecond) // the other program's pause
			f.WriteString(theirs)
			f.Close()
			if b, _ := os.ReadFile(p); !strings.Contains(string(b), `"/src/app"`) && lost == nil {
				lost = errors.New("the file lost the other program's content: " + string(b[:min(len(b), 80)]))
			}
		}
	}()
	empties := 0
	for i := 0; i < 100; i++ {
		_, err := tg.Apply(context.Background(), testToken, own)
		var fe *FileError
		switch {
		case errors.As(err, &fe) && fe.Line == 1 && fe.Col == 1 && strings.Contains(fe.Msg, "empty"):
			empties++
		case err != nil:
			t.Fatal(err)
		}
	}
	close(stop)
	<-done
	if lost != nil {
		t.Fatal(lost)
	}
	t.Logf("%d of 100 writes met the empty file and were refused", empties)
}

// An existing empty file is refused with its place and what to do.
func TestExistingEmptyFileIsAnError(t *testing.T) {
	t.Parallel()
	own := &memOwner{}
	for _, c := range []string{"claude", "vscode", "copilot", "codex"} {
		env := testEnv(t, nil)
		tg, err := New(config.Target{Client: c, Server: "api", Mode: "header", URL: "https://mcp.example/mcp"}, env)
		if err != nil {
			t.Fatal(err)
		}
		os.MkdirAll(filepath.Dir(tg.Path()), 0o700)
		os.WriteFile(tg.Path(), []byte(" \n"), 0o600)
		_, err = tg.Apply(context.Background(), testToken, own)
		if err == nil || !strings.HasPrefix(err.Error(), tg.Path()+":1:1: the file exists but is empty") {
			t.Errorf("%s: err = %v", c, err)
		}
		if b, _ := os.ReadFile(tg.Path()); string(b) != " \n" {
			t.Errorf("%s: the file changed: %q", c, b)
		}
		if _, err := tg.Remove(context.Background(), own); err != nil {
			t.Errorf("%s: Remove of an empty file: %v", c, err)
		}
	}
}
