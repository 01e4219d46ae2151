// Package assets holds the broker's tray icons, one per state, embedded in
// the binary: PNG for Linux and macOS, ICO for Windows. They are drawn by
// ./gen (go generate) and committed as source files.
package assets

import (
	"embed"
	"fmt"
)

//go:generate go run ./gen -out icons

// Icon names, one per state the tray shows.
const (
	SignedOut      = "signed-out"
	OK             = "ok"
	Refreshing     = "refreshing"
	Warning        = "warning"
	SignInRequired = "sign-in-required"
)

// Names lists every icon, from the calmest to the most urgent.
func Names() []string {
	return []string{SignedOut, OK, Refreshing, Warning, SignInRequired}
}

//go:embed icons/*.png icons/*.ico
var icons embed.FS

// PNG returns the 32 px PNG of the named icon. It panics on an unknown name
// (a programming error: the names are the constants above).
func PNG(name string) []byte { return mustRead(name + ".png") }

// ICO returns the Windows icon (16, 24, 32 and 48 px) of the named icon.
func ICO(name string) []byte { return mustRead(name + ".ico") }

func mustRead(file string) []byte {
	b, err := icons.ReadFile("icons/" + file)
	if err != nil {
		panic(fmt.Sprintf("assets: no icon %q", file))
	}
	return b
}
