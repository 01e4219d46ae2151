package config

import "fmt"

// Error is a configuration problem at a place in a file. It prints as
// "PATH:LINE:COL: message" (LINE and COL left out when unknown) and makes
// the command line exit with code 2.
type Error struct {
	Path    string
	Line    int
	Col     int
	Key     string // the dotted key, when the problem is one key
	Message string
	Hint    string
}

func (e *Error) Error() string {
	switch {
	case e.Path == "":
		return e.Message
	case e.Line > 0 && e.Col > 0:
		return fmt.Sprintf("%s:%d:%d: %s", e.Path, e.Line, e.Col, e.Message)
	case e.Line > 0:
		return fmt.Sprintf("%s:%d: %s", e.Path, e.Line, e.Message)
	}
	return fmt.Sprintf("%s: %s", e.Path, e.Message)
}

// HintText returns the hint for the command line's "hint:" line.
func (e *Error) HintText() string { return e.Hint }
