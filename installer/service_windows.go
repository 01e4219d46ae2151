package installer

import "fmt"

// newService: Windows uses the Run key, never a service (a service cannot
// show a tray icon), so kardianos/service is not linked in at all (its
// Windows init would ask the service manager about this process).
func newService(system string, spec serviceSpec) (serviceInstaller, error) {
	return nil, fmt.Errorf("%s services cannot be installed on Windows", system)
}
