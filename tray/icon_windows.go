package tray

import "github.com/mcp-token-broker/mcp-token-broker/assets"

// iconData is the icon in the form the platform's tray wants: ICO.
func iconData(name string) []byte { return assets.ICO(name) }

// fitTooltip keeps a tooltip within the 128 UTF-16 units of the Windows
// notification icon (systray copies it without checking).
func fitTooltip(s string) string { return shorten1(s, 120) }
