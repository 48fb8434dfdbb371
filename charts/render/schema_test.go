package render_test

import (
	"strings"
	"testing"

	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"

	"github.com/pullguard/pullguard/charts/render"
)

// TestSchemaRejects renders with one bad value per case: values.schema.json (or, for rules
// that span two values, the chart itself) must refuse it before anything is applied.
func TestSchemaRejects(t *testing.T) {
	tests := map[string]struct {
		values map[string]any
		want   string // in the error
	}{
		"unknown top-level key":               {map[string]any{"replicas": 3}, "replicas"},
		"misspelt nested key":                 {map[string]any{"webhook": map[string]any{"failurepolicy": "Fail"}}, "failurepolicy"},
		"wrong mode name":                     {map[string]any{"mode": "enforcing"}, "mode"},
		"mode in capitals":                    {map[string]any{"mode": "Enforce"}, "mode"},
		"timeoutSeconds 0":                    {map[string]any{"webhook": map[string]any{"timeoutSeconds": 0}}, "timeoutSeconds"},
		"timeoutSeconds 31":                   {map[string]any{"webhook": map[string]any{"timeoutSeconds": 31}}, "timeoutSeconds"},
		"negative replicas":                   {map[string]any{"replicaCount": -1}, "replicaCount"},
		"zero replicas":                       {map[string]any{"replicaCount": 0}, "replicaCount"},
		"replicas as a string":                {map[string]any{"replicaCount": "2"}, "replicaCount"},
		"wrong failurePolicy":                 {map[string]any{"webhook": map[string]any{"failurePolicy": "ignore"}}, "failurePolicy"},
		"wrong certificate mode":              {map[string]any{"certificates": map[string]any{"mode": "self-signed"}}, "mode"},
		"self-managed duration":               {map[string]any{"certificates": map[string]any{"selfManaged": map[string]any{"duration": "90d"}}}, "duration"},
		"self-managed unknown key":            {map[string]any{"certificates": map[string]any{"selfManaged": map[string]any{"lifetime": "1h"}}}, "lifetime"},
		"digest that is not one":              {map[string]any{"image": map[string]any{"digest": "latest"}}, "digest"},
		"mirror without host":                 {map[string]any{"registry": map[string]any{"mirrors": map[string]any{"docker.io": []any{map[string]any{"pullOnly": true}}}}}, "host"},
		"registry CA that is not PEM":         {map[string]any{"registry": map[string]any{"caBundle": "not a certificate"}}, "caBundle"},
		"extra flag without dashes":           {map[string]any{"extraArgs": []any{"default-mode=enforce"}}, "extraArgs"},
		"config with its own kind":            {map[string]any{"config": map[string]any{"kind": "Other"}}, "config"},
		"egress port out of range":            {map[string]any{"networkPolicy": map[string]any{"egress": map[string]any{"ports": []any{70000}}}}, "ports"},
		"ingressFrom that is not a CIDR":      {map[string]any{"networkPolicy": map[string]any{"ingressFrom": []any{"control-plane"}}}, "ingressFrom"},
		"deny ratio above 1":                  {map[string]any{"metrics": map[string]any{"prometheusRule": map[string]any{"denyRatio": 2}}}, "denyRatio"},
		"reverifier unknown key":              {map[string]any{"reverifier": map[string]any{"replica": 2}}, "replica"},
		"reverifier zero replicas":            {map[string]any{"reverifier": map[string]any{"replicas": 0}}, "replicas"},
		"reverifier enabled as a string":      {map[string]any{"reverifier": map[string]any{"enabled": "yes"}}, "enabled"},
		"scanInterval without a unit":         {map[string]any{"reverifier": map[string]any{"scanInterval": "3600"}}, "scanInterval"},
		"scanInterval Prometheus cannot read": {map[string]any{"reverifier": map[string]any{"scanInterval": "1.5h"}}, "scanInterval"},
		"reverifier memory limit not a size":  {map[string]any{"reverifier": map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "lots"}}}}, "memory"},
		// Rules across values, enforced by the templates.
		"minAvailable not below replicas":            {map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 2}}, "minAvailable"},
		"Fail without any CA":                        {map[string]any{"webhook": map[string]any{"failurePolicy": "Fail"}, "certificates": map[string]any{"mode": "provided"}}, "caBundle"},
		"self-managed with a CA given":               {map[string]any{"certificates": map[string]any{"mode": "self-managed", "caBundle": testCA}}, "caBundle"},
		"reverifier minAvailable not below replicas": {map[string]any{"reverifier": map[string]any{"enabled": true, "podDisruptionBudget": map[string]any{"minAvailable": 2}}}, "minAvailable"},
		"reverifier PodMonitor without a token":      {map[string]any{"reverifier": map[string]any{"enabled": true, "podMonitor": map[string]any{"enabled": true}}}, "bearerTokenSecret"},
		"memory limit GOMEMLIMIT cannot follow":      {map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1Pi"}}}, "GOMEMLIMIT"},
		"memory limit too small":                     {map[string]any{"resources": map[string]any{"limits": map[string]any{"memory": "1Ki"}}}, "too small"},
	}
	ch, err := render.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := render.Render(ch, render.Options{Values: tc.values})
			if err == nil {
				t.Fatalf("values %v rendered, want an error naming %s", tc.values, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not name %s", err, tc.want)
			}
		})
	}
}

// TestLint runs `helm lint`'s rules (Chart.yaml, values and schema, templates rendered and
// parsed as Kubernetes objects) on the default values and on a few toggles, and wants no
// warning or error.
func TestLint(t *testing.T) {
	tests := map[string]map[string]any{
		"default":      nil,
		"self-managed": {"certificates": map[string]any{"mode": "self-managed"}},
		"everything on": {
			"namespace":    map[string]any{"create": true},
			"certificates": map[string]any{"mode": "cert-manager"},
			"registry":     map[string]any{"allowPrivateRegistries": []any{"10.0.0.0/8"}},
			"metrics": map[string]any{
				"serviceMonitor": map[string]any{"enabled": true}, "prometheusRule": map[string]any{"enabled": true},
				"dashboard": map[string]any{"enabled": true},
			},
		},
	}
	for name, values := range tests {
		t.Run(name, func(t *testing.T) {
			result := lint.RunAll(chartDir, values, "pullguard-system")
			for _, m := range result.Messages {
				// INFO is advice (an icon is recommended); WARNING and ERROR fail the lint.
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				} else {
					t.Logf("helm lint: %s", m)
				}
			}
		})
	}
}
