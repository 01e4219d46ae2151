package atomicfile

import (
	"testing"
	"time"
)

// The Windows retry decision: only "another program holds it open" is
// retried, with a growing delay, never past renameRetryFor in all.
func TestRenameBackoff(t *testing.T) {
	t.Parallel()
	if _, again := renameBackoff(2, 0, 0); again { // ERROR_FILE_NOT_FOUND
		t.Error("a missing file is retried")
	}
	for _, code := range []uint32{errAccessDenied, errSharingViolation, errLockViolation} {
		var waited time.Duration
		prev := time.Duration(0)
		n := 0
		for attempt := 0; ; attempt++ {
			d, again := renameBackoff(code, attempt, waited)
			if !again {
				break
			}
			if d <= 0 || (d < prev && waited+d != renameRetryFor) {
				t.Fatalf("code %d attempt %d: delay %v after %v", code, attempt, d, prev)
			}
			prev, waited, n = d, waited+d, n+1
		}
		if waited != renameRetryFor || n < 5 {
			t.Errorf("code %d: waited %v in %d tries, want %v in several", code, waited, n, renameRetryFor)
		}
	}
}
