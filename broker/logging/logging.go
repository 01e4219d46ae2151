// Package logging sets up the daemon's log: log/slog to a rotating file in
// the state folder, with a level that can change while running and a guard
// that redacts anything shaped like a JWT, whatever the caller passed.
//
// Tokens are kept out of the log by type first (token.Secret logs as
// REDACTED); the guard here is defence in depth for a token that slipped
// through as a plain string, an error message or a URL.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/natefinch/lumberjack.v2"
)

// Rotation limits of the log file.
const (
	maxSizeMB  = 5
	maxBackups = 3
	maxAgeDays = 28
)

// Options say where and how much to log.
type Options struct {
	// Path is the log file; its folder is created (0700).
	Path string
	// Level is "debug", "info", "warn" or "error" (default info).
	Level string
	// Also, when set, receives every line as well (for example stderr).
	Also io.Writer
	// NoRotate appends without ever rotating: for processes other than the
	// daemon (`broker bridge`, one per MCP server), so that only one process
	// renames the shared log and no line is lost to competing rotations.
	NoRotate bool
}

// Log is an open log: its Logger, its level (settable while running) and
// the file to close at exit.
type Log struct {
	Logger *slog.Logger
	Level  *slog.LevelVar
	file   io.Closer
}

// Open opens (appending) the rotating log file and returns a logger that
// writes to it through the redacting guard.
func Open(o Options) (*Log, error) {
	if err := os.MkdirAll(filepath.Dir(o.Path), 0o700); err != nil {
		return nil, fmt.Errorf("creating the log folder: %w", err)
	}
	// Create the file now so that its mode is ours (lumberjack would create
	// it lazily) and errors show up at start.
	f, err := os.OpenFile(o.Path, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening the log file: %w", err)
	}
	var file io.WriteCloser = f
	if !o.NoRotate {
		f.Close()
		file = &lumberjack.Logger{
			Filename:   o.Path,
			MaxSize:    maxSizeMB,
			MaxBackups: maxBackups,
			MaxAge:     maxAgeDays,
		}
	}
	lv := new(slog.LevelVar)
	lvl, err := ParseLevel(o.Level)
	if err != nil {
		return nil, err
	}
	lv.Set(lvl)
	var w io.Writer = file
	if o.Also != nil {
		w = io.MultiWriter(file, o.Also)
	}
	h := slog.NewTextHandler(w, &slog.HandlerOptions{Level: lv})
	return &Log{Logger: slog.New(Guard(h)), Level: lv, file: file}, nil
}

// Close closes the file.
func (l *Log) Close() error { return l.file.Close() }

// SetLevel changes the level ("" means info).
func (l *Log) SetLevel(s string) error {
	lvl, err := ParseLevel(s)
	if err != nil {
		return err
	}
	l.Level.Set(lvl)
	return nil
}

// ParseLevel parses "debug", "info", "warn" or "error"; "" is info.
func ParseLevel(s string) (slog.Level, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "", "info":
		return slog.LevelInfo, nil
	case "debug":
		return slog.LevelDebug, nil
	case "warn", "warning":
		return slog.LevelWarn, nil
	case "error":
		return slog.LevelError, nil
	}
	return 0, fmt.Errorf("unknown log level %q (want debug, info, warn or error)", s)
}
