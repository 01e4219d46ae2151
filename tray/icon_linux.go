package tray

import "github.com/mcp-token-broker/mcp-token-broker/assets"

// iconData is the icon in the form systray turns into a correct
// StatusNotifierItem pixmap (see pixmap_linux.go).
func iconData(name string) []byte { return pixmapIcon(assets.PNG(name)) }

// fitTooltip leaves the tooltip as it is.
func fitTooltip(s string) string { return s }
