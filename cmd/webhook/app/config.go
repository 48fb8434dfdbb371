package app

import "github.com/pullguard/pullguard/pkg/config"

// configKind is the kind of the webhook's --config file. Its keys are the flags' keys (see
// addFlags and package config); README.md's Configuration section shows one.
const configKind = "WebhookConfiguration"

// loadConfigFile applies the WebhookConfiguration file at path onto o, through o's flags.
func loadConfigFile(path string, o *Options) error {
	return config.LoadFile(path, configKind, newFlagSet(o))
}
