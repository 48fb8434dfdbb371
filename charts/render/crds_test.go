package render_test

import (
	"os"
	"path/filepath"
	"testing"

	// The types of the Report the re-verifier writes: imported so that charts/go.mod keeps the
	// module, and so its version, whose CRDs crds/ must hold.
	_ "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"

	"github.com/pullguard/pullguard/charts/render"
)

// TestReportsCRDsUpToDate fails when the chart's crds/ differs from the CRDs of the reports-api
// version charts/go.mod pins (`make crds` copies them).
func TestReportsCRDsUpToDate(t *testing.T) {
	want, err := render.ReportsCRDs(".")
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(chartDir, "crds")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if _, ok := want[e.Name()]; !ok {
			t.Errorf("crds/%s is not among %s's CRDs: remove it and run make crds", e.Name(), render.ReportsModule)
		}
	}
	for name, b := range want {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("crds/%s: %v (run make crds)", name, err)
			continue
		}
		if string(got) != string(b) {
			t.Errorf("crds/%s differs from %s's: run make crds", name, render.ReportsModule)
		}
	}
}
