package installer

// serviceInstaller is what the installer needs from kardianos/service: write
// and register a user service, or undo that.
type serviceInstaller interface {
	Install() error
	Uninstall() error
}

// serviceSpec describes the user service for kardianos/service.
type serviceSpec struct {
	Name, DisplayName, Description string
	Executable                     string
	Arguments                      []string
	// Options are kardianos/service's KeyValue options (UserService,
	// SystemdScript, LaunchdConfig, ...).
	Options map[string]any
}
