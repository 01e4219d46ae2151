package installer

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
)

// launchAgent is ~/Library/LaunchAgents/mcp-token-broker.plist: launchd
// starts `broker run` when the user logs in (RunAtLoad) and does not start it
// again after Quit from the menu (KeepAlive false).
//
// On macOS kardianos/service writes the plist (a user service); it gets the
// plist already rendered by RenderLaunchAgent as its custom template, which
// renders to itself, so the file is exactly what Status and the tests
// compare against. kardianos' darwin code only builds on darwin, so on other
// systems Install and Uninstall of this kind report an error; rendering and
// Status work everywhere.
type launchAgent struct{ env Env }

func (l *launchAgent) kind() string { return KindLaunchAgent }

func (l *launchAgent) path() (string, error) {
	return filepath.Join(l.env.Home, "Library", "LaunchAgents", LaunchdLabel+".plist"), nil
}

func (l *launchAgent) status(ctx context.Context) (Entry, error) {
	p, _ := l.path()
	e := Entry{Kind: l.kind(), Path: p}
	got, ok, err := readIfExists(p)
	if err != nil || !ok {
		return e, err
	}
	e.Installed = true
	want, err := RenderLaunchAgent(l.env.Executable)
	if err != nil {
		e.Problem = err.Error()
		return e, nil
	}
	if bytes.Equal(got, want) {
		e.Current = true
	} else {
		e.Problem = "the LaunchAgent does not start this broker with `run` (another binary, version or a change by hand); run `broker install` to rewrite it"
	}
	return e, nil
}

func (l *launchAgent) service(content []byte) (serviceInstaller, error) {
	if h, err := os.UserHomeDir(); err != nil || filepath.Clean(h) != filepath.Clean(l.env.Home) {
		return nil, fmt.Errorf("a LaunchAgent can only be installed for the home folder of this process ($HOME=%s, not %s)", h, l.env.Home)
	}
	// kardianos writes into the account's home folder (user.Current), and
	// launchd reads the LaunchAgents of that folder whatever $HOME says.
	if u, err := user.Current(); err != nil || filepath.Clean(u.HomeDir) != filepath.Clean(l.env.Home) {
		account := "unknown"
		if u != nil {
			account = u.HomeDir
		}
		return nil, fmt.Errorf("$HOME (%s) is not your account's home folder (%s), whose LaunchAgents launchd starts; run broker install with HOME=%s", l.env.Home, account, account)
	}
	return newService("darwin-launchd", serviceSpec{
		Name:       LaunchdLabel,
		Executable: l.env.Executable,
		Arguments:  desktopArgs,
		Options: map[string]any{
			"UserService":   true,
			"RunAtLoad":     true,
			"KeepAlive":     false,
			"LaunchdConfig": string(content),
		},
	})
}

func (l *launchAgent) install(ctx context.Context) (Result, error) {
	p, _ := l.path()
	res := Result{Kind: l.kind(), Path: p}
	content, err := RenderLaunchAgent(l.env.Executable)
	if err != nil {
		return res, err
	}
	got, exists, err := readIfExists(p)
	if err != nil {
		return res, err
	}
	if exists && bytes.Equal(got, content) {
		res.Message = "start at login is already installed: " + p
		return res, nil
	}
	svc, err := l.service(content)
	if err != nil {
		return res, err
	}
	if exists { // kardianos refuses to overwrite
		if err := os.Remove(p); err != nil {
			return res, fmt.Errorf("replacing %s: %w", p, err)
		}
	}
	// Install writes the plist and does not load it: launchd loads it at
	// the next login.
	if err := svc.Install(); err != nil {
		_, _ = removeFile(p, l.env.Home)
		return res, fmt.Errorf("installing the LaunchAgent: %w", err)
	}
	res.Changed = true
	res.Message = fmt.Sprintf("start at login installed: %s starts %s run at the next login", p, l.env.Executable)
	return res, nil
}

// uninstall removes the plist itself: kardianos' Uninstall runs `launchctl
// unload` first, which would kill the broker the user is running now.
func (l *launchAgent) uninstall(ctx context.Context) (Result, error) {
	p, _ := l.path()
	res := Result{Kind: l.kind(), Path: p}
	removed, err := removeFile(p, l.env.Home)
	if err != nil {
		return res, err
	}
	res.Changed = removed
	res.Message = "removed " + p
	if !removed {
		res.Message = "not installed: " + p
	}
	return res, nil
}
