package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

// Setup registers the webhook on mgr's webhook server at Path, the informers the handler reads
// (Namespace metadata, and Nodes slimmed to labels and taints: the manager's cache must be built
// with InformerOptions), and the metrics on controller-runtime's registry. Secrets and
// ServiceAccounts are read with GETs through mgr.GetAPIReader(), never through a cluster-wide
// watch, behind a short TTL cache.
func Setup(mgr manager.Manager, cfg Config, checker Checker) error {
	metrics, err := NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering admission metrics: %w", err)
	}
	h, err := NewHandler(cfg, checker, mgr.GetAPIReader(), mgr.GetCache(), metrics)
	if err != nil {
		return err
	}
	namespaces := &metav1.PartialObjectMetadata{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	for _, obj := range []client.Object{namespaces, &corev1.Node{}} {
		// Registered now so that they start, and sync, with the manager rather than lazily on
		// the first admission.
		if _, err := mgr.GetCache().GetInformer(context.Background(), obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("registering the %T informer: %w", obj, err)
		}
	}
	mgr.GetWebhookServer().Register(Path, h.HTTPHandler())
	return nil
}

// InformerOptions are the manager cache's per-object options Setup relies on: Nodes are held
// with their name, labels and taints only. A Node's status (images, conditions, addresses) is
// most of its size and changes every few seconds; none of it says where a pod may land.
func InformerOptions() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{&corev1.Node{}: {Transform: slimNode}}
}

func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		// Tombstones (cache.DeletedFinalStateUnknown) pass through as they are.
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Labels: n.Labels,
		},
		Spec: corev1.NodeSpec{Taints: n.Spec.Taints},
	}, nil
}

// HTTPHandler is what Setup registers at Path: the handler in controller-runtime's admission
// webhook (panics recovered, UID echoed, AdmissionReview v1 and v1beta1), with the request's
// deadline taken from the API server's ?timeout= and the body capped at MaxRequestBytes.
func (h *Handler) HTTPHandler() http.Handler {
	return h.limitBody(&admission.Webhook{Handler: h, RecoverPanic: ptr.To(true), WithContextFunc: h.withBudget})
}

// limitBody answers an oversized AdmissionReview with a clear error before anything decodes it.
// controller-runtime has its own fixed 7 MiB cap; this one makes the limit configurable.
//
// Reading the body is bounded by the admission's budget: the API server sends the whole body at
// once, so a client that trickles it is not the API server and must not hold a connection and a
// goroutine for longer than an admission may last (the server's own timeouts cover headers only).
func (h *Handler) limitBody(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Body != nil && r.Body != http.NoBody {
			rc := http.NewResponseController(w)
			// An error means the connection cannot take deadlines (e.g. an httptest recorder);
			// nothing is trickling there.
			_ = rc.SetReadDeadline(time.Now().Add(requestBudget(r.URL.Query().Get("timeout"), h.cfg.MaxBudget, h.cfg.TimeoutMargin)))
			body, err := io.ReadAll(io.LimitReader(r.Body, h.cfg.MaxRequestBytes+1))
			_ = r.Body.Close()
			// Lift the deadline again, or it would cut the next request on a kept-alive connection.
			_ = rc.SetReadDeadline(time.Time{})
			switch {
			case err != nil:
				h.badRequest(r.Context(), w, http.StatusBadRequest, fmt.Errorf("reading the AdmissionReview body: %w", err))
				return
			case int64(len(body)) > h.cfg.MaxRequestBytes:
				h.badRequest(r.Context(), w, http.StatusRequestEntityTooLarge,
					fmt.Errorf("AdmissionReview body is larger than the %d-byte limit of the pullguard webhook", h.cfg.MaxRequestBytes))
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(body))
		}
		next.ServeHTTP(w, r)
	})
}

// badRequest answers like controller-runtime does: HTTP 200 with the real code in the
// AdmissionReview's status. No UID can be echoed: the body was not decoded.
func (h *Handler) badRequest(ctx context.Context, w http.ResponseWriter, code int32, err error) {
	logf.FromContext(ctx).Error(err, "rejecting an AdmissionReview")
	h.metrics.observe(&record{mode: modeUnknown, kind: kindOther, decision: decisionError, reason: reasonBadRequest}, 0)
	resp := admission.Errored(code, err)
	review := admissionv1.AdmissionReview{
		TypeMeta: metav1.TypeMeta{APIVersion: admissionv1.SchemeGroupVersion.String(), Kind: "AdmissionReview"},
		Response: &resp.AdmissionResponse,
	}
	w.Header().Set("Content-Type", "application/json")
	if err := json.NewEncoder(w).Encode(review); err != nil {
		logf.FromContext(ctx).Error(err, "writing the AdmissionReview response")
	}
}

type budgetKey struct{}

// budget is the time the handler may spend on one admission, fixed when the request arrives.
type budget struct {
	deadline time.Time
	budget   time.Duration
}

// withBudget is the webhook's WithContextFunc. The deadline is only recorded here; Handle
// applies it, so that its cancel func is called (a context.WithTimeout here could not be).
func (h *Handler) withBudget(ctx context.Context, r *http.Request) context.Context {
	b := requestBudget(r.URL.Query().Get("timeout"), h.cfg.MaxBudget, h.cfg.TimeoutMargin)
	return context.WithValue(ctx, budgetKey{}, budget{deadline: time.Now().Add(b), budget: b})
}

// requestBudget is min(maxBudget, timeout-margin) for the API server's ?timeout= ("10s", set
// by client-go from the webhook's timeoutSeconds), or maxBudget without one. A margin as large
// as the timeout itself would leave nothing, so at least half the timeout is kept.
func requestBudget(timeout string, maxBudget, margin time.Duration) time.Duration {
	t, err := time.ParseDuration(timeout)
	if err != nil || t <= 0 {
		return maxBudget
	}
	b := max(t-margin, t/2)
	if b <= 0 {
		// t/2 rounds a 1ns timeout down to nothing; the timeout itself is then the budget.
		b = t
	}
	return min(maxBudget, b)
}

func budgetFrom(ctx context.Context, maxBudget time.Duration) budget {
	if b, ok := ctx.Value(budgetKey{}).(budget); ok {
		return b
	}
	return budget{deadline: time.Now().Add(maxBudget), budget: maxBudget}
}
