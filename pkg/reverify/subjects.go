package reverify

import (
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// Kinds are the kinds the re-verifier checks: the controllers people write, and the objects
// they write directly (a ReplicaSet, Job or Pod no other workload owns). A ReplicaSet of a
// Deployment or a Job of a CronJob has its owner's template, which is checked once, there.
var Kinds = map[schema.GroupVersionKind]Kind{
	appsv1.SchemeGroupVersion.WithKind("Deployment"): {func() client.Object { return &appsv1.Deployment{} },
		func() client.ObjectList { return &appsv1.DeploymentList{} }},
	appsv1.SchemeGroupVersion.WithKind("StatefulSet"): {func() client.Object { return &appsv1.StatefulSet{} },
		func() client.ObjectList { return &appsv1.StatefulSetList{} }},
	appsv1.SchemeGroupVersion.WithKind("DaemonSet"): {func() client.Object { return &appsv1.DaemonSet{} },
		func() client.ObjectList { return &appsv1.DaemonSetList{} }},
	appsv1.SchemeGroupVersion.WithKind("ReplicaSet"): {func() client.Object { return &appsv1.ReplicaSet{} },
		func() client.ObjectList { return &appsv1.ReplicaSetList{} }},
	batchv1.SchemeGroupVersion.WithKind("CronJob"): {func() client.Object { return &batchv1.CronJob{} },
		func() client.ObjectList { return &batchv1.CronJobList{} }},
	batchv1.SchemeGroupVersion.WithKind("Job"): {func() client.Object { return &batchv1.Job{} },
		func() client.ObjectList { return &batchv1.JobList{} }},
	corev1.SchemeGroupVersion.WithKind("Pod"): {func() client.Object { return &corev1.Pod{} },
		func() client.ObjectList { return &corev1.PodList{} }},
}

// Kind builds the objects of one checked kind.
type Kind struct {
	New     func() client.Object
	newList func() client.ObjectList
}

// ownedByWorkload: kinds whose objects are skipped when a controller owns them.
var ownedByWorkload = map[string]bool{"ReplicaSet": true, "Job": true, "Pod": true}

// Checked reports whether the object of kind gvk is one the re-verifier checks itself: every
// Deployment, StatefulSet, DaemonSet and CronJob, and a ReplicaSet, Job or Pod only when no
// controller owns it. A Pod that is done (Succeeded, Failed) pulls nothing again.
func Checked(gvk schema.GroupVersionKind, obj client.Object) bool {
	if _, ok := Kinds[gvk]; !ok {
		return false
	}
	if ownedByWorkload[gvk.Kind] && metav1.GetControllerOf(obj) != nil {
		return false
	}
	if p, ok := obj.(*corev1.Pod); ok && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
		return false
	}
	return obj.GetDeletionTimestamp() == nil
}
