package manifests_test

import (
	"context"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apiserver/pkg/admission"
	plugincel "k8s.io/apiserver/pkg/admission/plugin/cel"
	"k8s.io/apiserver/pkg/admission/plugin/webhook"
	"k8s.io/apiserver/pkg/authentication/user"
	"k8s.io/apiserver/pkg/cel/environment"

	"github.com/pullguard/pullguard/internal/installcheck"
)

// TestMatchConditions evaluates the shipped matchConditions with the API server's own CEL
// compiler and matcher, the code path kube-apiserver runs before it calls the webhook. The
// failure policy is forced to Fail here, so that an expression that errors on some object
// (rather than evaluating to false) fails the test instead of being ignored.
func TestMatchConditions(t *testing.T) {
	podGVK := corev1.SchemeGroupVersion.WithKind("Pod")
	podGVR := corev1.SchemeGroupVersion.WithResource("pods")
	deployGVK := appsv1.SchemeGroupVersion.WithKind("Deployment")
	deployGVR := appsv1.SchemeGroupVersion.WithResource("deployments")
	pod := func(annotations map[string]string) *corev1.Pod {
		return &corev1.Pod{
			TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a", Annotations: annotations},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "registry.example/web:1.0"}}},
		}
	}
	mirror := map[string]string{corev1.MirrorPodAnnotationKey: "3f0e9c"}

	tests := map[string]struct {
		obj, oldObj runtime.Object
		kind        schema.GroupVersionKind
		resource    schema.GroupVersionResource
		subresource string
		op          admission.Operation
		want        bool
	}{
		"pod without annotations": {
			obj: pod(nil), kind: podGVK, resource: podGVR, op: admission.Create, want: true,
		},
		"pod with other annotations": {
			obj: pod(map[string]string{"team": "a"}), kind: podGVK, resource: podGVR, op: admission.Create, want: true,
		},
		"pod update": {
			obj: pod(nil), oldObj: pod(nil), kind: podGVK, resource: podGVR, op: admission.Update, want: true,
		},
		"ephemeral container added": {
			obj: pod(nil), oldObj: pod(nil), kind: podGVK, resource: podGVR, subresource: "ephemeralcontainers",
			op: admission.Update, want: true,
		},
		// The rules never send DELETE, but the condition must evaluate on its null object anyway.
		"delete": {
			oldObj: pod(nil), kind: podGVK, resource: podGVR, op: admission.Delete, want: true,
		},
		"mirror pod": {
			obj: pod(mirror), kind: podGVK, resource: podGVR, op: admission.Create, want: false,
		},
		"mirror pod update": {
			obj: pod(mirror), oldObj: pod(mirror), kind: podGVK, resource: podGVR, op: admission.Update, want: false,
		},
		"deployment": {
			obj: &appsv1.Deployment{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "team-a"},
			},
			kind: deployGVK, resource: deployGVR, op: admission.Create, want: true,
		},
	}

	compiler := plugincel.NewConditionCompiler(environment.MustBaseEnvSet(environment.DefaultCompatibilityVersion()))
	for vName, v := range variants {
		t.Run(vName, func(t *testing.T) {
			vwc := installcheck.Get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, render(t, v.dir), "ValidatingWebhookConfiguration", "", v.WebhookConfiguration)
			wh := vwc.Webhooks[0].DeepCopy()
			fail := admissionregistrationv1.Fail
			wh.FailurePolicy = &fail
			matcher := webhook.NewValidatingWebhookAccessor("test", vwc.Name, wh).GetCompiledMatcher(compiler)
			for name, tc := range tests {
				t.Run(name, func(t *testing.T) {
					attrs := admission.NewAttributesRecord(tc.obj, tc.oldObj, tc.kind, "team-a", "web", tc.resource,
						tc.subresource, tc.op, nil, false, &user.DefaultInfo{Name: "alice"})
					res := matcher.Match(context.Background(), &admission.VersionedAttributes{
						Attributes:         attrs,
						VersionedKind:      tc.kind,
						VersionedObject:    admission.NewLazyObject(tc.obj),
						VersionedOldObject: admission.NewLazyObject(tc.oldObj),
					}, nil, nil)
					if res.Error != nil {
						t.Fatalf("match conditions failed to evaluate (with failurePolicy Fail the request would be rejected): %v", res.Error)
					}
					if res.Matches != tc.want {
						t.Errorf("webhook called = %v, want %v (failed condition %q)", res.Matches, tc.want, res.FailedConditionName)
					}
				})
			}
		})
	}
}
