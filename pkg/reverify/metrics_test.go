package reverify

import (
	"os"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

// TestAlertsSelectExportedMetrics: every pullguard_reverify_ series the chart's PrometheusRule
// selects is one NewMetrics registers (the chart's own test only knows the names it lists).
func TestAlertsSelectExportedMetrics(t *testing.T) {
	rule, err := os.ReadFile(filepath.Join("..", "..", "charts", "pullguard", "templates", "monitoring", "prometheusrule.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	// Vectors are gathered only once they have a series.
	m.workloads.WithLabelValues("fail", "Deployment").Set(0)
	m.images.WithLabelValues("fail")
	m.requests.WithLabelValues("pullable", "")
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	exported := map[string]bool{}
	for _, f := range families {
		exported[f.GetName()] = true
	}
	used := regexp.MustCompile(`pullguard_reverify_[a-z_]+`).FindAllString(string(rule), -1)
	if len(used) == 0 {
		t.Fatal("the PrometheusRule selects no pullguard_reverify_ series")
	}
	for _, name := range used {
		if !exported[name] {
			t.Errorf("the chart's alerts select %s, which the re-verifier does not export", name)
		}
	}
}

// TestNewMetricsTwice: a second scanner in one process shares the first one's series.
func TestNewMetricsTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	a, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	b, err := NewMetrics(reg)
	if err != nil {
		t.Fatalf("second NewMetrics = %v", err)
	}
	if a.lastScan != b.lastScan {
		t.Error("the second scanner's gauge is not the first one's")
	}
}
