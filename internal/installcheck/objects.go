package installcheck

import (
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	apiextensionsv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"
)

// Key identifies a rendered object.
type Key struct {
	Kind, Namespace, Name string
}

func (k Key) String() string {
	if k.Namespace == "" {
		return k.Kind + "/" + k.Name
	}
	return k.Kind + "/" + k.Namespace + "/" + k.Name
}

// Objects is one rendering, every object decoded: built-in and cert-manager kinds into their
// typed structs (strictly), prometheus-operator kinds as unstructured objects.
type Objects map[Key]runtime.Object

// monitoringGroup is prometheus-operator's API group. Its Go types are not among the project's
// dependencies; the chart's tests check those objects field by field.
const monitoringGroup = "monitoring.coreos.com"

// decoder rejects unknown and duplicate fields, so a misspelt or misplaced field fails the test
// instead of being dropped silently the way a client-side apply would drop it.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmv1.AddToScheme, apiextensionsv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(fmt.Sprintf("building scheme: %v", err))
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// Decode decodes one YAML or JSON document strictly.
func Decode(doc []byte) (runtime.Object, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return nil, err
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		return nil, err
	}
	if u.GroupVersionKind().Group == monitoringGroup {
		return u, nil
	}
	obj, _, err := decoder.Decode(js, nil, nil)
	if err != nil {
		// Strict errors come with a populated object; they are failures all the same.
		return nil, fmt.Errorf("decoding %s: %w", u.GroupVersionKind(), err)
	}
	return obj, nil
}

// Add decodes doc and adds it, failing the test when it does not decode or is rendered twice.
func (o Objects) Add(t testing.TB, source string, doc []byte) {
	t.Helper()
	obj, err := Decode(doc)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	accessor, err := meta.Accessor(obj)
	if err != nil {
		t.Fatalf("%s: no object metadata: %v", source, err)
	}
	key := Key{Kind: obj.GetObjectKind().GroupVersionKind().Kind, Namespace: accessor.GetNamespace(), Name: accessor.GetName()}
	if _, dup := o[key]; dup {
		t.Fatalf("%s: %s rendered twice", source, key)
	}
	o[key] = obj
}

// Keys lists the rendered objects, sorted.
func (o Objects) Keys() []string {
	var out []string
	for k := range maps.Keys(o) {
		out = append(out, k.String())
	}
	slices.Sort(out)
	return out
}

// Get returns the rendered object of type T with that key, failing the test if it is missing.
func Get[T runtime.Object](t testing.TB, o Objects, kind, namespace, name string) T {
	t.Helper()
	key := Key{Kind: kind, Namespace: namespace, Name: name}
	obj, ok := o[key]
	if !ok {
		t.Fatalf("%s not rendered; rendered: %s", key, strings.Join(o.Keys(), ", "))
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s decoded as %T", key, obj)
	}
	return typed
}

// All returns every rendered object of type T.
func All[T runtime.Object](o Objects) []T {
	var out []T
	for _, obj := range o {
		if typed, ok := obj.(T); ok {
			out = append(out, typed)
		}
	}
	return out
}

// ClusterScoped lists the kinds an install renders that have no namespace.
var ClusterScoped = map[string]bool{
	"Namespace":                      true,
	"ClusterRole":                    true,
	"ClusterRoleBinding":             true,
	"ValidatingWebhookConfiguration": true,
	"CustomResourceDefinition":       true,
}
