package tray

import "github.com/mcp-token-broker/mcp-token-broker/assets"

// iconData is the icon in the form the platform's tray wants: ICO.
func iconData(name string) []byte { return assets.ICO(name) }
