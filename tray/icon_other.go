//go:build !windows && !linux

package tray

import "github.com/mcp-token-broker/mcp-token-broker/assets"

// iconData is the icon in the form the platform's tray wants: PNG.
func iconData(name string) []byte { return assets.PNG(name) }

// fitTooltip leaves the tooltip as it is.
func fitTooltip(s string) string { return s }
