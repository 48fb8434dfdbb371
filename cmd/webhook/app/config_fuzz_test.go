package app

import (
	"testing"

	"github.com/pullguard/pullguard/pkg/config"
)

// FuzzDecodeConfig feeds arbitrary bytes to the --config decoder bound to every webhook flag: it
// must never panic, and what it accepts must validate (or fail validation) without panicking.
// The decoder's own target, with a small flag set and so far more inputs a second, is
// pkg/config's FuzzApply.
func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(header + "admission:\n  exemptNamespaces: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		o := DefaultOptions()
		if err := config.Apply(data, configKind, newFlagSet(&o)); err != nil {
			return
		}
		// Validate reads both CA files: no fuzzer-chosen path (a FIFO, /dev/zero) is ever opened.
		o.Registry.Egress.CAFile, o.ClientCAFile = "", ""
		_ = o.Validate() // any value may be invalid; validating it must not panic
	})
}
