//go:build !windows

package installer

import (
	"fmt"

	"github.com/kardianos/service"
)

// newService returns kardianos/service's service for the named system
// ("linux-systemd", "darwin-launchd"), whatever system it detected at
// start-up: in a container it detects SysV, and the broker wants a systemd
// user unit there too when a user manager answers.
func newService(system string, spec serviceSpec) (serviceInstaller, error) {
	for _, sys := range service.AvailableSystems() {
		if sys.String() == system {
			return sys.New(noopProgram{}, &service.Config{
				Name:        spec.Name,
				DisplayName: spec.DisplayName,
				Description: spec.Description,
				Executable:  spec.Executable,
				Arguments:   spec.Arguments,
				Option:      service.KeyValue(spec.Options),
			})
		}
	}
	switch system {
	case "darwin-launchd":
		return nil, fmt.Errorf("LaunchAgents can only be installed on macOS")
	default:
		return nil, fmt.Errorf("kardianos/service has no %s support on this system", system)
	}
}

// noopProgram satisfies service.Interface: the broker never runs as a
// kardianos service, it only installs one.
type noopProgram struct{}

func (noopProgram) Start(service.Service) error { return nil }
func (noopProgram) Stop(service.Service) error  { return nil }
