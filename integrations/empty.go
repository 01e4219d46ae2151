package integrations

import "bytes"

// isBlank reports whether a file holds nothing but white space.
func isBlank(b []byte) bool { return len(bytes.TrimSpace(b)) == 0 }

// emptyFileError is the answer to an existing file that is empty: another
// program may be writing it in place (truncate, then write) at this very
// moment, and a file put in its place would lose that program's whole
// content when its write lands in the replaced one. It is refused like
// any file that does not parse (the daemon tries again later).
func emptyFileError(fix string) error {
	return &FileError{Line: 1, Col: 1, Msg: "the file exists but is empty (another program may be writing it right now); " +
		"broker does not replace an existing empty file: " + fix}
}
