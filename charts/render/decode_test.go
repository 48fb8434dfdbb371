package render_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"testing"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/charts/render"
)

// chartDir is the chart, relative to this package.
var chartDir = filepath.Join("..", "pullguard")

// objKey identifies a rendered object.
type objKey struct {
	kind, namespace, name string
}

func (k objKey) String() string {
	if k.namespace == "" {
		return k.kind + "/" + k.name
	}
	return k.kind + "/" + k.namespace + "/" + k.name
}

// rendered is one rendering, every object decoded: built-in and cert-manager kinds into their
// typed structs (strictly), prometheus-operator kinds as unstructured objects.
type rendered map[objKey]runtime.Object

// monitoringGroup is prometheus-operator's API group. Its Go types are not among the project's
// dependencies; the tests check those objects field by field, and the rules with Prometheus's
// own parser.
const monitoringGroup = "monitoring.coreos.com"

// decoder rejects unknown and duplicate fields, so a misspelt or misplaced field fails the test
// instead of being dropped silently.
var decoder = func() runtime.Decoder {
	scheme := runtime.NewScheme()
	for _, add := range []func(*runtime.Scheme) error{clientgoscheme.AddToScheme, cmv1.AddToScheme} {
		if err := add(scheme); err != nil {
			panic(fmt.Sprintf("building scheme: %v", err))
		}
	}
	return serializer.NewCodecFactory(scheme, serializer.EnableStrict).UniversalDeserializer()
}()

// renderChart renders the chart with opts and decodes every object.
func renderChart(t *testing.T, opts render.Options) rendered {
	t.Helper()
	ch, err := render.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	templates, err := render.Render(ch, opts)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	out := rendered{}
	for _, tpl := range templates {
		for _, doc := range splitDocuments(t, tpl) {
			obj := decode(t, tpl.Name, doc)
			accessor, err := meta.Accessor(obj)
			if err != nil {
				t.Fatalf("%s: no object metadata: %v", tpl.Name, err)
			}
			key := objKey{kind: obj.GetObjectKind().GroupVersionKind().Kind, namespace: accessor.GetNamespace(), name: accessor.GetName()}
			if _, dup := out[key]; dup {
				t.Fatalf("%s rendered twice", key)
			}
			out[key] = obj
		}
	}
	return out
}

func splitDocuments(t *testing.T, tpl render.Template) [][]byte {
	t.Helper()
	r := utilyaml.NewYAMLReader(bufio.NewReader(strings.NewReader(tpl.Text)))
	var docs [][]byte
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			return docs
		}
		if err != nil {
			t.Fatalf("%s: splitting YAML: %v", tpl.Name, err)
		}
		if js, err := yaml.YAMLToJSON(doc); err == nil && string(bytes.TrimSpace(js)) != "null" {
			docs = append(docs, doc)
		}
	}
}

func decode(t *testing.T, source string, doc []byte) runtime.Object {
	t.Helper()
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	u := &unstructured.Unstructured{}
	if err := u.UnmarshalJSON(js); err != nil {
		t.Fatalf("%s: %v", source, err)
	}
	if u.GroupVersionKind().Group == monitoringGroup {
		return u
	}
	obj, _, err := decoder.Decode(js, nil, nil)
	if err != nil {
		// Strict errors come with a populated object; they are failures all the same.
		t.Fatalf("%s: decoding %s: %v", source, u.GroupVersionKind(), err)
	}
	return obj
}

// get returns the rendered object of type T with that key, failing the test if it is missing.
func get[T runtime.Object](t *testing.T, r rendered, kind, namespace, name string) T {
	t.Helper()
	obj, ok := r[objKey{kind: kind, namespace: namespace, name: name}]
	if !ok {
		t.Fatalf("%s not rendered; rendered: %v", objKey{kind, namespace, name}, keys(r))
	}
	typed, ok := obj.(T)
	if !ok {
		t.Fatalf("%s decoded as %T", objKey{kind, namespace, name}, obj)
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

func keys(r rendered) []string {
	var out []string
	for k := range r {
		out = append(out, k.String())
	}
	return out
}
