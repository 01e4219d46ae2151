package brokerd

import (
	"bytes"
	"errors"
	"testing"
)

type failingWriter struct{ n int }

func (f *failingWriter) Write([]byte) (int, error) {
	f.n++
	return 0, errors.New("the handle is invalid")
}

// In brokerw.exe (no console) every write to stderr fails: the device
// code must still reach the daemon's status, whichever writer fails.
func TestFanOutWritesPastAFailingWriter(t *testing.T) {
	t.Parallel()
	stderr := &failingWriter{}
	var status, after bytes.Buffer
	w := fanOut{stderr, &status, &failingWriter{}, &after}
	const msg = "To sign in, use a web browser to open https://microsoft.com/devicelogin and enter the code ABCD-EFGH\n"
	n, err := w.Write([]byte(msg))
	if n != len(msg) || err != nil {
		t.Errorf("Write = %d, %v, want %d, nil", n, err, len(msg))
	}
	if stderr.n != 1 {
		t.Errorf("stderr was tried %d times, want 1", stderr.n)
	}
	if status.String() != msg || after.String() != msg {
		t.Errorf("status got %q, the writer after two failures %q; want the message in both", status.String(), after.String())
	}
}
