package render_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/common/model"
	"github.com/prometheus/prometheus/model/rulefmt"
	"github.com/prometheus/prometheus/promql/parser"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/internal/installcheck"
)

// knownMetrics are the series the alerts and the dashboard may read: the webhook's own (README
// "Metrics"), controller-runtime's certificate watcher, the API server's admission metrics,
// cert-manager's certificate metrics, Go runtime metrics and Prometheus's up.
var knownMetrics = map[string]bool{
	"pullguard_admission_decisions_total":                  true,
	"pullguard_admission_findings_total":                   true,
	"pullguard_admission_duration_seconds_bucket":          true,
	"pullguard_registry_request_duration_seconds_bucket":   true,
	"pullguard_registry_cache_total":                       true,
	"pullguard_registry_upstream_requests_total":           true,
	"pullguard_registry_blocked_connections_total":         true,
	"certwatcher_read_certificate_errors_total":            true,
	"apiserver_admission_webhook_rejection_count":          true,
	"apiserver_admission_webhook_fail_open_count":          true,
	"certmanager_certificate_expiration_timestamp_seconds": true,
	"certmanager_certificate_ready_status":                 true,
	"go_memstats_heap_inuse_bytes":                         true,
	"up":                                                   true,
	// The re-verifier's (prefix pullguard_reverify_): workloads by result, and when a scan last
	// completed.
	"pullguard_reverify_workloads":                              true,
	"pullguard_reverify_last_successful_scan_timestamp_seconds": true,
}

var promql = parser.NewParser(parser.Options{})

// checkExpr parses a PromQL expression and checks that every series it selects is known.
func checkExpr(t *testing.T, where, expr string) {
	t.Helper()
	e, err := promql.ParseExpr(expr)
	if err != nil {
		t.Errorf("%s: %q does not parse: %v", where, expr, err)
		return
	}
	parser.Inspect(e, func(node parser.Node, _ []parser.Node) error {
		if vs, ok := node.(*parser.VectorSelector); ok && !knownMetrics[vs.Name] {
			t.Errorf("%s: selects %q, which nothing exports", where, vs.Name)
		}
		return nil
	})
}

func monitoringInstall(failurePolicy string) render.Options {
	values := map[string]any{
		"metrics": map[string]any{
			"serviceMonitor": map[string]any{"enabled": true},
			"prometheusRule": map[string]any{"enabled": true},
			"dashboard":      map[string]any{"enabled": true},
		},
		"webhook": map[string]any{"failurePolicy": failurePolicy},
	}
	if failurePolicy == "Fail" {
		values["replicaCount"] = 3
		values["podDisruptionBudget"] = map[string]any{"minAvailable": 2}
	}
	return render.Options{Values: values, APIVersions: []string{render.CertManagerAPI}}
}

func TestPrometheusRule(t *testing.T) {
	wantAlerts := []string{
		"PullguardAdmissionErrors", "PullguardAdmissionSlow", "PullguardCertificateExpiringSoon",
		"PullguardCertificateNotReady", "PullguardCertificateReloadFailing", "PullguardDenyRateHigh",
		"PullguardDown", "PullguardNetworkGuardBlocking", "PullguardUnverifiableHigh", "PullguardWebhookCallsFailing",
	}
	for _, policy := range []string{"Ignore", "Fail"} {
		t.Run("failurePolicy "+policy, func(t *testing.T) {
			r := renderChart(t, monitoringInstall(policy))
			rule := installcheck.Get[*unstructured.Unstructured](t, r, "PrometheusRule", "pullguard-system", "pullguard-webhook")
			spec, err := yaml.Marshal(rule.Object["spec"])
			if err != nil {
				t.Fatal(err)
			}
			// Prometheus's own rule file parser: unknown fields, bad durations, bad templates in
			// annotations and expressions that do not parse are all errors.
			groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
			for _, err := range errs {
				t.Errorf("rulefmt: %v", err)
			}
			if groups == nil {
				t.FailNow()
			}
			var alerts []string
			for _, g := range groups.Groups {
				for _, rl := range g.Rules {
					alerts = append(alerts, rl.Alert)
					checkExpr(t, rl.Alert, rl.Expr)
					if sev := rl.Labels["severity"]; !slices.Contains([]string{"critical", "warning", "info"}, sev) {
						t.Errorf("%s: severity %q", rl.Alert, sev)
					}
					if rl.Annotations["summary"] == "" || rl.Annotations["description"] == "" {
						t.Errorf("%s: summary or description missing", rl.Alert)
					}
					if rl.Alert == "PullguardWebhookCallsFailing" {
						want := map[string]string{"Ignore": "warning", "Fail": "critical"}[policy]
						if rl.Labels["severity"] != want {
							t.Errorf("%s: severity %s with failurePolicy %s, want %s", rl.Alert, rl.Labels["severity"], policy, want)
						}
						// Both ways the API server counts a failed call, and the webhook by name.
						for _, s := range []string{`error_type="calling_webhook_error"`, "apiserver_admission_webhook_fail_open_count", `name="images.pullguard.io"`} {
							if !strings.Contains(rl.Expr, s) {
								t.Errorf("%s: expression %q lacks %s", rl.Alert, rl.Expr, s)
							}
						}
					}
				}
			}
			slices.Sort(alerts)
			if !slices.Equal(alerts, wantAlerts) {
				t.Errorf("alerts %q, want %q", alerts, wantAlerts)
			}
		})
	}
}

func TestServiceMonitor(t *testing.T) {
	r := renderChart(t, monitoringInstall("Ignore"))
	sm := installcheck.Get[*unstructured.Unstructured](t, r, "ServiceMonitor", "pullguard-system", "pullguard-webhook")
	svc := installcheck.Get[*corev1.Service](t, r, "Service", "pullguard-system", "pullguard-webhook")
	sel, _, _ := unstructured.NestedStringMap(sm.Object, "spec", "selector", "matchLabels")
	if len(sel) == 0 || !labels.SelectorFromSet(sel).Matches(labels.Set(svc.Labels)) {
		t.Errorf("selector %v does not select the Service (labels %v)", sel, svc.Labels)
	}
	names, _, _ := unstructured.NestedStringSlice(sm.Object, "spec", "namespaceSelector", "matchNames")
	if !slices.Equal(names, []string{svc.Namespace}) {
		t.Errorf("namespaceSelector %v, want [%s]", names, svc.Namespace)
	}
	endpoints, _, _ := unstructured.NestedSlice(sm.Object, "spec", "endpoints")
	if len(endpoints) != 1 {
		t.Fatalf("endpoints %v, want one", endpoints)
	}
	ep := endpoints[0].(map[string]any)
	want := map[string]any{
		"port": "metrics", "path": "/metrics", "scheme": "https", "interval": "30s",
		"bearerTokenFile": "/var/run/secrets/kubernetes.io/serviceaccount/token",
		"tlsConfig":       map[string]any{"insecureSkipVerify": true},
	}
	if !maps.EqualFunc(ep, want, func(a, b any) bool { return jsonEqual(a, b) }) {
		t.Errorf("endpoint %v, want %v", ep, want)
	}
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "metrics" }) {
		t.Error("the Service has no port named metrics")
	}

	// With a token Secret, authorization replaces the file, and plain HTTP drops both.
	opts := monitoringInstall("Ignore")
	opts.Values["metrics"].(map[string]any)["serviceMonitor"] = map[string]any{"enabled": true, "bearerTokenSecret": map[string]any{"name": "scraper", "key": "token"}}
	sm = installcheck.Get[*unstructured.Unstructured](t, renderChart(t, opts), "ServiceMonitor", "pullguard-system", "pullguard-webhook")
	ep = sm.Object["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
	wantAuth := map[string]any{"type": "Bearer", "credentials": map[string]any{"name": "scraper", "key": "token"}}
	if !jsonEqual(ep["authorization"], wantAuth) || ep["bearerTokenFile"] != nil {
		t.Errorf("endpoint %v, want authorization %v and no bearerTokenFile", ep, wantAuth)
	}
	opts.Values["metrics"].(map[string]any)["secure"] = false
	sm = installcheck.Get[*unstructured.Unstructured](t, renderChart(t, opts), "ServiceMonitor", "pullguard-system", "pullguard-webhook")
	ep = sm.Object["spec"].(map[string]any)["endpoints"].([]any)[0].(map[string]any)
	if ep["scheme"] != "http" || ep["authorization"] != nil || ep["tlsConfig"] != nil {
		t.Errorf("plain HTTP endpoint %v", ep)
	}
}

func TestDashboard(t *testing.T) {
	r := renderChart(t, monitoringInstall("Ignore"))
	cm := installcheck.Get[*corev1.ConfigMap](t, r, "ConfigMap", "pullguard-system", "pullguard-dashboard")
	if cm.Labels["grafana_dashboard"] != "1" {
		t.Errorf("labels %v lack grafana_dashboard=1 (the Grafana sidecar's default)", cm.Labels)
	}
	var dash struct {
		UID    string `json:"uid"`
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal([]byte(cm.Data["pullguard.json"]), &dash); err != nil {
		t.Fatalf("dashboard JSON: %v", err)
	}
	if dash.UID == "" || len(dash.Panels) < 8 {
		t.Errorf("dashboard uid %q with %d panels", dash.UID, len(dash.Panels))
	}
	// Grafana's variables, substituted as Grafana would before sending the query.
	vars := strings.NewReplacer("$__rate_interval", "5m", "$namespace", "pullguard-system", "$job", ".*")
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, target := range p.Targets {
			checkExpr(t, p.Title, vars.Replace(target.Expr))
		}
	}
}

func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	return errA == nil && errB == nil && string(ja) == string(jb)
}

// TestReverifierMonitoring: with the re-verifier on, the PrometheusRule gains its alerts (parsed
// by Prometheus's rule parser, selecting its metrics in the release namespace) and a PodMonitor
// scrapes its pods with the token given.
func TestReverifierMonitoring(t *testing.T) {
	opts := monitoringInstall("Ignore")
	opts.Values["reverifier"] = map[string]any{"enabled": true, "scanInterval": "30m", "podMonitor": map[string]any{"enabled": true}}
	opts.Values["metrics"].(map[string]any)["serviceMonitor"] = map[string]any{"enabled": true, "bearerTokenSecret": map[string]any{"name": "prom-token", "key": "token"}}
	r := renderChart(t, opts)
	rule := installcheck.Get[*unstructured.Unstructured](t, r, "PrometheusRule", "pullguard-system", "pullguard-webhook")
	spec, err := yaml.Marshal(rule.Object["spec"])
	if err != nil {
		t.Fatal(err)
	}
	groups, errs := rulefmt.Parse(spec, false, model.UTF8Validation, promql, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for _, err := range errs {
		t.Errorf("rulefmt: %v", err)
	}
	if groups == nil {
		t.FailNow()
	}
	var alerts []string
	for _, g := range groups.Groups {
		if g.Name != "pullguard.reverifier" {
			continue
		}
		for _, rl := range g.Rules {
			alerts = append(alerts, rl.Alert)
			checkExpr(t, rl.Alert, rl.Expr)
			if !strings.Contains(rl.Expr, `pullguard_reverify_`) || !strings.Contains(rl.Expr, `namespace="pullguard-system"`) {
				t.Errorf("%s: %q does not select the re-verifier's metrics in its namespace", rl.Alert, rl.Expr)
			}
			if rl.Alert == "PullguardReverifyScanStale" && (!strings.Contains(rl.Expr, "[30m]") || rl.For.String() != "30m") {
				t.Errorf("%s: %q for %s, want the scan interval 30m", rl.Alert, rl.Expr, rl.For)
			}
		}
	}
	if want := []string{"PullguardReverifyImagesWillNotPull", "PullguardReverifyScanStale"}; !slices.Equal(alerts, want) {
		t.Errorf("re-verifier alerts %q, want %q", alerts, want)
	}
	pm := installcheck.Get[*unstructured.Unstructured](t, r, "PodMonitor", "pullguard-system", "pullguard-reverify")
	sel, _, _ := unstructured.NestedStringMap(pm.Object, "spec", "selector", "matchLabels")
	if sel["app.kubernetes.io/component"] != "reverifier" {
		t.Errorf("PodMonitor selects %v, want the re-verifier's pods", sel)
	}
	eps, _, _ := unstructured.NestedSlice(pm.Object, "spec", "podMetricsEndpoints")
	if len(eps) != 1 {
		t.Fatalf("podMetricsEndpoints %v", eps)
	}
	ep := eps[0].(map[string]any)
	if name, _, _ := unstructured.NestedString(ep, "authorization", "credentials", "name"); ep["scheme"] != "https" || ep["port"] != "metrics" || name != "prom-token" {
		t.Errorf("endpoint %v, want https on metrics with the token Secret prom-token", ep)
	}
}
