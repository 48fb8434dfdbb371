package registry

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestMetrics(t *testing.T) {
	e := newEnv(t)
	tokenRegistry(t, e, "v1")
	reg := prometheus.NewRegistry()
	opts := e.options()
	opts.Registerer = reg
	c := e.checker(opts)
	// A second Checker on the same registry shares the collectors instead of failing.
	e.checker(opts)
	blockedOpts := opts
	blockedOpts.Egress.AllowPrivate = nil
	blocked := e.checker(blockedOpts)

	kr := keyringOf(aliceSecret())
	for range 2 {
		c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
	}
	c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:nope", Keyring: kr})
	c.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:nope", Keyring: kr})
	blocked.Check(ctxTimeout(t, 5*time.Second), Request{Image: "reg.example.com/team/app:v1"})

	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	labels := map[string]map[string]bool{}
	for _, mf := range families {
		for _, m := range mf.GetMetric() {
			var key []string
			for _, lp := range m.GetLabel() {
				if labels[mf.GetName()] == nil {
					labels[mf.GetName()] = map[string]bool{}
				}
				labels[mf.GetName()][lp.GetName()] = true
				key = append(key, lp.GetName()+"="+lp.GetValue())
			}
			v := m.GetCounter().GetValue() + float64(m.GetHistogram().GetSampleCount())
			got[mf.GetName()+"{"+strings.Join(key, ",")+"}"] = v
		}
	}
	want := map[string]float64{
		"pullguard_registry_cache_total{result=hit}":                                     1,
		"pullguard_registry_cache_total{result=negative_hit}":                            1,
		"pullguard_registry_cache_total{result=miss}":                                    3,
		"pullguard_registry_request_duration_seconds{outcome=ok}":                        1,
		"pullguard_registry_request_duration_seconds{outcome=tag_not_found}":             1,
		"pullguard_registry_request_duration_seconds{outcome=blocked_by_network_policy}": 1,
		"pullguard_registry_blocked_connections_total{reason=loopback}":                  1,
		"pullguard_registry_upstream_requests_total{kind=token}":                         1,
		"pullguard_registry_upstream_requests_total{kind=manifest_head}":                 2,
		"pullguard_registry_upstream_requests_total{kind=manifest_get}":                  1,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	wantLabels := map[string]string{
		"pullguard_registry_cache_total":               "result",
		"pullguard_registry_request_duration_seconds":  "outcome",
		"pullguard_registry_blocked_connections_total": "reason",
		"pullguard_registry_upstream_requests_total":   "kind",
	}
	for name, label := range wantLabels {
		if len(labels[name]) != 1 || !labels[name][label] {
			t.Errorf("%s has labels %v, want only %q", name, labels[name], label)
		}
	}
}
