package admission

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	kjson "sigs.k8s.io/json"
)

// An admission reads a handful of fields of the object: the images with their pull policies and
// field paths, the pull secrets, the ServiceAccount, what decides placement, and for a Pod its
// name and mirror annotation. Decoding the whole typed object (resources, probes, env, the
// managed fields...) was half of the handler's CPU on a warm cache, so the object is decoded into
// the partial shapes below, by the same decoder and rules as the typed one (case-sensitive field
// names, unknown fields ignored), and the result is a corev1.PodSpec holding only those fields.
// TestPartialDecodeReadsWhatTheTypedObjectSays holds the two decodes to the same answers.

// shape says where an admitted kind keeps its pod spec.
type shape int

const (
	podShape      shape = iota // spec
	templateShape              // spec.template.spec (a missing template is an empty spec)
	cronJobShape               // spec.jobTemplate.spec.template.spec
)

type partialMeta struct {
	Name         string `json:"name"`
	GenerateName string `json:"generateName"`
	Namespace    string `json:"namespace"`
}

// partialPodMeta adds the annotations, read for Pods only (mirror pods): in a workload they
// hold kubectl's last-applied-configuration, a copy of the whole object.
type partialPodMeta struct {
	partialMeta
	Annotations map[string]string `json:"annotations"`
}

type partialContainer struct {
	Image           string            `json:"image"`
	ImagePullPolicy corev1.PullPolicy `json:"imagePullPolicy"`
}

// partialVolume keeps every volume, so that an image volume keeps its index in spec.volumes.
type partialVolume struct {
	Image *corev1.ImageVolumeSource `json:"image"`
}

// partialPodSpec is what the decision reads of a pod spec: images (Images, imageCount),
// credentials (pullSecretNames, serviceAccountName) and placement (CandidatePlatforms,
// placementChanged).
type partialPodSpec struct {
	Containers               []partialContainer            `json:"containers"`
	InitContainers           []partialContainer            `json:"initContainers"`
	EphemeralContainers      []partialContainer            `json:"ephemeralContainers"`
	Volumes                  []partialVolume               `json:"volumes"`
	ImagePullSecrets         []corev1.LocalObjectReference `json:"imagePullSecrets"`
	ServiceAccountName       string                        `json:"serviceAccountName"`
	DeprecatedServiceAccount string                        `json:"serviceAccount"`
	NodeName                 string                        `json:"nodeName"`
	NodeSelector             map[string]string             `json:"nodeSelector"`
	Affinity                 *corev1.Affinity              `json:"affinity"`
	Tolerations              []corev1.Toleration           `json:"tolerations"`
	OS                       *corev1.PodOS                 `json:"os"`
}

type partialTemplate struct {
	Spec partialPodSpec `json:"spec"`
}

type partialPod struct {
	Metadata partialPodMeta `json:"metadata"`
	Spec     partialPodSpec `json:"spec"`
}

type partialTemplated struct {
	Metadata partialMeta `json:"metadata"`
	Spec     struct {
		Template *partialTemplate `json:"template"`
	} `json:"spec"`
}

type partialCronJob struct {
	Metadata partialMeta `json:"metadata"`
	Spec     struct {
		JobTemplate struct {
			Spec struct {
				Template partialTemplate `json:"template"`
			} `json:"spec"`
		} `json:"jobTemplate"`
	} `json:"spec"`
}

// decodeWorkload decodes what the decision reads of the object. The request's kind already says
// what the object is, so apiVersion and kind are not read out of the JSON.
func decodeWorkload(k kindSpec, gvk schema.GroupVersionKind, raw runtime.RawExtension, which string) (*workload, error) {
	if len(raw.Raw) == 0 {
		return nil, &decodeError{which: which, err: fmt.Errorf("%s is empty", which)}
	}
	w := &workload{kind: k, gk: gvk.GroupKind()}
	var (
		spec *partialPodSpec
		err  error
	)
	switch k.shape {
	case podShape:
		var o partialPod
		err = kjson.UnmarshalCaseSensitivePreserveInts(raw.Raw, &o)
		_, w.mirror = o.Metadata.Annotations[mirrorPodAnnotation]
		w.meta, spec = o.Metadata.partialMeta, &o.Spec
	case templateShape:
		var o partialTemplated
		err = kjson.UnmarshalCaseSensitivePreserveInts(raw.Raw, &o)
		w.meta, spec = o.Metadata, &partialPodSpec{}
		if o.Spec.Template != nil {
			spec = &o.Spec.Template.Spec
		}
	case cronJobShape:
		var o partialCronJob
		err = kjson.UnmarshalCaseSensitivePreserveInts(raw.Raw, &o)
		w.meta, spec = o.Metadata, &o.Spec.JobTemplate.Spec.Template.Spec
	}
	if err != nil {
		return nil, &decodeError{which: which, err: err}
	}
	w.spec, w.specPath = spec.podSpec(), k.specPath
	return w, nil
}

// podSpec is the partial spec as a corev1.PodSpec holding only the fields it read.
func (s *partialPodSpec) podSpec() *corev1.PodSpec {
	containers := func(in []partialContainer) []corev1.Container {
		if in == nil {
			return nil
		}
		out := make([]corev1.Container, len(in))
		for i, c := range in {
			out[i] = corev1.Container{Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}
		}
		return out
	}
	spec := &corev1.PodSpec{
		Containers:               containers(s.Containers),
		InitContainers:           containers(s.InitContainers),
		ImagePullSecrets:         s.ImagePullSecrets,
		ServiceAccountName:       s.ServiceAccountName,
		DeprecatedServiceAccount: s.DeprecatedServiceAccount,
		NodeName:                 s.NodeName,
		NodeSelector:             s.NodeSelector,
		Affinity:                 s.Affinity,
		Tolerations:              s.Tolerations,
		OS:                       s.OS,
	}
	if s.EphemeralContainers != nil {
		spec.EphemeralContainers = make([]corev1.EphemeralContainer, len(s.EphemeralContainers))
		for i, c := range s.EphemeralContainers {
			spec.EphemeralContainers[i].Image, spec.EphemeralContainers[i].ImagePullPolicy = c.Image, c.ImagePullPolicy
		}
	}
	if s.Volumes != nil {
		spec.Volumes = make([]corev1.Volume, len(s.Volumes))
		for i, v := range s.Volumes {
			spec.Volumes[i].Image = v.Image
		}
	}
	return spec
}
