package app

// LoadConfigFile applies a WebhookConfiguration file onto o, strictly, as --config does. It is
// exported so that the pullguard CLI reads the same file format for its registry settings
// until those settings are shared by every program.
func LoadConfigFile(path string, o *Options) error { return loadConfigFile(path, o) }
