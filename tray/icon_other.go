//go:build !windows && !linux

package tray

import "github.com/mcp-token-broker/mcp-token-broker/assets"

// iconData is the icon in the form the platform's tray wants: PNG.
func iconData(name string) []byte { return assets.PNG(name) }
