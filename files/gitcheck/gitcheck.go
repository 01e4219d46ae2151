// Package gitcheck tells whether a file is, or would be, committed to git:
// inside a work tree and not ignored. The broker refuses to write a secret
// into such a file. It runs the git binary with a timeout; without git (or
// outside a work tree) nothing is tracked.
package gitcheck

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/mcp-token-broker/mcp-token-broker/files"
)

// timeout bounds each git call.
const timeout = 5 * time.Second

// Tracked reports whether path (after its symbolic links, in its name and
// its folders) is inside a git work tree and either
// tracked or not ignored (so `git add -A` would commit it). The file need
// not exist. Errors from git (other than "not a repository" and a missing
// git) are returned.
func Tracked(ctx context.Context, path string) (bool, error) {
	git, err := exec.LookPath("git")
	if err != nil {
		return false, nil
	}
	// The file really written: a link (~/.copilot/mcp-config.json), or a
	// linked folder (~/.config/Code/User), into a dotfiles repository
	// puts the secret in that repository.
	abs, err := files.Resolve(path)
	if err != nil {
		return false, err
	}
	// The nearest existing folder is where git is asked from.
	dir := filepath.Dir(abs)
	for {
		if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false, nil
		}
		dir = parent
	}
	if !maybeInRepo(dir) {
		return false, nil // no .git above: no need to start git
	}
	out, err := run(ctx, git, dir, "rev-parse", "--is-inside-work-tree")
	if err != nil || strings.TrimSpace(out) != "true" {
		return false, nil // not in a work tree (or inside .git)
	}
	if out, err := run(ctx, git, dir, "ls-files", "--error-unmatch", "--", abs); err == nil && strings.TrimSpace(out) != "" {
		return true, nil
	}
	_, err = run(ctx, git, dir, "check-ignore", "-q", "--no-index", "--", abs)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false, nil // ignored
	case errors.As(err, &ee) && ee.ExitCode() == 1:
		return true, nil // not ignored: would be committed
	default:
		return false, err
	}
}

func run(ctx context.Context, git, dir string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, git, args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0", "LC_ALL=C")
	out, err := cmd.Output()
	return string(out), err
}

// maybeInRepo reports whether dir or a parent holds .git (or git is told
// where the repository is by the environment), so that the common case,
// a file in no work tree, costs no process.
func maybeInRepo(dir string) bool {
	if os.Getenv("GIT_DIR") != "" || os.Getenv("GIT_WORK_TREE") != "" {
		return true
	}
	for {
		if _, err := os.Lstat(filepath.Join(dir, ".git")); err == nil {
			return true
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return false
		}
		dir = parent
	}
}
