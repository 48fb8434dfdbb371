package reverify

import (
	"testing"
	"time"

	"github.com/spf13/pflag"
)

func TestConfigValidatesTheTriggerSettings(t *testing.T) {
	tests := map[string]struct {
		mutate  func(*Config)
		wantErr string // the field path, "" for valid
	}{
		"defaults":                  {mutate: func(*Config) {}},
		"poll every second":         {mutate: func(c *Config) { c.SecretPollInterval = time.Second }},
		"poll faster than a second": {mutate: func(c *Config) { c.SecretPollInterval = time.Millisecond }, wantErr: "reverify.secretPollInterval"},
		"no poll rate":              {mutate: func(c *Config) { c.SecretPollQPS = 0 }, wantErr: "reverify.secretPollQPS"},
		"rescan at once":            {mutate: func(c *Config) { c.PlatformRescanSpread = 0 }},
		"negative rescan spread":    {mutate: func(c *Config) { c.PlatformRescanSpread = -time.Second }, wantErr: "reverify.platformRescanSpread"},
		"no trigger worker":         {mutate: func(c *Config) { c.TriggerWorkers = 0 }, wantErr: "reverify.triggerWorkers"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			errs := c.Validate()
			switch {
			case tc.wantErr == "" && len(errs) > 0:
				t.Errorf("unexpected errors: %v", errs)
			case tc.wantErr != "" && (len(errs) != 1 || errs[0].Field != tc.wantErr):
				t.Errorf("errors %v, want one at %s", errs, tc.wantErr)
			}
		})
	}
}

func TestConfigFlagsOfTheTriggers(t *testing.T) {
	c := DefaultConfig()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.AddFlags(fs)
	if err := fs.Parse([]string{"--reverify-secret-poll-interval=30s", "--reverify-secret-poll-qps=2",
		"--reverify-platform-rescan-spread=1m", "--reverify-trigger-workers=4", "--reverify-trigger-freshness=10s"}); err != nil {
		t.Fatal(err)
	}
	if c.SecretPollInterval != 30*time.Second || c.SecretPollQPS != 2 || c.PlatformRescanSpread != time.Minute || c.TriggerWorkers != 4 ||
		c.TriggerFreshness != 10*time.Second {
		t.Errorf("parsed %+v", c)
	}
}
