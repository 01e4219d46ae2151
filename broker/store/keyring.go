package store

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"time"

	gokeyring "github.com/zalando/go-keyring"
)

// Keyring is the part of the OS keyring the store uses: one small secret
// per (service, user). Get returns an error that matches ErrNotFound (with
// errors.Is) when there is no such secret. Implementations may block for a
// long time (a locked keyring waits for the user); the store bounds every
// call with a timeout, see BoundedKeyring.
type Keyring interface {
	Get(service, user string) (string, error)
	Set(service, user, secret string) error
	Delete(service, user string) error
}

// ErrNotFound is what Keyring.Get returns when the keyring answered and has
// no such secret. It is go-keyring's own sentinel, so fakes may return either.
var ErrNotFound = gokeyring.ErrNotFound

// ErrKeyringTimeout matches (errors.Is) the error of a keyring call that did
// not answer in time.
var ErrKeyringTimeout = errors.New("keyring did not answer")

// DefaultKeyringTimeout bounds each keyring call when nothing else is said.
const DefaultKeyringTimeout = 3 * time.Second

// SystemKeyring returns the OS keyring (Secret Service on Linux, Keychain on
// macOS, Credential Manager on Windows, through go-keyring), with every call
// bounded by timeout. On Linux it talks to the Secret Service on the session
// bus named by DBUS_SESSION_BUS_ADDRESS.
func SystemKeyring(timeout time.Duration) Keyring {
	return BoundedKeyring(systemKeyring{}, timeout)
}

type systemKeyring struct{}

func (systemKeyring) Get(service, user string) (string, error) {
	if err := sessionBusKnown(); err != nil {
		return "", err
	}
	return gokeyring.Get(service, user)
}

func (systemKeyring) Set(service, user, secret string) error {
	if err := sessionBusKnown(); err != nil {
		return err
	}
	return gokeyring.Set(service, user, secret)
}

func (systemKeyring) Delete(service, user string) error {
	if err := sessionBusKnown(); err != nil {
		return err
	}
	return gokeyring.Delete(service, user)
}

// sessionBusKnown fails when the Secret Service would be reached through a
// session bus that nobody started: with no DBUS_SESSION_BUS_ADDRESS and no
// /run/user/<uid>/bus, godbus runs dbus-launch, which starts a new
// dbus-daemon that outlives the process (one leaked daemon per `broker
// token` on a headless machine).
func sessionBusKnown() error {
	if runtime.GOOS == "windows" || runtime.GOOS == "darwin" || os.Getenv("DBUS_SESSION_BUS_ADDRESS") != "" {
		return nil
	}
	// godbus itself looks at /run/user/<uid>/bus and dbus-session only.
	dir := fmt.Sprintf("/run/user/%d", os.Getuid())
	for _, name := range []string{"bus", "dbus-session"} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil
		}
	}
	return errors.New("no session bus (DBUS_SESSION_BUS_ADDRESS is not set)")
}

// BoundedKeyring returns a Keyring whose calls give up after timeout with an
// error like "keyring did not answer within 3s" (matching ErrKeyringTimeout).
// A call that gives up keeps running in its goroutine, because a keyring call
// cannot be interrupted; to leak at most one goroutine, only one call runs at
// a time, and a call that finds an earlier one still hanging waits for it at
// most timeout too. Safe for concurrent use.
func BoundedKeyring(k Keyring, timeout time.Duration) Keyring {
	if timeout <= 0 {
		timeout = DefaultKeyringTimeout
	}
	return &boundedKeyring{k: k, timeout: timeout, busy: make(chan struct{}, 1)}
}

type boundedKeyring struct {
	k       Keyring
	timeout time.Duration
	busy    chan struct{} // holds a token while a call runs
}

// timeoutError is the error of a call that gave up.
type timeoutError struct {
	timeout time.Duration
	stuck   bool // an earlier call was still running
}

func (e *timeoutError) Error() string {
	msg := fmt.Sprintf("keyring did not answer within %s", e.timeout)
	if e.stuck {
		msg += " (an earlier request is still waiting for it)"
	}
	return msg + "; is it locked, or waiting for a password prompt?"
}

func (e *timeoutError) Unwrap() error { return ErrKeyringTimeout }

func (b *boundedKeyring) call(f func() error) error {
	timer := time.NewTimer(b.timeout)
	defer timer.Stop()
	select {
	case b.busy <- struct{}{}:
	case <-timer.C:
		return &timeoutError{timeout: b.timeout, stuck: true}
	}
	done := make(chan error, 1)
	go func() {
		err := f()
		<-b.busy
		done <- err
	}()
	select {
	case err := <-done:
		return err
	case <-timer.C:
		return &timeoutError{timeout: b.timeout}
	}
}

func (b *boundedKeyring) Get(service, user string) (string, error) {
	var v string
	err := b.call(func() error {
		var err error
		v, err = b.k.Get(service, user)
		return err
	})
	if err != nil {
		return "", err
	}
	return v, nil
}

func (b *boundedKeyring) Set(service, user, secret string) error {
	return b.call(func() error { return b.k.Set(service, user, secret) })
}

func (b *boundedKeyring) Delete(service, user string) error {
	return b.call(func() error { return b.k.Delete(service, user) })
}
