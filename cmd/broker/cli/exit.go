package cli

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/mcp-token-broker/mcp-token-broker/broker/auth"
	"github.com/mcp-token-broker/mcp-token-broker/broker/config"
)

// Exit codes: the command line's contract (see DESIGN.md and `broker help`).
const (
	ExitOK             = 0
	ExitError          = 1
	ExitUsage          = 2 // usage or configuration error
	ExitSignInRequired = 3
	ExitTemporary      = 4 // authority unreachable, timeout
)

// usageError is a wrong command line.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// UsageErrorf returns an error that exits with ExitUsage.
func UsageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// hinted is an error with a "hint:" line.
type hinted struct {
	err  error
	hint string
}

func (e hinted) Error() string    { return e.err.Error() }
func (e hinted) Unwrap() error    { return e.err }
func (e hinted) HintText() string { return e.hint }

// WithHint adds a "hint:" line to err.
func WithHint(err error, hint string) error {
	if err == nil {
		return nil
	}
	return hinted{err, hint}
}

// exitError carries an explicit exit code (for example `sync` with a
// failed target exits 1 after printing its own report).
type exitError struct {
	code int
	err  error
}

func (e exitError) Error() string { return e.err.Error() }
func (e exitError) Unwrap() error { return e.err }

// ExitCodeError returns an error that exits with code.
func ExitCodeError(code int, err error) error { return exitError{code, err} }

// exitCode maps an error to the exit code. This is the only place that does.
func exitCode(err error) int {
	var ee exitError
	var ue usageError
	var ce *config.Error
	switch {
	case err == nil:
		return ExitOK
	case errors.As(err, &ee):
		return ee.code
	case errors.As(err, &ue), errors.As(err, &ce):
		return ExitUsage
	case errors.Is(err, context.DeadlineExceeded):
		return ExitTemporary
	}
	switch auth.ClassOf(err) {
	case auth.ClassSignInRequired:
		return ExitSignInRequired
	case auth.ClassTemporary:
		return ExitTemporary
	case auth.ClassMisconfigured:
		return ExitUsage
	}
	return ExitError
}

// fromCobra turns cobra's own complaint about the command line (an
// unknown command, with its suggestions) into a usage error with a hint.
func fromCobra(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if !strings.HasPrefix(msg, "unknown command ") {
		return err
	}
	first, rest, _ := strings.Cut(msg, "\n")
	hint := "run `broker help` for the commands"
	if _, sug, ok := strings.Cut(rest, "Did you mean this?"); ok {
		if f := strings.Fields(sug); len(f) > 0 {
			hint = "did you mean `broker " + f[0] + "`? (`broker help` lists the commands)"
		}
	}
	return WithHint(usageError{errors.New(first)}, hint)
}

// printError writes "broker: message" and the hint lines to w.
func printError(w io.Writer, err error) {
	if errors.Is(err, errSilent) {
		return
	}
	fmt.Fprintf(w, "broker: %s\n", err)
	var h interface{ HintText() string }
	seen := map[string]bool{}
	for e := err; e != nil; e = errors.Unwrap(e) {
		if errors.As(e, &h) {
			if t := strings.TrimSpace(h.HintText()); t != "" && !seen[t] {
				seen[t] = true
				for _, line := range strings.Split(t, "\n") {
					fmt.Fprintf(w, "hint: %s\n", line)
				}
			}
			break
		}
	}
}

// errSilent is returned by commands that printed their own report and only
// need the exit code; wrap it with ExitCodeError.
var errSilent = errors.New("")
