package auth

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// findTool finds the tool's executable: on the PATH of env, then in the
// folders its installers use (a daemon started at login, by launchd for
// example, has a short PATH without /opt/homebrew/bin). Relative PATH
// entries are skipped (as exec.LookPath refuses "."). On Windows the
// extensions of PATHEXT are tried: az is az.cmd, azd azd.exe.
func findTool(t *cliTool, env []string) (string, error) {
	getenv := func(key string) string { return envValue(env, key) }
	dirs := filepath.SplitList(getenv("PATH"))
	dirs = append(dirs, t.dirs(getenv)...)
	names := []string{t.command}
	if runtime.GOOS == "windows" {
		names = nil
		exts := getenv("PATHEXT")
		if exts == "" {
			exts = ".COM;.EXE;.BAT;.CMD"
		}
		for _, ext := range strings.Split(exts, ";") {
			if ext != "" {
				names = append(names, t.command+strings.ToLower(ext))
			}
		}
	}
	for _, dir := range dirs {
		if dir == "" || !filepath.IsAbs(dir) {
			continue
		}
		for _, name := range names {
			p := filepath.Join(dir, name)
			if executable(p) {
				return p, nil
			}
		}
	}
	return "", errors.New(t.command + " not found")
}

// executable reports whether p is a regular file that may be run.
func executable(p string) bool {
	fi, err := os.Stat(p)
	if err != nil || fi.IsDir() {
		return false
	}
	return runtime.GOOS == "windows" || fi.Mode()&0o111 != 0 && fi.Mode().Type()&fs.ModeType == 0
}

// envValue is the last value of key in env (case-insensitive on Windows).
func envValue(env []string, key string) string {
	v := ""
	for _, kv := range env {
		k, val, ok := strings.Cut(kv, "=")
		if ok && (k == key || runtime.GOOS == "windows" && strings.EqualFold(k, key)) {
			v = val
		}
	}
	return v
}
