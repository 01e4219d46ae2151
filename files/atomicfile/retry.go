package atomicfile

import "time"

// Windows errors that mean another program holds the file open.
const (
	errAccessDenied     = 5  // ERROR_ACCESS_DENIED
	errSharingViolation = 32 // ERROR_SHARING_VIOLATION
	errLockViolation    = 33 // ERROR_LOCK_VIOLATION
)

// renameRetryFor bounds how long a one-shot write (`sync`, `login`) waits
// for another program to let go of the file.
const renameRetryFor = 2 * time.Second

// renameBackoff decides, for a rename that failed with the Windows error
// code after attempt tries and waited in all, whether to try again and
// after how long: 10 ms doubling up to 250 ms, never past renameRetryFor.
func renameBackoff(code uint32, attempt int, waited time.Duration) (time.Duration, bool) {
	switch code {
	case errAccessDenied, errSharingViolation, errLockViolation:
	default:
		return 0, false
	}
	if waited >= renameRetryFor {
		return 0, false
	}
	d := 250 * time.Millisecond
	if attempt < 5 {
		d = 10 * time.Millisecond << attempt
	}
	if waited+d > renameRetryFor {
		d = renameRetryFor - waited
	}
	return d, true
}
