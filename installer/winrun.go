package installer

import (
	"context"
	"fmt"
	"strings"
)

// RunKeyPath is where Windows keeps the per-user programs started at login.
const RunKeyPath = `HKCU\Software\Microsoft\Windows\CurrentVersion\Run`

// RunKey is the Windows Run key: string values by name. The real one is the
// registry (runkey_windows.go); tests use a map.
type RunKey interface {
	// Get returns the value, or ok=false when there is none.
	Get(name string) (value string, ok bool, err error)
	// Set creates or replaces a string value.
	Set(name, value string) error
	// Delete removes the value; a missing value is not an error.
	Delete(name string) error
}

func (e Env) runKey() (RunKey, error) {
	if e.RunKey != nil {
		return e.RunKey, nil
	}
	return registryRunKey()
}

// windowsRun is the value "mcp-token-broker" of the HKCU Run key: Explorer
// starts `"C:\...\broker.exe" run` at login, in the user's session, where
// the tray icon can show (a Windows service cannot show one).
type windowsRun struct {
	env Env
	key RunKey
}

func (w *windowsRun) kind() string { return KindWindowsRun }

// exe is the program the Run value starts: brokerw.exe when it is there.
func (w *windowsRun) exe() string {
	if w.env.GUIExecutable != "" {
		return w.env.GUIExecutable
	}
	return w.env.Executable
}

func (w *windowsRun) path() (string, error) { return RunKeyPath + `\` + Name, nil }

func (w *windowsRun) status(ctx context.Context) (Entry, error) {
	p, _ := w.path()
	e := Entry{Kind: w.kind(), Path: p}
	got, ok, err := w.key.Get(Name)
	if err != nil {
		return e, fmt.Errorf("reading %s: %w", p, err)
	}
	if !ok {
		return e, nil
	}
	e.Installed = true
	want, err := RenderRunValue(w.exe())
	if err != nil {
		e.Problem = err.Error()
		return e, nil
	}
	if got == want {
		e.Current = true
		return e, nil
	}
	exe, args := splitRunValue(got)
	if !strings.EqualFold(exe, w.exe()) {
		e.Problem = fmt.Sprintf("the entry starts %s, not this broker; run `broker install` to point it here", exe)
	} else {
		e.Problem = fmt.Sprintf("the entry starts the broker with %q, not \"run\"; run `broker install` to rewrite it", args)
	}
	return e, nil
}

// splitRunValue splits a command line into the program (the first word,
// quoted or not, as Windows reads it) and the rest.
func splitRunValue(v string) (exe, rest string) {
	v = strings.TrimLeft(v, " \t")
	if strings.HasPrefix(v, `"`) {
		if i := strings.IndexByte(v[1:], '"'); i >= 0 {
			return v[1 : i+1], strings.TrimSpace(v[i+2:])
		}
		return v[1:], ""
	}
	if i := strings.IndexAny(v, " \t"); i >= 0 {
		return v[:i], strings.TrimSpace(v[i:])
	}
	return v, ""
}

func (w *windowsRun) install(ctx context.Context) (Result, error) {
	p, _ := w.path()
	res := Result{Kind: w.kind(), Path: p}
	want, err := RenderRunValue(w.exe())
	if err != nil {
		return res, err
	}
	got, ok, err := w.key.Get(Name)
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", p, err)
	}
	if ok && got == want {
		res.Message = "start at login is already installed: " + p
		return res, nil
	}
	if err := w.key.Set(Name, want); err != nil {
		return res, fmt.Errorf("writing %s: %w", p, err)
	}
	res.Changed = true
	res.Message = fmt.Sprintf("start at login installed: %s = %s", p, want)
	return res, nil
}

func (w *windowsRun) uninstall(ctx context.Context) (Result, error) {
	p, _ := w.path()
	res := Result{Kind: w.kind(), Path: p}
	_, ok, err := w.key.Get(Name)
	if err != nil {
		return res, fmt.Errorf("reading %s: %w", p, err)
	}
	if !ok {
		res.Message = "not installed: " + p
		return res, nil
	}
	if err := w.key.Delete(Name); err != nil {
		return res, fmt.Errorf("removing %s: %w", p, err)
	}
	res.Changed = true
	res.Message = "removed " + p
	return res, nil
}
