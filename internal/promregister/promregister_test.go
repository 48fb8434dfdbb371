package promregister

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
)

func TestRegister(t *testing.T) {
	reg := prometheus.NewRegistry()
	opts := prometheus.CounterOpts{Name: "pullguard_test_total", Help: "Test."}
	first, err := Register(reg, prometheus.NewCounterVec(opts, []string{"a"}))
	if err != nil {
		t.Fatal(err)
	}
	tests := map[string]struct {
		register func() (prometheus.Collector, error)
		wantErr  bool
		same     bool
	}{
		"same metric again reuses the first collector": {
			register: func() (prometheus.Collector, error) {
				return Register(reg, prometheus.NewCounterVec(opts, []string{"a"}))
			},
			same: true,
		},
		"same name with other labels is an error": {
			register: func() (prometheus.Collector, error) {
				return Register(reg, prometheus.NewCounterVec(opts, []string{"b"}))
			},
			wantErr: true,
		},
		"same name as another collector type is an error": {
			register: func() (prometheus.Collector, error) {
				return Register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: opts.Name, Help: opts.Help}, []string{"a"}))
			},
			wantErr: true,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, err := tc.register()
			if (err != nil) != tc.wantErr {
				t.Fatalf("err = %v, want error %v", err, tc.wantErr)
			}
			if tc.same && got != prometheus.Collector(first) {
				t.Error("a second registration did not return the collector already registered")
			}
		})
	}
}
