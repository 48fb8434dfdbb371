package admission

import (
	"context"
	"fmt"
	"reflect"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/pkg/registry"
)

// Result is the webhook's answer for one image field of a workload, worded as an admission
// words it. The admission handler and the re-verifier both build theirs with evaluate, so that
// extraction, credentials, platforms and messages exist once.
type Result struct {
	// Path is the image's field path (spec.template.spec.containers[0].image).
	Path  string
	Image string
	// Outcome is Pullable, NotPullable or Unverifiable (never the zero Outcome).
	Outcome registry.Outcome
	// Reason is the bounded reason label (a verdict's class, or why nothing was asked).
	Reason string
	// Message is cause and fix on one line, as a warning or denial cause carries it ("" when
	// Pullable); Detail is the cause alone.
	Message, Detail string
	// Fix is what to change ("" when there is nothing to change or the image was not asked).
	Fix string
	// Verdict is the engine's answer when it was asked (zero otherwise).
	Verdict registry.Verdict
}

// Evaluation is what checking one workload's images found.
type Evaluation struct {
	// Skipped names why nothing was checked ("off", "exempt", "mirror_pod"); "" when checked.
	Skipped string
	// Results holds one entry per checked image field, in pod order.
	Results []Result
	// Notes are attributed lines that do not change any outcome (PullNever images, missing
	// secrets, ignored ServiceAccount secrets, engine notes).
	Notes []string
	// Exempt counts the image fields skipped by ExemptImages.
	Exempt int
	// Credentials are the Secrets and ServiceAccount the credentials were read from, as read
	// (none when no image needed credentials).
	Credentials []CredentialRead
}

// evaluation is evaluate's answer, with the distinct images asked about for the metrics.
type evaluation struct {
	Evaluation
	distinct []string
}

// Evaluate checks every image field of w, in namespace, as an admission of a new object does,
// for a trusted caller (the re-verifier holds the credentials it reads). ctx's deadline bounds
// the registry work; an image not answered by then is Unverifiable. The namespace's mode label
// and the exempt namespaces and images apply as in an admission; exempt users and groups do not
// (nobody is asking).
func (h *Handler) Evaluate(ctx context.Context, w *Workload, namespace string) Evaluation {
	mode, _ := h.resolveMode(ctx, namespace)
	switch {
	case mode == ModeOff:
		return Evaluation{Skipped: reasonOff}
	case h.exemptNamespaces.Has(namespace):
		return Evaluation{Skipped: reasonExempt}
	case w.w.mirrorPod():
		return Evaluation{Skipped: reasonMirrorPod}
	}
	if r, ok := h.tooManyImages(w.w); ok {
		return Evaluation{Results: []Result{r}}
	}
	return h.evaluate(ctx, w.w, Images(w.w.spec, w.w.specPath), namespace, true, 0).Evaluation
}

// tooManyImages is the single Unverifiable result of an object with more images than the
// limit, counted before any image is listed: listing 150,000 costs more than the budget.
func (h *Handler) tooManyImages(w *workload) (Result, bool) {
	n, max := imageCount(w.spec), h.cfg.Limits.MaxImagesPerObject
	if n <= max {
		return Result{}, false
	}
	return Result{Path: w.specPath.String(), Image: fmt.Sprintf("%d images", n), Outcome: registry.Unverifiable, Reason: reasonTooManyImages,
		Message: fmt.Sprintf("not verified: %d images, more than pullguard checks in one object (--max-images-per-object=%d)", n, max)}, true
}

// evaluate checks images of w: exempt and PullNever images are left out, the credentials are
// resolved once, the distinct images are asked about once each. budget is the time the checks
// were given, for timeout messages (0: not known).
func (h *Handler) evaluate(ctx context.Context, w *workload, images []Image, namespace string, trusted bool, budget time.Duration) evaluation {
	var ev evaluation
	toCheck := make([]Image, 0, len(images))
	for _, im := range images {
		switch {
		case h.exemptImage(im.Image):
			ev.Exempt++
		case im.PullPolicy == corev1.PullNever:
			ev.Notes = append(ev.Notes, attributed(im.Path, PullNeverNote))
		default:
			toCheck = append(toCheck, im)
		}
	}
	if len(toCheck) == 0 {
		return ev
	}
	creds := h.resolveCredentials(ctx, w, namespace, trusted)
	ev.Notes = append(ev.Notes, creds.notes...)
	ev.Credentials = creds.reads
	ev.distinct = distinctImages(toCheck)
	if len(creds.unreadable) > 0 {
		msg := UnreadableMessage(creds.unreadable)
		for _, im := range toCheck {
			ev.Results = append(ev.Results, Result{Path: im.Path, Image: im.Image, Outcome: registry.Unverifiable,
				Reason: reasonCredentialsUnreadable, Message: msg})
		}
		return ev
	}
	platforms, err := h.candidatePlatforms(ctx, w.spec)
	if err != nil {
		// Unknown platforms only skip the platform check; the pull itself is still checked.
		logf.FromContext(ctx).Error(err, "computing candidate platforms")
	}
	verdicts := h.checkImages(ctx, ev.distinct, creds.keyring, platforms, budget, trusted)
	ev.Results = make([]Result, 0, len(toCheck))
	for _, im := range toCheck {
		v := verdicts[im.Image]
		for _, n := range v.Notes {
			ev.Notes = append(ev.Notes, attributed(im.Path, n))
		}
		r := Result{Path: im.Path, Image: im.Image, Outcome: v.Outcome, Reason: classReason(v.Class), Verdict: v}
		if v.Outcome != registry.Pullable {
			// Pullable verdicts are counted, never shown: no message to build (most verdicts
			// of a warm admission).
			r.Outcome, r.Message = VerdictMessage(im.Image, v)
			r.Detail, r.Fix = v.Detail, v.Fix
		}
		ev.Results = append(ev.Results, r)
	}
	return ev
}

// finding is the result as the admission response carries it.
func (r Result) finding() finding {
	return finding{path: r.Path, image: r.Image, outcome: r.Outcome, reason: r.Reason, message: r.Message, detail: r.Detail}
}

// WorkloadOf is the typed object obj, of kind gvk, as the webhook sees it (DecodeWorkload for
// objects read from an informer rather than an AdmissionReview). ok is false for a kind the
// webhook does not check.
func WorkloadOf(gvk schema.GroupVersionKind, obj runtime.Object) (w *Workload, ok bool, err error) {
	k, ok := kinds[gvk]
	if !ok {
		return nil, false, nil
	}
	if reflect.TypeOf(obj) != reflect.TypeOf(k.newObj()) {
		return nil, true, fmt.Errorf("a %s cannot be a %T", gvk.Kind, obj)
	}
	spec, p := k.specOf(obj)
	dw := &workload{kind: k, gk: gvk.GroupKind(), spec: spec, specPath: p}
	if m, ok := obj.(interface {
		GetName() string
		GetGenerateName() string
		GetNamespace() string
		GetAnnotations() map[string]string
	}); ok {
		dw.meta = partialMeta{Name: m.GetName(), GenerateName: m.GetGenerateName(), Namespace: m.GetNamespace()}
		_, dw.mirror = m.GetAnnotations()[mirrorPodAnnotation]
	}
	return &Workload{w: dw}, true, nil
}
