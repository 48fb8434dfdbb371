package registry

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/internal/promregister"
)

// Cache results counted in pullguard_registry_cache_total.
const (
	cacheHit         = "hit"
	cacheMiss        = "miss"
	cacheNegativeHit = "negative_hit"
	cacheStale       = "stale"
)

// Upstream request kinds counted in pullguard_registry_upstream_requests_total.
const (
	kindManifestHead = "manifest_head"
	kindManifestGet  = "manifest_get"
	kindToken        = "token"
	kindOther        = "other"
)

// metrics holds the engine's collectors. Every label value comes from a closed set (Class,
// the constants above, egress block reasons), never from a host, repository or image, because
// those are chosen by whoever creates a pod and would make cardinality unbounded.
type metrics struct {
	duration *prometheus.HistogramVec
	cache    *prometheus.CounterVec
	blocked  *prometheus.CounterVec
	upstream *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "pullguard_registry_request_duration_seconds",
			Help:    "Time to a verdict for checks that reached a registry, by verdict class.",
			Buckets: []float64{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10},
		}, []string{"outcome"}),
		cache: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_registry_cache_total",
			Help: "Verdict cache lookups by result (hit, miss, negative_hit, stale).",
		}, []string{"result"}),
		blocked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_registry_blocked_connections_total",
			Help: "Outbound registry connections refused by the network guard, by reason.",
		}, []string{"reason"}),
		upstream: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "pullguard_registry_upstream_requests_total",
			Help: "HTTP round trips sent to registries and token services, retries included, by kind.",
		}, []string{"kind"}),
	}
	// Pre-create the series so that rates are defined before the first event.
	for _, c := range Classes {
		m.duration.WithLabelValues(string(c))
	}
	for _, r := range []string{cacheHit, cacheMiss, cacheNegativeHit, cacheStale} {
		m.cache.WithLabelValues(r)
	}
	for _, k := range []string{kindManifestHead, kindManifestGet, kindToken, kindOther} {
		m.upstream.WithLabelValues(k)
	}
	if reg == nil {
		return m, nil
	}
	var err error
	if m.duration, err = promregister.Register(reg, m.duration); err != nil {
		return nil, fmt.Errorf("registering registry metrics: %w", err)
	}
	if m.cache, err = promregister.Register(reg, m.cache); err != nil {
		return nil, fmt.Errorf("registering registry metrics: %w", err)
	}
	if m.blocked, err = promregister.Register(reg, m.blocked); err != nil {
		return nil, fmt.Errorf("registering registry metrics: %w", err)
	}
	if m.upstream, err = promregister.Register(reg, m.upstream); err != nil {
		return nil, fmt.Errorf("registering registry metrics: %w", err)
	}
	return m, nil
}

// Blocked implements egress.Metrics.
func (m *metrics) Blocked(reason string) { m.blocked.WithLabelValues(reason).Inc() }
