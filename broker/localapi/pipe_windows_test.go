package localapi

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"testing"
	"time"
)

// These run under Wine in `make test-windows` (TestWindowsUnderWine builds
// this package's tests for Windows and runs them).

func pipeName(t *testing.T) string {
	return fmt.Sprintf(`\\.\pipe\mcp-token-broker-test-%d-%s`, os.Getpid(), t.Name())
}

func acceptAll(l net.Listener) {
	for {
		c, err := l.Accept()
		if err != nil {
			return
		}
		c.Close()
	}
}

func TestPipeOfThisUserIsAccepted(t *testing.T) {
	name := pipeName(t)
	l, err := Listen(name, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go acceptAll(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx, name)
	if err != nil {
		t.Fatalf("dial of our own pipe: %v", err)
	}
	c.Close()
}

func TestPipeOwnedByAnotherAccountIsRefused(t *testing.T) {
	name := pipeName(t)
	me, err := userSID()
	if err != nil {
		t.Fatal(err)
	}
	// Owned by the Administrators group, open to us: what a squatter
	// (or a service) could create before our daemon starts.
	l, err := listenSD(name, "O:BAD:P(A;;GA;;;"+me+")(A;;GA;;;BA)")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go acceptAll(l)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := dial(ctx, name)
	if err == nil {
		c.Close()
		t.Fatal("dial accepted a pipe owned by Administrators")
	}
	if !errors.Is(err, ErrNotPrivate) {
		t.Fatalf("error %v does not match ErrNotPrivate", err)
	}
	t.Log(err)
}
