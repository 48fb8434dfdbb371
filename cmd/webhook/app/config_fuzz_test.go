package app

import (
	"testing"

	"github.com/pullguard/pullguard/pkg/config"
)

// FuzzDecodeConfig feeds arbitrary bytes to the --config decoder: it must never panic, and what
// it accepts must validate (or fail validation) without panicking.
func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(header + "admission:\n  exemptNamespaces: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := DefaultOptions()
		if err := config.Apply(data, configKind, newFlagSet(&o)); err != nil {
			return
		}
		o.Registry.Egress.CAFile = "" // Validate reads it: no fuzzer-chosen path is ever opened
		_ = o.Validate()              // any value may be invalid; validating it must not panic
	})
}
