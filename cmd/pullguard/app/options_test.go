package app

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/pkg/registry"
)

func TestParseCheckArgs(t *testing.T) {
	dir := t.TempDir()
	cfg := writeFile(t, dir, "config.yaml", `apiVersion: config.pullguard.io/v1alpha1
kind: CheckConfiguration
registry:
  insecureRegistries: [file.example.com]
  mirrors:
    docker.io: [{host: mirror.example.com, pullOnly: true}]
`)
	cases := map[string]struct {
		args  []string
		check func(t *testing.T, o checkOptions)
		err   string
	}{
		"defaults": {args: []string{"x.yaml"}, check: func(t *testing.T, o checkOptions) {
			if !slices.Equal(o.Filenames, []string{"x.yaml"}) || o.Output != outputText || o.FailOn != failOnNotPullable || o.Namespace != "default" {
				t.Errorf("%+v", o)
			}
		}},
		"config file's registry section": {args: []string{"-f", "x.yaml", "--config", cfg}, check: func(t *testing.T, o checkOptions) {
			if !slices.Equal(o.Registry.Egress.InsecureRegistries, []string{"file.example.com"}) ||
				!slices.Equal(o.Registry.Mirrors["docker.io"], []registry.Mirror{{Host: "mirror.example.com", PullOnly: true}}) {
				t.Errorf("registry options %+v", o.Registry)
			}
		}},
		"flags win over the file": {args: []string{"--config", cfg, "-f", "x.yaml", "--insecure-registries=flag.example.com", "--registry-mirror=docker.io=m2.example.com"},
			check: func(t *testing.T, o checkOptions) {
				if !slices.Equal(o.Registry.Egress.InsecureRegistries, []string{"flag.example.com"}) ||
					!slices.Equal(o.Registry.Mirrors["docker.io"], []registry.Mirror{{Host: "m2.example.com"}}) || !slices.Equal(o.Filenames, []string{"x.yaml"}) {
					t.Errorf("registry options %+v, files %v", o.Registry, o.Filenames)
				}
			}},
		"config file missing": {args: []string{"-f", "x", "--config", filepath.Join(dir, "nope")}, err: "--config"},
		"bad fail-on":         {args: []string{"-f", "x", "--fail-on", "always"}, err: "--fail-on"},
		"bad concurrency":     {args: []string{"-f", "x", "--max-concurrent-checks", "0"}, err: "--max-concurrent-checks"},
		"bad mirror":          {args: []string{"-f", "x", "--registry-mirror", "nohost"}, err: "REGISTRY=HOST"},
		"platform variant ok": {args: []string{"-f", "x", "--platform", "linux/arm/v7,linux/amd64"}},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o, err := parseCheckArgs(c.args)
			switch {
			case c.err != "" && (err == nil || !strings.Contains(err.Error(), c.err)):
				t.Fatalf("err = %v, want one naming %s", err, c.err)
			case c.err == "" && err != nil:
				t.Fatal(err)
			}
			if c.check != nil {
				c.check(t, o)
			}
		})
	}
}
