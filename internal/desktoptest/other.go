//go:build !linux

package desktoptest

import "testing"

// SessionBus needs dbus-daemon, which only Linux desktops have.
func SessionBus(t testing.TB) string {
	t.Skip("a private session bus needs Linux")
	return ""
}

// Keyring needs gnome-keyring-daemon, which only Linux desktops have.
func Keyring(t testing.TB, busAddr string) {
	t.Skip("gnome-keyring needs Linux")
}

// LockedKeyring needs gnome-keyring-daemon, which only Linux desktops have.
func LockedKeyring(t testing.TB, busAddr string) {
	t.Skip("gnome-keyring needs Linux")
}
