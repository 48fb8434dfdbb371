package admission

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registry"
)

func TestFindingsAreCountedInEveryMode(t *testing.T) {
	for _, mode := range []Mode{ModeEnforce, ModeWarn, ModeAudit} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, testConfig(func(c *Config) { c.DefaultMode = mode }), badChecker())
			p := pod(func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "bad", Image: badImage})
			})
			e.h.Handle(testContext(t), review(t, admissionv1.Create, p, nil))
			if v := testutil.ToFloat64(e.h.metrics.findings.WithLabelValues(string(mode), "not_pullable", "tag_not_found")); v != 1 {
				t.Errorf("findings{not_pullable} = %v, want 1", v)
			}
			if v := testutil.ToFloat64(e.h.metrics.findings.WithLabelValues(string(mode), "pullable", "ok")); v != 1 {
				t.Errorf("findings{pullable} = %v, want 1", v)
			}
		})
	}
}

func TestMetricLabelsAreClosedSets(t *testing.T) {
	e := newEnv(t, testConfig(), &fakeChecker{verdicts: map[string]registry.Verdict{
		"nginx:1.25": {Outcome: registry.Outcome(42), Class: registry.Class("made-up-by-a-broken-engine")},
	}})
	resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, pod(), nil))
	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Result)
	}
	if v := testutil.ToFloat64(e.h.metrics.findings.WithLabelValues("warn", "unverifiable", "other")); v != 1 {
		t.Errorf("an unknown outcome/class must count as unverifiable/other, got %v", v)
	}
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"pullguard_admission_decisions_total":  {"decision", "mode", "reason"},
		"pullguard_admission_findings_total":   {"mode", "outcome", "reason"},
		"pullguard_admission_duration_seconds": {"kind"},
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			if !slices.Equal(names, want[f.GetName()]) {
				t.Errorf("%s has labels %q, want %q", f.GetName(), names, want[f.GetName()])
			}
		}
	}
}
