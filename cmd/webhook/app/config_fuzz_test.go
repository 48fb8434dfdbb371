package app

import "testing"

// FuzzDecodeConfig feeds arbitrary bytes to the --config decoder: it must never panic, and what
// it accepts must carry the supported apiVersion and kind and apply onto the defaults cleanly.
func FuzzDecodeConfig(f *testing.F) {
	f.Add([]byte(fullConfig))
	f.Add([]byte(header + "admission:\n  exemptNamespaces: []\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := decodeConfig(data)
		if err != nil {
			return
		}
		if cfg.APIVersion != configAPIVersion || cfg.Kind != configKind {
			t.Fatalf("accepted apiVersion %q kind %q", cfg.APIVersion, cfg.Kind)
		}
		o := DefaultOptions()
		cfg.applyTo(&o)
		o.Registry.Egress.CAFile = "" // Validate reads it: no fuzzer-chosen path is ever opened
		_ = o.Validate()              // any value may be invalid; validating it must not panic
	})
}
