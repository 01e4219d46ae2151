package config

// Load reads adminPath (optional: a missing file is fine) and then userPath
// (optional too), the user's values overriding the admin's, and validates
// the result.
func Load(adminPath, userPath string) (*Config, error) {
	panic("config.Load: not written yet")
}
