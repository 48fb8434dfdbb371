package admission

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// mirrorPodAnnotation marks static pods the kubelet mirrors into the API: the kubelet runs
// them from its manifest directory whatever the API server says, so checking them is noise.
const mirrorPodAnnotation = "kubernetes.io/config.mirror"

// kindSpec is one admitted kind: how to decode it and where its pod spec lives.
type kindSpec struct {
	// label is the bounded metric label value for the kind.
	label string
	// template: the object carries a pod template, so credentials come from the ServiceAccount
	// when the template has no imagePullSecrets (the ServiceAccount admission plugin only
	// does that for Pods).
	template bool
	// shape and specPath say where the pod spec is, for the partial decode of an admission.
	shape    shape
	specPath *field.Path
	// newObj and podSpec are the typed object, for PodSpecOf: podSpec returns the pod spec
	// inside obj (nil when the object has none, like a ReplicationController without a
	// template) and its field path.
	newObj  func() runtime.Object
	podSpec func(runtime.Object) (*corev1.PodSpec, *field.Path)
}

var (
	specPath         = field.NewPath("spec")
	templateSpecPath = specPath.Child("template", "spec")
	cronJobSpecPath  = specPath.Child("jobTemplate", "spec", "template", "spec")
)

func templateSpec(t *corev1.PodTemplateSpec) (*corev1.PodSpec, *field.Path) {
	return &t.Spec, templateSpecPath
}

// kinds are the kinds the webhook checks, by exact GroupVersionKind (what the
// ValidatingWebhookConfiguration sends with matchPolicy Equivalent).
var kinds = map[schema.GroupVersionKind]kindSpec{
	corev1.SchemeGroupVersion.WithKind("Pod"): {label: "Pod", shape: podShape, specPath: specPath,
		newObj:  func() runtime.Object { return &corev1.Pod{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) { return &o.(*corev1.Pod).Spec, specPath }},
	appsv1.SchemeGroupVersion.WithKind("Deployment"): {label: "Deployment", template: true, shape: templateShape, specPath: templateSpecPath,
		newObj: func() runtime.Object { return &appsv1.Deployment{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			return templateSpec(&o.(*appsv1.Deployment).Spec.Template)
		}},
	appsv1.SchemeGroupVersion.WithKind("StatefulSet"): {label: "StatefulSet", template: true, shape: templateShape, specPath: templateSpecPath,
		newObj: func() runtime.Object { return &appsv1.StatefulSet{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			return templateSpec(&o.(*appsv1.StatefulSet).Spec.Template)
		}},
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"): {label: "DaemonSet", template: true, shape: templateShape, specPath: templateSpecPath,
		newObj: func() runtime.Object { return &appsv1.DaemonSet{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			return templateSpec(&o.(*appsv1.DaemonSet).Spec.Template)
		}},
	appsv1.SchemeGroupVersion.WithKind("ReplicaSet"): {label: "ReplicaSet", template: true, shape: templateShape, specPath: templateSpecPath,
		newObj: func() runtime.Object { return &appsv1.ReplicaSet{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			return templateSpec(&o.(*appsv1.ReplicaSet).Spec.Template)
		}},
	corev1.SchemeGroupVersion.WithKind("ReplicationController"): {label: "ReplicationController", template: true, shape: templateShape, specPath: templateSpecPath,
		newObj: func() runtime.Object { return &corev1.ReplicationController{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			if t := o.(*corev1.ReplicationController).Spec.Template; t != nil {
				return templateSpec(t)
			}
			return nil, templateSpecPath
		}},
	batchv1.SchemeGroupVersion.WithKind("Job"): {label: "Job", template: true, shape: templateShape, specPath: templateSpecPath,
		newObj: func() runtime.Object { return &batchv1.Job{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			return templateSpec(&o.(*batchv1.Job).Spec.Template)
		}},
	batchv1.SchemeGroupVersion.WithKind("CronJob"): {label: "CronJob", template: true, shape: cronJobShape, specPath: cronJobSpecPath,
		newObj: func() runtime.Object { return &batchv1.CronJob{} },
		podSpec: func(o runtime.Object) (*corev1.PodSpec, *field.Path) {
			return &o.(*batchv1.CronJob).Spec.JobTemplate.Spec.Template.Spec, cronJobSpecPath
		}},
}

// specOf is podSpec, with an empty spec for an object that has none.
func (k kindSpec) specOf(obj runtime.Object) (*corev1.PodSpec, *field.Path) {
	spec, p := k.podSpec(obj)
	if spec == nil {
		spec = &corev1.PodSpec{}
	}
	return spec, p
}

// kindLabel is the bounded metric label for a request's kind.
func kindLabel(gvk metav1.GroupVersionKind) string {
	if k, ok := kinds[schema.GroupVersionKind(gvk)]; ok {
		return k.label
	}
	return kindOther
}

const kindOther = "other"

// workload is what every admitted object reduces to (see decodeWorkload).
type workload struct {
	kind kindSpec
	gk   schema.GroupKind
	meta partialMeta
	// mirror: a Pod with the mirror annotation.
	mirror bool
	// spec is never nil and holds only what the decision reads; specPath is its field path
	// (spec, spec.template.spec, ...).
	spec     *corev1.PodSpec
	specPath *field.Path
}

// decodeError marks an object the handler could not decode: a bad request, not a decision.
type decodeError struct {
	which string
	err   error
}

func (e *decodeError) Error() string { return fmt.Sprintf("decoding %s: %v", e.which, e.err) }
func (e *decodeError) Unwrap() error { return e.err }

// name is the object's name for messages; on CREATE with generateName there is none yet.
func (w *workload) name() string {
	if w.meta.Name != "" {
		return w.meta.Name
	}
	return w.meta.GenerateName
}

func (w *workload) mirrorPod() bool {
	return !w.kind.template && w.mirror
}

// serviceAccountName is the ServiceAccount the pods will run as, defaulted as the
// ServiceAccount admission plugin does (the deprecated field still wins over nothing).
func (w *workload) serviceAccountName() string {
	switch {
	case w.spec.ServiceAccountName != "":
		return w.spec.ServiceAccountName
	case w.spec.DeprecatedServiceAccount != "":
		return w.spec.DeprecatedServiceAccount
	}
	return "default"
}

// pullSecretNames lists imagePullSecrets in pod order, skipping empty names as the kubelet does.
func pullSecretNames(spec *corev1.PodSpec) []string {
	var names []string
	seen := make(map[string]bool, len(spec.ImagePullSecrets))
	for _, s := range spec.ImagePullSecrets {
		if s.Name != "" && !seen[s.Name] {
			seen[s.Name] = true
			names = append(names, s.Name)
		}
	}
	return names
}

// Image is one image the kubelet will pull, with where it is written.
type Image struct {
	// Path is the image's field path: spec.template.spec.initContainers[1].image.
	Path string
	// Image is the reference as written.
	Image      string
	PullPolicy corev1.PullPolicy
}

// Images lists every image of a pod spec whose field path is specPath (PodSpecOf gives both):
// containers, initContainers, ephemeralContainers and image volumes, which the kubelet pulls
// through the same EnsureImageExists with the same secrets. Empty images (allowed in templates
// for tools that fill them in later) are skipped.
func Images(spec *corev1.PodSpec, specPath *field.Path) []Image {
	var out []Image
	// The paths are field.Path's form, written out: building a field.Path per image was a good
	// part of a warm admission's own work.
	prefix := specPath.String()
	add := func(list string, i int, field, image string, policy corev1.PullPolicy) {
		if image != "" {
			out = append(out, Image{Path: prefix + "." + list + "[" + strconv.Itoa(i) + "]." + field, Image: image, PullPolicy: policy})
		}
	}
	for i, c := range spec.Containers {
		add("containers", i, "image", c.Image, c.ImagePullPolicy)
	}
	for i, c := range spec.InitContainers {
		add("initContainers", i, "image", c.Image, c.ImagePullPolicy)
	}
	for i, c := range spec.EphemeralContainers {
		add("ephemeralContainers", i, "image", c.Image, c.ImagePullPolicy)
	}
	for i, v := range spec.Volumes {
		if v.Image != nil {
			add("volumes", i, "image.reference", v.Image.Reference, v.Image.PullPolicy)
		}
	}
	return out
}

// PodSpecOf returns the pod spec of a Pod or workload of a kind the webhook checks (a typed
// object: *corev1.Pod, *appsv1.Deployment, *batchv1.CronJob, ...) and its field path; ok is
// false for any other object. A ReplicationController without a template has an empty spec.
func PodSpecOf(obj runtime.Object) (spec *corev1.PodSpec, specPath *field.Path, ok bool) {
	for _, k := range kinds {
		if reflect.TypeOf(k.newObj()) != reflect.TypeOf(obj) {
			continue
		}
		spec, specPath = k.specOf(obj)
		return spec, specPath, true
	}
	return nil, nil, false
}

// imageCount is how many image fields Images would list at most (empty ones included).
func imageCount(spec *corev1.PodSpec) int {
	n := len(spec.Containers) + len(spec.InitContainers) + len(spec.EphemeralContainers)
	for _, v := range spec.Volumes {
		if v.Image != nil {
			n++
		}
	}
	return n
}

// changedImages returns the images of a CREATE, or on UPDATE those whose reference did not
// appear anywhere in the old object, so that scaling, label edits and `kubectl rollout restart`
// never reach a registry. When the credentials the pods will use, or the nodes they may land on,
// changed, every image is re-checked, since the same reference may now pull differently (a
// nodeSelector moved to arm64 under an amd64-only image).
func changedImages(w, old *workload) []Image {
	images := Images(w.spec, w.specPath)
	if old == nil || credentialsChanged(w, old) || placementChanged(w.spec, old.spec) {
		return images
	}
	before := map[string]bool{}
	for _, im := range Images(old.spec, old.specPath) {
		before[im.Image] = true
	}
	var out []Image
	for _, im := range images {
		if !before[im.Image] {
			out = append(out, im)
		}
	}
	return out
}

// placementChanged compares what candidatePlatforms reads.
func placementChanged(spec, old *corev1.PodSpec) bool {
	return spec.NodeName != old.NodeName || !maps.Equal(spec.NodeSelector, old.NodeSelector) ||
		!equality.Semantic.DeepEqual(spec.Affinity, old.Affinity) ||
		!equality.Semantic.DeepEqual(spec.Tolerations, old.Tolerations) ||
		!equality.Semantic.DeepEqual(spec.OS, old.OS)
}

func credentialsChanged(w, old *workload) bool {
	if !slices.Equal(pullSecretNames(w.spec), pullSecretNames(old.spec)) {
		return true
	}
	// A Pod's ServiceAccount only matters through the secrets already copied into it.
	return w.kind.template && w.serviceAccountName() != old.serviceAccountName()
}
