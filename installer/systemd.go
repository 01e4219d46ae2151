package installer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// systemctlTimeout bounds the systemctl calls of Status.
const systemctlTimeout = 5 * time.Second

// systemdUser is ~/.config/systemd/user/mcp-token-broker.service, enabled
// for default.target: the user's systemd manager starts `broker run
// --no-tray` when the user logs in (or at boot with lingering enabled).
//
// kardianos/service writes the unit and runs `systemctl --user enable` and
// `daemon-reload`. It gets the unit already rendered by RenderSystemdUnit as
// its custom template (a template without actions renders to itself), so
// the file is exactly what Status compares against; its built-in template
// says WantedBy=multi-user.target, a target that a user manager never
// reaches.
type systemdUser struct{ env Env }

func (s *systemdUser) kind() string { return KindSystemdUser }

// path is where kardianos/service puts a user unit: $HOME/.config/systemd/user
// (it does not read XDG_CONFIG_HOME).
func (s *systemdUser) path() (string, error) {
	return filepath.Join(s.env.Home, ".config", "systemd", "user", Name+".service"), nil
}

func (s *systemdUser) unit() string { return Name + ".service" }

func (s *systemdUser) systemctl(ctx context.Context, args ...string) (string, error) {
	run := s.env.Systemctl
	if run == nil {
		run = realSystemctl
	}
	out, err := run(ctx, args...)
	return strings.TrimSpace(string(out)), err
}

func realSystemctl(ctx context.Context, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, "systemctl", append([]string{"--user"}, args...)...)
	cmd.WaitDelay = time.Second
	return cmd.CombinedOutput()
}

// managerRunning reports whether a systemd user manager answers.
func (s *systemdUser) managerRunning(ctx context.Context) (bool, string) {
	out, err := s.systemctl(ctx, "show", "--property=Version")
	if err != nil {
		if out == "" {
			out = err.Error()
		}
		return false, out
	}
	return true, ""
}

func (s *systemdUser) enabled(ctx context.Context) (bool, string, error) {
	out, err := s.systemctl(ctx, "is-enabled", s.unit())
	if out == "enabled" {
		return true, out, nil
	}
	if out == "" && err != nil {
		return false, "", err
	}
	return false, out, nil
}

func (s *systemdUser) status(ctx context.Context) (Entry, error) {
	p, _ := s.path()
	e := Entry{Kind: s.kind(), Path: p}
	got, ok, err := readIfExists(p)
	if err != nil || !ok {
		return e, err
	}
	e.Installed = true
	want, err := RenderSystemdUnit(s.env.Executable)
	if err != nil {
		e.Problem = err.Error()
		return e, nil
	}
	if !bytes.Equal(got, want) {
		e.Problem = "the unit does not start this broker with `run --no-tray` (another binary, version or a change by hand); run `broker install --headless` to rewrite it"
		return e, nil
	}
	if up, why := s.managerRunning(ctx); !up {
		e.Problem = "no systemd user manager answers (" + why + "), so nothing starts the unit"
		return e, nil
	}
	on, said, err := s.enabled(ctx)
	switch {
	case err != nil:
		e.Problem = "cannot tell whether the unit is enabled: " + err.Error()
	case !on:
		e.Problem = fmt.Sprintf("the unit is %s, not enabled; run `broker install --headless`", said)
	default:
		e.Current = true
	}
	return e, nil
}

func (s *systemdUser) service(content []byte) (serviceInstaller, error) {
	// kardianos/service writes under os.UserHomeDir(), whatever Env says.
	if h, err := os.UserHomeDir(); err != nil || filepath.Clean(h) != filepath.Clean(s.env.Home) {
		return nil, fmt.Errorf("a systemd user unit can only be installed for the home folder of this process ($HOME=%s, not %s)", h, s.env.Home)
	}
	opts := map[string]any{"UserService": true}
	if content != nil {
		opts["SystemdScript"] = string(content)
	}
	return newService("linux-systemd", serviceSpec{
		Name:        Name,
		DisplayName: "MCP token broker",
		Description: "Keeps an Entra ID token fresh for AI coding clients",
		Executable:  s.env.Executable,
		Arguments:   headlessArgs,
		Options:     opts,
	})
}

func (s *systemdUser) install(ctx context.Context) (Result, error) {
	p, _ := s.path()
	res := Result{Kind: s.kind(), Path: p}
	content, err := RenderSystemdUnit(s.env.Executable)
	if err != nil {
		return res, err
	}
	if up, why := s.managerRunning(ctx); !up {
		return res, fmt.Errorf("%w (systemctl --user: %s); nothing was installed", ErrNoUserManager, why)
	}
	got, exists, err := readIfExists(p)
	if err != nil {
		return res, err
	}
	if exists && bytes.Equal(got, content) {
		if on, _, _ := s.enabled(ctx); on {
			res.Message = "start at login is already installed: " + p + " (enabled)"
			return res, nil
		}
	}
	svc, err := s.service(content)
	if err != nil {
		return res, err
	}
	if exists { // another version, binary or a disabled unit: replace it
		if err := svc.Uninstall(); err != nil {
			if err := os.Remove(p); err != nil && !errors.Is(err, os.ErrNotExist) {
				return res, fmt.Errorf("replacing %s: %w", p, err)
			}
		}
	}
	if err := svc.Install(); err != nil {
		// Leave nothing half-installed: no unit file, no enable symlink.
		_ = svc.Uninstall()
		s.removeFiles()
		return res, fmt.Errorf("installing the systemd user unit: %w", err)
	}
	if written, _, _ := readIfExists(p); !bytes.Equal(written, content) {
		return res, fmt.Errorf("the unit written to %s is not the one rendered; please report this", p)
	}
	res.Changed = true
	res.Message = fmt.Sprintf("start at login installed: %s (enabled for default.target) starts %s run --no-tray", p, s.env.Executable)
	return res, nil
}

func (s *systemdUser) uninstall(ctx context.Context) (Result, error) {
	p, _ := s.path()
	res := Result{Kind: s.kind(), Path: p}
	if _, exists, err := readIfExists(p); err != nil || !exists {
		res.Message = "not installed: " + p
		return res, err
	}
	// kardianos/service disables, removes and reloads; without a user
	// manager `disable` fails, so remove the file and the enable link that
	// an earlier manager made ourselves.
	if up, _ := s.managerRunning(ctx); up {
		if svc, err := s.service(nil); err == nil {
			if err := svc.Uninstall(); err != nil {
				return res, fmt.Errorf("removing the systemd user unit: %w", err)
			}
		}
	}
	if err := s.removeFiles(); err != nil {
		return res, err
	}
	res.Changed = true
	res.Message = "removed " + p + " (disabled)"
	return res, nil
}

// removeFiles removes the unit, its enable link and the folders that
// install created and that are empty now.
func (s *systemdUser) removeFiles() error {
	p, _ := s.path()
	wants := filepath.Join(filepath.Dir(p), "default.target.wants")
	_, _ = removeFile(filepath.Join(wants, s.unit()), s.env.Home)
	if _, err := removeFile(p, s.env.Home); err != nil {
		return err
	}
	removeEmptyParents(wants, s.env.Home)
	removeEmptyParents(filepath.Dir(p), s.env.Home)
	return nil
}
