package admission

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"path"
	"runtime/debug"
	"slices"
	"time"

	"github.com/go-logr/logr"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/utils/clock"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// Handler answers AdmissionReviews. It has no side effects: it writes nothing to the API server
// and records no Events, so a dryRun request gets exactly the same treatment as a real one.
type Handler struct {
	cfg     Config
	checker Checker
	objects *objectCache
	// keyrings holds the keyrings built from the pull secrets objects serves.
	keyrings *keyringCache
	// informers serves Namespace metadata and slimmed Nodes (see InformerOptions).
	informers client.Reader
	metrics   *Metrics

	exemptNamespaces, exemptUsers, exemptGroups sets.Set[string]
	autoscaledPlatforms                         []ocispec.Platform
}

var _ admission.Handler = (*Handler)(nil)

// NewHandler builds the handler behind Setup. apiReader serves Secret and ServiceAccount GETs
// (uncached: the handler caches them itself, briefly); informers serves PartialObjectMetadata of
// Namespaces and corev1.Nodes, typically from the informer cache InformerOptions configures.
// metrics may be nil.
func NewHandler(cfg Config, checker Checker, apiReader, informers client.Reader, metrics *Metrics) (*Handler, error) {
	if err := cfg.Validate().ToAggregate(); err != nil {
		return nil, fmt.Errorf("invalid admission config: %w", err)
	}
	if checker == nil || apiReader == nil || informers == nil {
		return nil, errors.New("admission handler needs a checker, an API reader and an informer reader")
	}
	autoscaled := make([]ocispec.Platform, len(cfg.AutoscaledPlatforms))
	for i, p := range cfg.AutoscaledPlatforms {
		// Validate parsed them already.
		autoscaled[i], _ = parsePlatform(p)
	}
	if metrics == nil {
		var err error
		if metrics, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	return &Handler{
		cfg:                 cfg,
		checker:             checker,
		objects:             newObjectCache(apiReader, cfg, clock.RealClock{}),
		keyrings:            newKeyringCache(cfg, clock.RealClock{}),
		informers:           informers,
		metrics:             metrics,
		exemptNamespaces:    sets.New(cfg.ExemptNamespaces...),
		exemptUsers:         sets.New(cfg.ExemptUsers...),
		exemptGroups:        sets.New(cfg.ExemptGroups...),
		autoscaledPlatforms: autoscaled,
	}, nil
}

// finding is the answer for one image at one field path that the user should hear about.
type finding struct {
	path    string
	image   string
	outcome registry.Outcome
	reason  string
	message string
	// detail is the message without its fix, for a warning too long to carry both.
	detail string
}

// outcome collects what one admission found before the mode turns it into a response.
type outcome struct {
	findings []finding
	// notes become warnings in warn and enforce modes only.
	notes []string
	// configWarnings are about the webhook's own configuration (an unknown kind, a bad mode
	// label): they are returned in every mode, since nobody else will tell the operator.
	configWarnings []string
}

// Handle implements admission.Handler.
func (h *Handler) Handle(ctx context.Context, req admission.Request) (resp admission.Response) {
	start := time.Now()
	rec := &record{mode: modeUnknown, kind: kindLabel(req.Kind)}
	defer func() {
		if r := recover(); r != nil {
			resp = h.panicResponse(ctx, r, debug.Stack())
			rec.decision, rec.reason = decisionError, reasonPanic
		}
		// controller-runtime also sets the UID, except after a panic it recovered itself.
		resp.UID = req.UID
		elapsed := time.Since(start)
		h.metrics.observe(rec, elapsed)
		// The arguments are boxed even when the level is off: ask first.
		if log := requestLogger(ctx).V(1); log.Enabled() {
			log.Info("admission decision", "decision", rec.decision, "mode", rec.mode,
				"reason", rec.reason, "images", rec.images, "dryRun", ptrTrue(req.DryRun), "durationMs", elapsed.Milliseconds())
		}
	}()
	return h.admit(ctx, req, rec)
}

func (h *Handler) admit(ctx context.Context, req admission.Request, rec *record) admission.Response {
	budget := budgetFrom(ctx, h.cfg.MaxBudget)
	ctx, cancel := context.WithDeadline(ctx, budget.deadline)
	defer cancel()

	if req.Operation != admissionv1.Create && req.Operation != admissionv1.Update {
		return skip(rec, reasonIgnored)
	}
	gvk := schema.GroupVersionKind(req.Kind)
	isPod := gvk == corev1.SchemeGroupVersion.WithKind("Pod")
	if req.SubResource != "" && (!isPod || req.SubResource != "ephemeralcontainers") {
		return skip(rec, reasonIgnored)
	}

	var out outcome
	mode, warning := h.resolveMode(ctx, req.Namespace)
	rec.mode = string(mode)
	if warning != "" {
		out.configWarnings = append(out.configWarnings, attributed("", warning))
	}
	switch {
	case mode == ModeOff:
		return rec.set(h.respond(mode, nil, out, reasonOff))
	case h.exemptNamespaces.Has(req.Namespace) || h.exemptUsers.Has(req.UserInfo.Username) ||
		slices.ContainsFunc(req.UserInfo.Groups, h.exemptGroups.Has):
		return rec.set(h.respond(mode, nil, out, reasonExempt))
	}

	k, ok := kinds[gvk]
	if !ok {
		requestLogger(ctx).Info("request for a kind pullguard does not check; fix the webhook configuration's rules", "kind", gvk.String())
		out.configWarnings = append(out.configWarnings, attributed("", fmt.Sprintf("%s is not a kind pullguard checks; the webhook configuration should not send it", gvk.String())))
		return rec.set(h.respond(mode, nil, out, reasonUnknownKind))
	}
	w, err := decodeWorkload(k, gvk, req.Object, "object")
	var old *workload
	if err == nil && req.Operation == admissionv1.Update {
		old, err = decodeWorkload(k, gvk, req.OldObject, "oldObject")
	}
	if err != nil {
		requestLogger(ctx).Error(err, "undecodable object")
		rec.decision, rec.reason = decisionError, reasonBadRequest
		return admission.Errored(http.StatusBadRequest, fmt.Errorf("pullguard could not decode the %s: %w", gvk.Kind, err))
	}
	if w.mirrorPod() {
		return rec.set(h.respond(mode, w, out, reasonMirrorPod))
	}

	if r, ok := h.tooManyImages(w); ok {
		h.addFinding(&out, mode, r.finding())
		return rec.set(h.respond(mode, w, out, reasonOK))
	}
	images := changedImages(w, old)
	if len(images) == 0 && old != nil {
		return rec.set(h.respond(mode, w, out, reasonUnchanged))
	}
	ev := h.evaluate(ctx, w, images, req.Namespace, h.trustedCaller(ctx), budget.budget)
	rec.images = ev.distinct
	out.notes = append(out.notes, ev.Notes...)
	for _, r := range ev.Results {
		h.addFinding(&out, mode, r.finding())
	}
	if len(ev.Results) == 0 && ev.Exempt > 0 {
		return rec.set(h.respond(mode, w, out, reasonExempt))
	}
	return rec.set(h.respond(mode, w, out, reasonOK))
}

// addFinding counts every checked image and keeps those the user should hear about.
func (h *Handler) addFinding(out *outcome, mode Mode, f finding) {
	h.metrics.finding(mode, f.outcome, f.reason)
	if f.outcome != registry.Pullable {
		out.findings = append(out.findings, f)
	}
}

func distinctImages(images []Image) []string {
	var out []string
	seen := make(map[string]bool, len(images))
	for _, im := range images {
		if !seen[im.Image] {
			seen[im.Image] = true
			out = append(out, im.Image)
		}
	}
	return out
}

// exemptImage matches the image as written and in the normalised form the runtime pulls, so
// that "nginx:*" and "docker.io/library/nginx:*" both work.
func (h *Handler) exemptImage(image string) bool {
	if len(h.cfg.ExemptImages) == 0 {
		return false
	}
	forms := []string{image}
	if ref, err := reference.Parse(image); err == nil {
		forms = append(forms, ref.Named)
	}
	for _, p := range h.cfg.ExemptImages {
		for _, f := range forms {
			if ok, _ := path.Match(p, f); ok {
				return true
			}
		}
	}
	return false
}

// resolveMode reads the namespace's mode label from the metadata cache. A namespace the cache
// does not know yet (just created) gets the default mode.
func (h *Handler) resolveMode(ctx context.Context, namespace string) (Mode, string) {
	if namespace == "" {
		return h.cfg.DefaultMode, ""
	}
	ns := &metav1.PartialObjectMetadata{}
	ns.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	if err := h.informers.Get(ctx, client.ObjectKey{Name: namespace}, ns); err != nil {
		if !apierrors.IsNotFound(err) {
			logf.FromContext(ctx).Error(err, "reading namespace labels; using the default mode")
		}
		return h.cfg.DefaultMode, ""
	}
	v, ok := ns.Labels[ModeLabel]
	if !ok {
		return h.cfg.DefaultMode, ""
	}
	if m := Mode(v); m.Valid() {
		return m, ""
	}
	return h.cfg.DefaultMode, fmt.Sprintf("namespace %q label %s has invalid value %q (valid: enforce, warn, audit, off); using the default mode %q",
		namespace, ModeLabel, v, h.cfg.DefaultMode)
}

func skip(rec *record, reason string) admission.Response {
	return rec.set(admission.Allowed(""), decided{decisionAllow, reason})
}

func (h *Handler) panicResponse(ctx context.Context, r any, stack []byte) admission.Response {
	if p, ok := r.(checkPanic); ok {
		r, stack = p.value, p.stack
	}
	logf.FromContext(ctx).Error(fmt.Errorf("panic: %v", r), "recovered a panic while admitting", "stack", string(stack))
	return admission.Errored(http.StatusInternalServerError,
		errors.New("internal error in the pullguard webhook (recovered panic); the images were not checked, see the webhook logs"))
}

// requestLogger is the request's logger, which controller-runtime's webhook puts in every
// admission's context, without logf.FromContext's WithValues: that builds a logger per call
// (zapr clones its zap logger), on every admission.
func requestLogger(ctx context.Context) logr.Logger {
	if l, err := logr.FromContext(ctx); err == nil {
		return l
	}
	return logf.Log
}

func ptrTrue(b *bool) bool { return b != nil && *b }
