package manifests_test

import (
	"fmt"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
)

// objKey identifies a rendered object. Kind and name are unique enough within one install.
type objKey struct {
	kind, namespace, name string
}

func (k objKey) String() string {
	if k.namespace == "" {
		return k.kind + "/" + k.name
	}
	return k.kind + "/" + k.namespace + "/" + k.name
}

// rendered is one kustomization's output, every object decoded into its typed API struct.
type rendered map[objKey]runtime.Object

// decoder rejects unknown and duplicate fields, so a misspelt or misplaced field fails the test
// instead of being dropped silently the way a client-side apply would drop it.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(fmt.Sprintf("building scheme: %v", err))
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// render builds the kustomization in dir (relative to manifests/) as `kubectl apply -k` does,
// with the kustomize library kubectl itself embeds, and decodes every object strictly.
func render(t *testing.T, dir string) rendered {
	t.Helper()
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	out := rendered{}
	for _, res := range resMap.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatalf("%s: encoding %s: %v", dir, res.CurId(), err)
		}
		obj, gvk, err := decoder.Decode(data, nil, nil)
		if err != nil {
			// Strict errors come with a populated object; they are failures all the same.
			t.Fatalf("%s: decoding %s: %v", dir, res.CurId(), err)
		}
		accessor, err := meta.Accessor(obj)
		if err != nil {
			t.Fatalf("%s: %s has no object metadata: %v", dir, gvk, err)
		}
		key := objKey{kind: gvk.Kind, namespace: accessor.GetNamespace(), name: accessor.GetName()}
		if _, dup := out[key]; dup {
			t.Fatalf("%s: %s rendered twice", dir, key)
		}
		out[key] = obj
	}
	return out
}

// get returns the rendered object of type T with that key, failing the test if it is missing.
func get[T runtime.Object](t *testing.T, r rendered, kind, namespace, name string) T {
	t.Helper()
	key := objKey{kind: kind, namespace: namespace, name: name}
	obj, ok := r[key]
	if !ok {
		t.Fatalf("%s not rendered", key)
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s decoded as %T", key, obj)
	}
	return typed
}

// all returns every rendered object of type T.
func all[T runtime.Object](r rendered) []T {
	var out []T
	for _, obj := range r {
		if typed, ok := obj.(T); ok {
			out = append(out, typed)
		}
	}
	return out
}

// clusterScoped lists the kinds rendered here that have no namespace.
var clusterScoped = map[string]bool{
	"Namespace":                      true,
	"ClusterRole":                    true,
	"ClusterRoleBinding":             true,
	"ValidatingWebhookConfiguration": true,
}
