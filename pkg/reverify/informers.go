package reverify

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// InformerOptions are the cache's per-object options for the checked kinds: each object is held
// with what a check reads only (metadata that names and owns it, the pod spec's images, pull
// secrets, ServiceAccount and placement, a Pod's phase). A cluster's workloads then cost the
// re-verifier a small fraction of their full size; Secrets are never cached at all.
func InformerOptions() map[client.Object]cache.ByObject {
	out := map[client.Object]cache.ByObject{}
	for _, k := range Kinds {
		out[k.New()] = cache.ByObject{Transform: slim}
	}
	return out
}

func slim(obj any) (any, error) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		return &appsv1.Deployment{ObjectMeta: slimMeta(o.ObjectMeta), Spec: appsv1.DeploymentSpec{Template: slimTemplate(o.Spec.Template)}}, nil
	case *appsv1.StatefulSet:
		return &appsv1.StatefulSet{ObjectMeta: slimMeta(o.ObjectMeta), Spec: appsv1.StatefulSetSpec{Template: slimTemplate(o.Spec.Template)}}, nil
	case *appsv1.DaemonSet:
		return &appsv1.DaemonSet{ObjectMeta: slimMeta(o.ObjectMeta), Spec: appsv1.DaemonSetSpec{Template: slimTemplate(o.Spec.Template)}}, nil
	case *appsv1.ReplicaSet:
		return &appsv1.ReplicaSet{ObjectMeta: slimMeta(o.ObjectMeta), Spec: appsv1.ReplicaSetSpec{Template: slimTemplate(o.Spec.Template)}}, nil
	case *batchv1.Job:
		return &batchv1.Job{ObjectMeta: slimMeta(o.ObjectMeta), Spec: batchv1.JobSpec{Template: slimTemplate(o.Spec.Template)}}, nil
	case *batchv1.CronJob:
		return &batchv1.CronJob{ObjectMeta: slimMeta(o.ObjectMeta), Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{
			Spec: batchv1.JobSpec{Template: slimTemplate(o.Spec.JobTemplate.Spec.Template)}}}}, nil
	case *corev1.Pod:
		p := &corev1.Pod{ObjectMeta: slimMeta(o.ObjectMeta), Spec: slimSpec(o.Spec), Status: corev1.PodStatus{Phase: o.Status.Phase}}
		if v, ok := o.Annotations["kubernetes.io/config.mirror"]; ok {
			p.Annotations = map[string]string{"kubernetes.io/config.mirror": v}
		}
		return p, nil
	}
	// Tombstones (cache.DeletedFinalStateUnknown) pass through as they are.
	return obj, nil
}

func slimMeta(m metav1.ObjectMeta) metav1.ObjectMeta {
	return metav1.ObjectMeta{Name: m.Name, Namespace: m.Namespace, UID: m.UID, ResourceVersion: m.ResourceVersion,
		Generation: m.Generation, OwnerReferences: m.OwnerReferences, DeletionTimestamp: m.DeletionTimestamp}
}

func slimTemplate(t corev1.PodTemplateSpec) corev1.PodTemplateSpec {
	return corev1.PodTemplateSpec{Spec: slimSpec(t.Spec)}
}

func slimContainers(in []corev1.Container) []corev1.Container {
	out := make([]corev1.Container, len(in))
	for i, c := range in {
		out[i].Image, out[i].ImagePullPolicy = c.Image, c.ImagePullPolicy
	}
	return out
}

// slimSpec keeps what admission.Evaluate reads of a pod spec, every list at its length so
// that field paths keep their indexes.
func slimSpec(s corev1.PodSpec) corev1.PodSpec {
	out := corev1.PodSpec{
		Containers:               slimContainers(s.Containers),
		InitContainers:           slimContainers(s.InitContainers),
		ImagePullSecrets:         s.ImagePullSecrets,
		ServiceAccountName:       s.ServiceAccountName,
		DeprecatedServiceAccount: s.DeprecatedServiceAccount,
		NodeName:                 s.NodeName,
		NodeSelector:             s.NodeSelector,
		Affinity:                 s.Affinity,
		Tolerations:              s.Tolerations,
		OS:                       s.OS,
	}
	for _, c := range s.EphemeralContainers {
		out.EphemeralContainers = append(out.EphemeralContainers, corev1.EphemeralContainer{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
			Image: c.Image, ImagePullPolicy: c.ImagePullPolicy}})
	}
	if len(s.Volumes) > 0 {
		out.Volumes = make([]corev1.Volume, len(s.Volumes))
		for i, v := range s.Volumes {
			if v.Image != nil {
				out.Volumes[i].Image = v.Image
			}
		}
	}
	return out
}
