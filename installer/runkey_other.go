//go:build !windows

package installer

import "errors"

func registryRunKey() (RunKey, error) {
	return nil, errors.New("the Windows registry is only reachable on Windows")
}
