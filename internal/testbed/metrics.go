package testbed

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Metric sums every sample of a counter or gauge on the program's /metrics (0 when the family has
// no samples yet). It scrapes like Prometheus would: HTTPS, with the bearer token of a
// ServiceAccount bound to the shipped pullguard-metrics-reader ClusterRole.
func (w *InProcess) Metric(ctx context.Context, name string) (float64, error) {
	return w.MetricWhere(ctx, name, nil)
}

// MetricWhere is Metric over the samples whose labels include every pair of labels.
func (w *InProcess) MetricWhere(ctx context.Context, name string, labels map[string]string) (float64, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+w.MetricsAddr+"/metrics", nil)
	if err != nil {
		return 0, fmt.Errorf("building the metrics request: %w", err)
	}
	req.Header.Set("Authorization", "Bearer "+w.MetricsToken)
	// controller-runtime's metrics server makes a self-signed certificate when it starts, so
	// there is no CA to trust; on loopback, the token is what this test checks.
	c := &http.Client{Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}} //nolint:gosec // see above
	defer c.CloseIdleConnections()
	resp, err := c.Do(req)
	if err != nil {
		return 0, fmt.Errorf("scraping the webhook metrics: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("scraping the webhook metrics: HTTP %d", resp.StatusCode)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return 0, fmt.Errorf("parsing the webhook metrics: %w", err)
	}
	var sum float64
	for _, m := range families[name].GetMetric() {
		if hasLabels(m.GetLabel(), labels) {
			sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
		}
	}
	return sum, nil
}

func hasLabels(pairs []*dto.LabelPair, want map[string]string) bool {
	n := 0
	for _, p := range pairs {
		if v, ok := want[p.GetName()]; ok && v == p.GetValue() {
			n++
		}
	}
	return n == len(want)
}

// metricsScraper is the ServiceAccount the bed scrapes the webhook's metrics as.
const metricsScraper = "pullguard-metrics-scraper"

// metricsToken binds a ServiceAccount in namespace to the shipped metrics reader role and returns
// a token for it: what an operator does for Prometheus.
func metricsToken(ctx context.Context, c kubernetes.Interface, namespace string) (string, error) {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: metricsScraper, Namespace: namespace}}
	if _, err := c.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("creating the metrics scraper's service account: %w", err)
	}
	binding := &rbacv1.ClusterRoleBinding{
		ObjectMeta: metav1.ObjectMeta{Name: metricsScraper},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: "pullguard-metrics-reader"},
		Subjects:   []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: metricsScraper, Namespace: namespace}},
	}
	if _, err := c.RbacV1().ClusterRoleBindings().Create(ctx, binding, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return "", fmt.Errorf("binding the metrics reader role: %w", err)
	}
	tr, err := c.CoreV1().ServiceAccounts(namespace).CreateToken(ctx, metricsScraper, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{ExpirationSeconds: ptr.To[int64](3600)},
	}, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("requesting the metrics scraper's token: %w", err)
	}
	return tr.Status.Token, nil
}
