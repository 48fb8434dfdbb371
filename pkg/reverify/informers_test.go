package reverify

import (
	"reflect"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/admission"
)

func TestSlimKeepsWhatACheckReads(t *testing.T) {
	spec := corev1.PodSpec{
		Containers:       []corev1.Container{{Name: "a", Image: "a:1", Env: []corev1.EnvVar{{Name: "X", Value: "big"}}}, {Name: "b", Image: "b:1", ImagePullPolicy: corev1.PullNever}},
		InitContainers:   []corev1.Container{{Name: "i", Image: "i:1"}},
		Volumes:          []corev1.Volume{{Name: "cm"}, {Name: "img", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "v:1"}}}},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
		NodeSelector:     map[string]string{corev1.LabelArchStable: "arm64"},
	}
	objs := map[string]client.Object{
		"Deployment": &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "n", Annotations: map[string]string{"big": "x"}},
			Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{Spec: spec}}},
		"Pod": &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "n"}, Spec: spec},
	}
	for name, obj := range objs {
		t.Run(name, func(t *testing.T) {
			gvk := kindGVK(t, name)
			full, _, err := admission.WorkloadOf(gvk, obj)
			if err != nil {
				t.Fatal(err)
			}
			s, _ := slim(obj)
			slimmed, _, err := admission.WorkloadOf(gvk, s.(client.Object))
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(full.Images(), slimmed.Images()) || !reflect.DeepEqual(full.PullSecretNames(), slimmed.PullSecretNames()) {
				t.Errorf("slimmed %v %v, full %v %v", slimmed.Images(), slimmed.PullSecretNames(), full.Images(), full.PullSecretNames())
			}
			if s.(client.Object).GetAnnotations() != nil {
				t.Error("annotations kept")
			}
		})
	}
}
