package testbed

import (
	"bytes"
	"context"
	"fmt"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"k8s.io/client-go/kubernetes"
)

// WebhookMetrics are the API server's own counters for one webhook.
type WebhookMetrics struct {
	// CallErrors is apiserver_admission_webhook_rejection_count{error_type="calling_webhook_error"}:
	// calls that failed or timed out and were decided by the failure policy, not the webhook.
	CallErrors float64
	// FailOpen is apiserver_admission_webhook_fail_open_count: failed calls admitted by Ignore.
	FailOpen float64
	// Requests is apiserver_admission_webhook_request_total.
	Requests float64
}

// Sub is m - o.
func (m WebhookMetrics) Sub(o WebhookMetrics) WebhookMetrics {
	return WebhookMetrics{CallErrors: m.CallErrors - o.CallErrors, FailOpen: m.FailOpen - o.FailOpen, Requests: m.Requests - o.Requests}
}

// ScrapeWebhookMetrics reads the API server's /metrics, through c, for the webhook named webhook:
// what the API server itself counts of its calls, which the webhook's own metrics cannot show.
func ScrapeWebhookMetrics(ctx context.Context, c kubernetes.Interface, webhook string) (WebhookMetrics, error) {
	raw, err := c.CoreV1().RESTClient().Get().AbsPath("/metrics").DoRaw(ctx)
	if err != nil {
		return WebhookMetrics{}, fmt.Errorf("scraping the API server's metrics: %w", err)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return WebhookMetrics{}, fmt.Errorf("parsing the API server's metrics: %w", err)
	}
	var m WebhookMetrics
	sum := func(family string, match map[string]string) float64 {
		f, ok := families[family]
		if !ok {
			return 0
		}
		var total float64
	metrics:
		for _, metric := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range metric.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			for k, v := range match {
				if labels[k] != v {
					continue metrics
				}
			}
			total += metric.GetCounter().GetValue()
		}
		return total
	}
	m.CallErrors = sum("apiserver_admission_webhook_rejection_count", map[string]string{"name": webhook, "error_type": "calling_webhook_error"})
	m.FailOpen = sum("apiserver_admission_webhook_fail_open_count", map[string]string{"name": webhook})
	m.Requests = sum("apiserver_admission_webhook_request_total", map[string]string{"name": webhook})
	return m, nil
}
