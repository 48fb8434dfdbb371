package admission

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/rest"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
)

// newManager builds a manager that is never started and never reaches an API server: the REST
// config points at a closed loopback port and the REST mapper is static.
func newManager(t *testing.T) manager.Manager {
	t.Helper()
	mapper := meta.NewDefaultRESTMapper(nil)
	for _, kind := range []string{"Namespace", "Node"} {
		mapper.Add(corev1.SchemeGroupVersion.WithKind(kind), meta.RESTScopeRoot)
	}
	for _, kind := range []string{"Secret", "ServiceAccount"} {
		mapper.Add(corev1.SchemeGroupVersion.WithKind(kind), meta.RESTScopeNamespace)
	}
	mgr, err := manager.New(&rest.Config{Host: "http://127.0.0.1:1", Timeout: time.Second}, manager.Options{
		MapperProvider:         func(*rest.Config, *http.Client) (meta.RESTMapper, error) { return mapper, nil },
		Metrics:                metricsserver.Options{BindAddress: "0"},
		HealthProbeBindAddress: "0",
	})
	if err != nil {
		t.Fatal(err)
	}
	return mgr
}

func TestSetupRegistersTheWebhookAndMetrics(t *testing.T) {
	// The registry is process-wide: count what this test adds (go test -count=2 runs it again).
	before := registryDenials(t)
	for i := range 2 {
		// A second Setup (a restarted manager in the same process) must reuse the metrics.
		mgr := newManager(t)
		if err := Setup(mgr, testConfig(enforce), badChecker()); err != nil {
			t.Fatalf("Setup #%d: %v", i+1, err)
		}
		srv := httptest.NewServer(mgr.GetWebhookServer().WebhookMux())
		resp, err := (&http.Client{Timeout: 20 * time.Second}).Post(srv.URL+Path+"?timeout=5s", "application/json",
			strings.NewReader(podReview("setup-uid", badImage)))
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		srv.Close()
	}
	if denied := registryDenials(t) - before; denied != 2 {
		t.Errorf("controller-runtime registry counted %v denials, want 2", denied)
	}
}

// registryDenials sums pullguard_admission_decisions_total{decision="deny"} on
// controller-runtime's registry.
func registryDenials(t *testing.T) float64 {
	t.Helper()
	families, err := ctrlmetrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var denied float64
	for _, f := range families {
		if f.GetName() != "pullguard_admission_decisions_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "decision" && l.GetValue() == "deny" {
					denied += m.GetCounter().GetValue()
				}
			}
		}
	}
	return denied
}

func TestSetupRejectsAnInvalidConfig(t *testing.T) {
	err := Setup(newManager(t), testConfig(func(c *Config) { c.DefaultMode = "strict" }), badChecker())
	if err == nil || !strings.Contains(err.Error(), `default mode "strict"`) {
		t.Errorf("Setup error %v, want the invalid mode named", err)
	}
}

func TestConfigValidate(t *testing.T) {
	tests := map[string]struct {
		mutate func(*Config)
		want   []string // substrings of the error; none: valid
	}{
		"defaults": {mutate: func(*Config) {}},
		"every mode": {mutate: func(c *Config) {
			c.DefaultMode, c.ExemptImages = ModeOff, []string{"registry.k8s.io/*", "nginx:?.*"}
		}},
		"bad mode":                           {mutate: func(c *Config) { c.DefaultMode = "" }, want: []string{`default mode ""`}},
		"zero budget":                        {mutate: func(c *Config) { c.MaxBudget = 0 }, want: []string{"max budget"}},
		"budget over 30s":                    {mutate: func(c *Config) { c.MaxBudget = 31 * time.Second }, want: []string{"max budget"}},
		"negative margin":                    {mutate: func(c *Config) { c.TimeoutMargin = -1 }, want: []string{"timeout margin"}},
		"negative ttl":                       {mutate: func(c *Config) { c.SecretCacheTTL = -time.Second }, want: []string{"secret cache TTL"}},
		"body over controller-runtime's cap": {mutate: func(c *Config) { c.MaxRequestBytes = 8 << 20 }, want: []string{"max request bytes"}},
		"no parallelism":                     {mutate: func(c *Config) { c.MaxConcurrentImages = 0 }, want: []string{"max concurrent images"}},
		"bad glob":                           {mutate: func(c *Config) { c.ExemptImages = []string{"nginx:["} }, want: []string{`exempt image pattern "nginx:["`}},
		"empty exemption":                    {mutate: func(c *Config) { c.ExemptGroups = []string{""} }, want: []string{"exempt group must not be empty"}},
		"autoscaled platforms":               {mutate: func(c *Config) { c.AutoscaledPlatforms = []string{"linux/arm64", "linux/arm/v7", "windows/amd64"} }},
		"autoscaled platform without an OS": {mutate: func(c *Config) { c.AutoscaledPlatforms = []string{"arm64"} },
			want: []string{`autoscaled platform: "arm64" is not os/arch`}},
		"autoscaled platform with too many parts": {mutate: func(c *Config) { c.AutoscaledPlatforms = []string{"linux/arm/v7/x"} },
			want: []string{`"linux/arm/v7/x" is not os/arch`}},
		"autoscaled platform with bad characters": {mutate: func(c *Config) { c.AutoscaledPlatforms = []string{"linux/arm 64"} },
			want: []string{`autoscaled platform: "linux/arm 64"`}},
		"all at once": {mutate: func(c *Config) { c.DefaultMode, c.MaxConcurrentImages = "x", 1000 },
			want: []string{`default mode "x"`, "max concurrent images"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			c := DefaultConfig()
			tc.mutate(&c)
			err := c.Validate().ToAggregate()
			if len(tc.want) == 0 {
				if err != nil {
					t.Errorf("unexpected error: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatalf("no error, want %q", tc.want)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
		})
	}
}
