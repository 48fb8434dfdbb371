package installcheck

import (
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/pullguard/pullguard/pkg/admission"
)

// rules are the resources the webhook intercepts, per API group: every kind whose pods it checks.
var rules = map[string][]string{
	"":      {"pods", "pods/ephemeralcontainers", "replicationcontrollers"},
	"apps":  {"daemonsets", "deployments", "replicasets", "statefulsets"},
	"batch": {"cronjobs", "jobs"},
}

// Webhook returns the install's only webhook.
func Webhook(t testing.TB, o Objects, in Install) admissionregistrationv1.ValidatingWebhook {
	t.Helper()
	vwc := Get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, o, "ValidatingWebhookConfiguration", "", in.WebhookConfiguration)
	if len(vwc.Webhooks) != 1 {
		t.Fatalf("%d webhooks, want 1", len(vwc.Webhooks))
	}
	return vwc.Webhooks[0]
}

// ptrString prints an optional field for a failure message.
func ptrString[T any](p *T) string {
	if p == nil {
		return "<unset>"
	}
	return fmt.Sprint(*p)
}

func checkWebhook(t *testing.T, o Objects, in Install) {
	wh := Webhook(t, o, in)
	if wh.Name != WebhookName {
		t.Errorf("name %q, want %q", wh.Name, WebhookName)
	}
	if wh.FailurePolicy == nil || *wh.FailurePolicy != in.FailurePolicy {
		t.Errorf("failurePolicy %s, want %s", ptrString(wh.FailurePolicy), in.FailurePolicy)
	}
	if wh.SideEffects == nil || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone {
		t.Errorf("sideEffects %s, want None (dry-run requests are sent)", ptrString(wh.SideEffects))
	}
	// The webhook's own budget plus its margin must fit in the API server's timeout, so a slow
	// registry ends in the webhook's decision rather than in a failed call. The Deployment
	// leaves both at their defaults.
	cfg := admission.DefaultConfig()
	if wh.TimeoutSeconds == nil || *wh.TimeoutSeconds != 10 || time.Duration(*wh.TimeoutSeconds)*time.Second < cfg.MaxBudget+cfg.TimeoutMargin {
		t.Errorf("timeoutSeconds %s, want 10, at least the webhook's budget %v + margin %v",
			ptrString(wh.TimeoutSeconds), cfg.MaxBudget, cfg.TimeoutMargin)
	}
	if wh.MatchPolicy == nil || *wh.MatchPolicy != admissionregistrationv1.Equivalent {
		t.Errorf("matchPolicy %s, want Equivalent", ptrString(wh.MatchPolicy))
	}
	if !slices.Equal(wh.AdmissionReviewVersions, []string{"v1"}) {
		t.Errorf("admissionReviewVersions %q, want [v1]", wh.AdmissionReviewVersions)
	}
	// An objectSelector would let anyone who can label an object skip the check.
	if wh.ObjectSelector != nil && (len(wh.ObjectSelector.MatchLabels) > 0 || len(wh.ObjectSelector.MatchExpressions) > 0) {
		t.Errorf("objectSelector %+v, want none", wh.ObjectSelector)
	}
	if len(wh.MatchConditions) != 1 || wh.MatchConditions[0].Name != "not-a-mirror-pod" {
		t.Errorf("matchConditions %+v, want not-a-mirror-pod", wh.MatchConditions)
	}
}

func checkClientConfig(t *testing.T, o Objects, in Install) {
	wh := Webhook(t, o, in)
	ref := wh.ClientConfig.Service
	if ref == nil || wh.ClientConfig.URL != nil {
		t.Fatalf("clientConfig %+v, want a Service and no URL", wh.ClientConfig)
	}
	if ref.Namespace != in.Namespace || ref.Name != in.Name {
		t.Errorf("service %s/%s, want %s/%s", ref.Namespace, ref.Name, in.Namespace, in.Name)
	}
	// envtest rewrites a service reference to a URL only when it has a path.
	if ref.Path == nil || *ref.Path != admission.Path {
		t.Errorf("path %s, want %s, where the webhook serves", ptrString(ref.Path), admission.Path)
	}
	if ref.Port == nil || *ref.Port != 443 {
		t.Fatalf("port %s, want 443", ptrString(ref.Port))
	}
	svc := Get[*corev1.Service](t, o, "Service", ref.Namespace, ref.Name)
	if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == *ref.Port }) {
		t.Errorf("Service %s/%s has no port %d", ref.Namespace, ref.Name, *ref.Port)
	}
	// A caBundle is filled in per cluster (by cert-manager's cainjector), unless the install was
	// given one.
	if string(wh.ClientConfig.CABundle) != in.CABundle {
		t.Errorf("caBundle %q, want %q", wh.ClientConfig.CABundle, in.CABundle)
	}
}

func checkRules(t *testing.T, o Objects, in Install) {
	got := map[string][]string{}
	for _, rule := range Webhook(t, o, in).Rules {
		ops := slices.Sorted(slices.Values(rule.Operations))
		if !slices.Equal(ops, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}) {
			t.Errorf("rule %v: operations %q, want CREATE and UPDATE only", rule.Resources, rule.Operations)
		}
		if !slices.Equal(rule.APIVersions, []string{"v1"}) || rule.Scope == nil || *rule.Scope != admissionregistrationv1.NamespacedScope {
			t.Errorf("rule %v: apiVersions %q scope %s, want [v1] Namespaced", rule.Resources, rule.APIVersions, ptrString(rule.Scope))
		}
		for _, group := range rule.APIGroups {
			got[group] = append(got[group], rule.Resources...)
		}
	}
	for group := range got {
		slices.Sort(got[group])
	}
	if !maps.EqualFunc(got, rules, slices.Equal) {
		t.Errorf("intercepted resources %v, want %v", got, rules)
	}
}

func checkNamespaceSelector(t *testing.T, o Objects, in Install) {
	wh := Webhook(t, o, in)
	sel, err := metav1.LabelSelectorAsSelector(wh.NamespaceSelector)
	if err != nil {
		t.Fatalf("namespaceSelector: %v", err)
	}
	// The API server labels every namespace with its name; the selector sees only labels. The
	// cluster's own namespaces and the webhook's are never intercepted.
	tests := map[string]bool{"default": true, "team-a": true, "kube-system": false, "kube-node-lease": false, in.Namespace: false}
	for ns, want := range tests {
		if got := sel.Matches(labels.Set{corev1.LabelMetadataName: ns}); got != want {
			t.Errorf("namespace %s intercepted = %v, want %v", ns, got, want)
		}
	}
	// Any other label could be set by a namespace owner to opt out.
	for _, req := range wh.NamespaceSelector.MatchExpressions {
		if req.Key != corev1.LabelMetadataName {
			t.Errorf("namespaceSelector uses label %s, which namespace owners can change", req.Key)
		}
	}
}
