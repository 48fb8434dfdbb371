package admission

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

// This file exports what the webhook does with one object, for the programs that check objects
// outside an admission (the pullguard CLI): the same kinds, image extraction, credential
// resolution, candidate platforms and wording, never a copy of them.

// Workload is an object of a kind the webhook checks, decoded as the webhook decodes it.
type Workload struct{ w *workload }

// CheckedKinds returns the GroupVersionKinds the webhook checks, sorted.
func CheckedKinds() []schema.GroupVersionKind {
	return slices.SortedFunc(maps.Keys(kinds), func(a, b schema.GroupVersionKind) int {
		return strings.Compare(a.String(), b.String())
	})
}

// DecodeWorkload decodes a JSON object of kind gvk as the webhook decodes an admitted object.
// ok is false, with no error, for a kind the webhook does not check.
func DecodeWorkload(gvk schema.GroupVersionKind, data []byte) (w *Workload, ok bool, err error) {
	k, ok := kinds[gvk]
	if !ok {
		return nil, false, nil
	}
	dw, err := decodeWorkload(k, gvk, runtime.RawExtension{Raw: data}, gvk.Kind)
	if err != nil {
		return nil, true, err
	}
	return &Workload{w: dw}, true, nil
}

// Kind is the object's kind (Deployment, Pod, ...).
func (w *Workload) Kind() string { return w.w.gk.Kind }

// Name is the object's name, or its generateName when it has none.
func (w *Workload) Name() string { return w.w.name() }

// Namespace is the object's namespace as written ("" when the manifest names none).
func (w *Workload) Namespace() string { return w.w.meta.Namespace }

// Template reports whether the object carries a pod template (its pods get the
// ServiceAccount's pull secrets when the template lists none) rather than being a Pod.
func (w *Workload) Template() bool { return w.w.kind.template }

// PullSecretNames are the spec's own imagePullSecrets, in pod order.
func (w *Workload) PullSecretNames() []string { return pullSecretNames(w.w.spec) }

// ServiceAccountName is the ServiceAccount the pods run as, defaulted as the API server does.
func (w *Workload) ServiceAccountName() string { return w.w.serviceAccountName() }

// Images lists every image of the pod spec with its field path (see Images).
func (w *Workload) Images() []Image { return Images(w.w.spec, w.w.specPath) }

// Credentials are what the kubelet will pull a workload's images with.
type Credentials struct {
	Keyring *keyring.Keyring
	// Notes are warnings about the credentials themselves, each already attributed
	// ("spec.template.spec.imagePullSecrets: pullguard: ...").
	Notes []string
	// Unreadable names the reads that failed; when there is any, nothing can be concluded
	// about the images and they are Unverifiable.
	Unreadable []string
}

// Credentials resolves the workload's pull credentials exactly as an admission does: the
// spec's imagePullSecrets, or for a pod template with none its ServiceAccount's, read from
// namespace through the handler's API reader.
func (h *Handler) Credentials(ctx context.Context, w *Workload, namespace string) Credentials {
	c := h.resolveCredentials(ctx, w.w, namespace, h.trustedCaller(ctx))
	return Credentials{Keyring: c.keyring, Notes: c.notes, Unreadable: c.unreadable}
}

// CandidatePlatforms returns the platforms of the nodes the workload's pods may land on, as an
// admission computes them from the handler's Node reader; nil means unknown (no platform check).
func (h *Handler) CandidatePlatforms(ctx context.Context, w *Workload) ([]ocispec.Platform, error) {
	return h.candidatePlatforms(ctx, w.w.spec)
}

// UnreadableMessage is the message of every image of a workload whose credentials could not
// all be read.
func UnreadableMessage(unreadable []string) string {
	return "not verified: " + strings.Join(unreadable, "; ")
}

// PullNeverNote is the note for an image with imagePullPolicy Never, which is never checked.
const PullNeverNote = "imagePullPolicy Never: the image must be pre-loaded on every node"

// VerdictMessage is how the webhook words a verdict: its outcome, where anything but Pullable
// and NotPullable (an engine's zero Verdict included) is at best Unverifiable, and its message.
func VerdictMessage(image string, v registry.Verdict) (registry.Outcome, string) {
	outcome := v.Outcome
	if outcome != registry.Pullable && outcome != registry.NotPullable {
		outcome = registry.Unverifiable
	}
	msg := v.Message()
	if msg == "" {
		msg = fmt.Sprintf("image %q is %s (%s)", image, outcome, classReason(v.Class))
	}
	return outcome, msg
}

// Attributed is the form of every line pullguard shows a user: the field path it is about,
// when there is one, then "pullguard: ", then the text.
func Attributed(fieldPath, text string) string { return attributed(fieldPath, text) }
