package installer

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"sync"
)

// xdgAutostart is ~/.config/autostart/mcp-token-broker.desktop: the
// graphical session starts `broker run` (with its tray) at login.
type xdgAutostart struct{ env Env }

func (x *xdgAutostart) kind() string { return KindXDGAutostart }

func (x *xdgAutostart) path() (string, error) {
	return filepath.Join(x.env.configHome(), "autostart", Name+".desktop"), nil
}

var desktopExecLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`(?m)^Exec=(.*)$`) })

func (x *xdgAutostart) status(ctx context.Context) (Entry, error) {
	p, _ := x.path()
	e := Entry{Kind: x.kind(), Path: p}
	got, ok, err := readIfExists(p)
	if err != nil || !ok {
		return e, err
	}
	e.Installed = true
	want, err := RenderDesktopEntry(x.env.Executable)
	if err != nil {
		e.Problem = err.Error()
		return e, nil
	}
	if bytes.Equal(got, want) {
		e.Current = true
		return e, nil
	}
	wantExec := desktopExecLine().FindSubmatch(want)
	if m := desktopExecLine().FindSubmatch(got); m == nil {
		e.Problem = "the entry has no Exec line; run `broker install` to rewrite it"
	} else if !bytes.Equal(m[1], wantExec[1]) {
		e.Problem = fmt.Sprintf("the entry runs %s, not this broker; run `broker install` to point it here", m[1])
	} else {
		e.Problem = "the entry was changed by hand or by another version; run `broker install` to rewrite it"
	}
	if bytes.Contains(got, []byte("\nHidden=true")) || bytes.Contains(got, []byte("\nX-GNOME-Autostart-enabled=false")) {
		e.Problem = "the entry is disabled in the desktop's startup settings; run `broker install` to enable it"
	}
	return e, nil
}

func (x *xdgAutostart) install(ctx context.Context) (Result, error) {
	p, _ := x.path()
	content, err := RenderDesktopEntry(x.env.Executable)
	if err != nil {
		return Result{}, err
	}
	changed, err := writeFile(p, content, 0o644)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: x.kind(), Path: p, Changed: changed}
	if changed {
		res.Message = fmt.Sprintf("start at login installed: %s starts %s run at the next desktop login", p, x.env.Executable)
	} else {
		res.Message = fmt.Sprintf("start at login is already installed: %s", p)
	}
	return res, nil
}

func (x *xdgAutostart) uninstall(ctx context.Context) (Result, error) {
	p, _ := x.path()
	removed, err := removeFile(p, x.env.Home)
	if err != nil {
		return Result{}, err
	}
	res := Result{Kind: x.kind(), Path: p, Changed: removed, Message: "removed " + p}
	if !removed {
		res.Message = "not installed: " + p
	}
	return res, nil
}
