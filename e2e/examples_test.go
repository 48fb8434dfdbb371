package e2e

import (
	"testing"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// TestExamples applies examples/ exactly as `make demo` does and checks the outcomes it shows. A new example needs an expectation here.
func TestExamples(t *testing.T) {
	t.Parallel()
	want := map[string]map[admission.Mode]testbed.Outcome{
		"good.yaml":              {admission.ModeWarn: testbed.Admitted, admission.ModeEnforce: testbed.Admitted},
		"typo-tag.yaml":          {admission.ModeWarn: testbed.AdmittedWithWarning, admission.ModeEnforce: testbed.Refused},
		"private-no-secret.yaml": {admission.ModeWarn: testbed.AdmittedWithWarning, admission.ModeEnforce: testbed.Refused},
		"wrong-arch.yaml":        {admission.ModeWarn: testbed.AdmittedWithWarning, admission.ModeEnforce: testbed.Refused},
		"single-arch.yaml":       {admission.ModeWarn: testbed.AdmittedWithWarning, admission.ModeEnforce: testbed.AdmittedWithWarning},
	}
	examples, err := testbed.LoadExamples(bed.Root, bed.Registry.Host)
	if err != nil {
		t.Fatal(err)
	}
	namespaces := map[admission.Mode]string{
		admission.ModeWarn:    namespace(t, "examples-warn", admission.ModeWarn),
		admission.ModeEnforce: namespace(t, "examples-enforce", admission.ModeEnforce),
	}
	seen := map[string]bool{}
	for _, ex := range examples {
		seen[ex.File] = true
		outcomes, ok := want[ex.File]
		if !ok {
			t.Errorf("examples/%s has no expected outcome in TestExamples", ex.File)
			continue
		}
		for mode, ns := range namespaces {
			t.Run(ex.File+"/"+string(mode), func(t *testing.T) {
				res := kubectl(t, ex.Manifest, "apply", "-n", ns, "-f", "-")
				if got := testbed.OutcomeOf(res); got != outcomes[mode] {
					t.Errorf("%s in a %s namespace: %s, want %s; kubectl printed:\n%s", ex.File, mode, got, outcomes[mode], res.Output)
				}
				if outcomes[mode] != testbed.Admitted {
					expect{refused: outcomes[mode] == testbed.Refused, contains: []string{templateImage}}.check(t, res)
				}
			})
		}
	}
	for file := range want {
		if !seen[file] {
			t.Errorf("examples/%s is gone; `make demo` no longer shows its outcome", file)
		}
	}
}
