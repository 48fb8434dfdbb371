package app

import (
	"github.com/spf13/pflag"
)

// configKind is the kind of the --config file of the webhook and of `webhook reverify`. Its keys
// are the flags' keys (see addFlags and package config); README.md's Configuration section shows
// one.
const configKind = "WebhookConfiguration"

// fileFlagSet is newFlagSet(o) plus the re-verifier's section bound to a value nobody reads:
// the webhook and the re-verifier share one file (the chart mounts one ConfigMap into both), so
// the webhook checks the reverify section's keys and types, and ignores its values.
func fileFlagSet(o *Options) *pflag.FlagSet {
	fs := newFlagSet(o)
	unused := DefaultReverifyOptions()
	unused.addReverifyFlags(fs)
	return fs
}
