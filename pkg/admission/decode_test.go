package admission

import (
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	kjson "sigs.k8s.io/json"
)

// richTemplate sets every field the decision reads, and some it does not, in every place an
// image can be.
func richTemplate() corev1.PodTemplateSpec {
	res := corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("1")}}
	return corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}, Annotations: map[string]string{"note": "x"}},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{
				{Name: "a", Image: "reg.example.com/a:1", ImagePullPolicy: corev1.PullAlways, Resources: res,
					Env: []corev1.EnvVar{{Name: "A", Value: "1"}}, Ports: []corev1.ContainerPort{{ContainerPort: 80}}},
				{Name: "empty"},
				{Name: "never", Image: "reg.example.com/n:1", ImagePullPolicy: corev1.PullNever},
			},
			InitContainers: []corev1.Container{{Name: "i", Image: "reg.example.com/i:1", ImagePullPolicy: corev1.PullIfNotPresent}},
			EphemeralContainers: []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{
				Name: "e", Image: "reg.example.com/e:1", ImagePullPolicy: corev1.PullAlways}}},
			Volumes: []corev1.Volume{
				{Name: "cfg", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
				{Name: "model", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "reg.example.com/v:1", PullPolicy: corev1.PullNever}}},
			},
			ImagePullSecrets:         refs("b", "", "a", "b"),
			ServiceAccountName:       "builder",
			DeprecatedServiceAccount: "old",
			NodeSelector:             map[string]string{corev1.LabelArchStable: "arm64"},
			Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
				NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
					{Key: "pool", Operator: corev1.NodeSelectorOpIn, Values: []string{"big"}}}}}}}},
			Tolerations: []corev1.Toleration{{Key: "gpu", Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoSchedule}},
			OS:          &corev1.PodOS{Name: corev1.Linux},
		},
	}
}

// TestPartialDecodeReadsWhatTheTypedObjectSays holds the admission's partial decode to the typed
// object for every kind: the same images with paths and pull policies, credentials, placement
// (the same candidate platforms from the same Nodes), name, namespace and mirror-pod status.
func TestPartialDecodeReadsWhatTheTypedObjectSays(t *testing.T) {
	nodes := []client.Object{
		node("arm-big", "linux", "arm64", map[string]string{"pool": "big"}),
		node("arm-small", "linux", "arm64", map[string]string{"pool": "small"}),
		node("amd-big", "linux", "amd64", map[string]string{"pool": "big"}),
		func() *corev1.Node {
			n := node("arm-gpu", "linux", "arm64", map[string]string{"pool": "big"})
			n.Spec.Taints = []corev1.Taint{{Key: "gpu", Effect: corev1.TaintEffectNoSchedule}, {Key: "other", Effect: corev1.TaintEffectNoExecute}}
			return n
		}(),
	}
	nodeReader := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(nodes...).Build()

	objects := map[string]client.Object{}
	for kind, obj := range kindObjects(metav1.ObjectMeta{Name: "web", Namespace: testNS}, richTemplate()) {
		objects[kind] = obj
	}
	generated := kindObjects(metav1.ObjectMeta{GenerateName: "web-"}, corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Annotations: map[string]string{mirrorPodAnnotation: "x"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx"}}, DeprecatedServiceAccount: "old"},
	})
	for kind, obj := range generated {
		objects[kind+", generateName, mirror annotation"] = obj
	}
	objects["ReplicationController without a template"] = &corev1.ReplicationController{ObjectMeta: metav1.ObjectMeta{Name: "rc"}}
	objects["Pod with an empty spec"] = &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "p"}}

	covered := map[schema.GroupVersionKind]bool{}
	for name, obj := range objects {
		t.Run(name, func(t *testing.T) {
			gvk, err := apiutil.GVKForObject(obj, clientgoscheme.Scheme)
			if err != nil {
				t.Fatal(err)
			}
			k, ok := kinds[gvk]
			if !ok {
				t.Fatalf("%s is not a checked kind", gvk)
			}
			covered[gvk] = true
			raw := mustJSON(t, obj)
			got, err := decodeWorkload(k, gvk, runtime.RawExtension{Raw: raw}, "object")
			if err != nil {
				t.Fatal(err)
			}
			typedObj := k.newObj()
			if err := kjson.UnmarshalCaseSensitivePreserveInts(raw, typedObj); err != nil {
				t.Fatal(err)
			}
			spec, specPath := k.specOf(typedObj)
			meta := typedObj.(metav1.Object)
			_, annotated := meta.GetAnnotations()[mirrorPodAnnotation]
			want := &workload{kind: k, gk: gvk.GroupKind(), spec: spec, specPath: specPath,
				meta: partialMeta{Name: meta.GetName(), GenerateName: meta.GetGenerateName(), Namespace: meta.GetNamespace()}, mirror: annotated}

			if got.specPath.String() != want.specPath.String() {
				t.Errorf("spec path %s, want %s", got.specPath, want.specPath)
			}
			if got.name() != want.name() || got.meta.Namespace != want.meta.Namespace || got.mirrorPod() != want.mirrorPod() || got.gk != want.gk {
				t.Errorf("name %q namespace %q mirror %v kind %v, want %q %q %v %v",
					got.name(), got.meta.Namespace, got.mirrorPod(), got.gk, want.name(), want.meta.Namespace, want.mirrorPod(), want.gk)
			}
			if g, w := Images(got.spec, got.specPath), Images(want.spec, want.specPath); !slices.Equal(g, w) {
				t.Errorf("images\n%+v\nwant\n%+v", g, w)
			}
			if g, w := imageCount(got.spec), imageCount(want.spec); g != w {
				t.Errorf("image count %d, want %d", g, w)
			}
			if g, w := pullSecretNames(got.spec), pullSecretNames(want.spec); !slices.Equal(g, w) {
				t.Errorf("pull secrets %q, want %q", g, w)
			}
			if g, w := got.serviceAccountName(), want.serviceAccountName(); g != w {
				t.Errorf("service account %q, want %q", g, w)
			}
			if placementChanged(got.spec, want.spec) || credentialsChanged(got, want) || len(changedImages(got, want)) != 0 {
				t.Error("the partial object differs from the typed one in placement, credentials or images")
			}
			ctx := testContext(t)
			g, gerr := CandidatePlatforms(ctx, got.spec, nodeReader, nil)
			w, werr := CandidatePlatforms(ctx, want.spec, nodeReader, nil)
			if !slices.EqualFunc(g, w, func(a, b ocispec.Platform) bool {
				return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant
			}) ||
				(gerr == nil) != (werr == nil) {
				t.Errorf("candidate platforms %v (%v), want %v (%v)", g, gerr, w, werr)
			}
		})
	}
	for gvk := range kinds {
		if !covered[gvk] {
			t.Errorf("no fixture for %s", gvk)
		}
	}
}

// BenchmarkDecodeWorkload is the admission's decode of a Deployment as kubectl apply sends it
// (the last-applied-configuration annotation and managed fields included).
func BenchmarkDecodeWorkload(b *testing.B) {
	d := kindObjects(metav1.ObjectMeta{Name: "web", Namespace: testNS}, richTemplate())["Deployment"]
	d.SetAnnotations(map[string]string{"kubectl.kubernetes.io/last-applied-configuration": string(mustJSON(b, d))})
	d.SetManagedFields([]metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply,
		FieldsType: "FieldsV1", FieldsV1: &metav1.FieldsV1{Raw: []byte(`{"f:spec":{"f:template":{"f:spec":{"f:containers":{}}}}}`)}}})
	raw := runtime.RawExtension{Raw: mustJSON(b, d)}
	gvk, err := apiutil.GVKForObject(d, clientgoscheme.Scheme)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := decodeWorkload(kinds[gvk], gvk, raw, "object"); err != nil {
			b.Fatal(err)
		}
	}
}
