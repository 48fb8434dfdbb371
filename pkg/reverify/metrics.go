package reverify

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/promregister"
	"github.com/pullguard/pullguard/pkg/registry"
)

// Metrics are the re-verifier's, every label from a closed set.
type Metrics struct {
	workloads    *prometheus.GaugeVec   // result, kind
	images       *prometheus.CounterVec // result
	requests     *prometheus.CounterVec // outcome, class
	scanDuration prometheus.Histogram
	lastScan     prometheus.Gauge
}

// NewMetrics registers the metrics with reg (nil: not registered, for tests).
func NewMetrics(reg prometheus.Registerer) (*Metrics, error) {
	m := &Metrics{
		workloads: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "pullguard_reverify_workloads",
			Help: "Workloads by their worst result at the last check (pass, warn, fail) and kind."}, []string{"result", "kind"}),
		images: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pullguard_reverify_images_checked_total",
			Help: "Image fields checked, by result."}, []string{"result"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "pullguard_reverify_registry_checks_total",
			Help: "Distinct images the scanner asked the registry engine about (after de-duplication), by outcome and class."}, []string{"outcome", "class"}),
		scanDuration: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "pullguard_reverify_scan_duration_seconds",
			Help: "Duration of a full scan.", Buckets: prometheus.ExponentialBuckets(1, 2, 14)}),
		lastScan: prometheus.NewGauge(prometheus.GaugeOpts{Name: "pullguard_reverify_last_successful_scan_timestamp_seconds",
			Help: "Unix time the last full scan ended without error."}),
	}
	if reg == nil {
		return m, nil
	}
	// A second scanner in the same process (tests, `make demo`) counts into the first one's
	// series instead of failing on a duplicate registration.
	var err error
	if m.workloads, err = promregister.Register(reg, m.workloads); err != nil {
		return nil, err
	}
	if m.images, err = promregister.Register(reg, m.images); err != nil {
		return nil, err
	}
	if m.requests, err = promregister.Register(reg, m.requests); err != nil {
		return nil, err
	}
	if m.scanDuration, err = promregister.Register(reg, m.scanDuration); err != nil {
		return nil, err
	}
	if m.lastScan, err = promregister.Register(reg, m.lastScan); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *Metrics) request(v registry.Verdict) {
	m.requests.WithLabelValues(v.Outcome.String(), string(v.Class)).Inc()
}
