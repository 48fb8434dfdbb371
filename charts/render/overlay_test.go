package render_test

import (
	"encoding/json"
	"maps"
	"path/filepath"
	"reflect"
	"slices"
	"testing"

	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/internal/installcheck"
)

// helmOnlyLabels describe a Helm release; manifests/ leaves them out.
var helmOnlyLabels = []string{"helm.sh/chart", "app.kubernetes.io/version", "app.kubernetes.io/managed-by"}

// TestSelfManagedOverlayIsTheChart builds manifests/overlays/self-managed as `kubectl apply -k`
// does and wants exactly the objects the chart renders in self-managed mode (with the Namespace,
// as manifests/ is rendered): the kustomize install without cert-manager is the chart's, not a
// second, hand-kept copy.
func TestSelfManagedOverlayIsTheChart(t *testing.T) {
	dir := filepath.Join("..", "..", "manifests", "overlays", "self-managed")
	resMap, err := krusty.MakeKustomizer(krusty.MakeDefaultOptions()).Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		t.Fatalf("kustomize build %s: %v", dir, err)
	}
	got := map[string]map[string]any{}
	for _, res := range resMap.Resources() {
		data, err := res.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		add(t, got, data)
	}

	templates, err := render.RenderDir(chartDir, render.Options{Values: render.SelfManagedValues()})
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]map[string]any{}
	for _, tpl := range templates {
		for _, doc := range splitDocuments(t, tpl) {
			js, err := yaml.YAMLToJSON(doc)
			if err != nil {
				t.Fatal(err)
			}
			add(t, want, js)
		}
	}
	for _, m := range want {
		labels, _ := m["metadata"].(map[string]any)["labels"].(map[string]any)
		for _, l := range helmOnlyLabels {
			delete(labels, l)
		}
	}

	if g, w := slices.Sorted(maps.Keys(got)), slices.Sorted(maps.Keys(want)); !slices.Equal(g, w) {
		t.Fatalf("overlay objects\n got %v\nwant %v (the chart's)", g, w)
	}
	for key, w := range want {
		if !reflect.DeepEqual(got[key], w) {
			g, _ := json.MarshalIndent(got[key], "", "  ")
			wj, _ := json.MarshalIndent(w, "", "  ")
			t.Errorf("%s differs from the chart's rendering:\n got %s\nwant %s", key, g, wj)
		}
	}
}

// add decodes one object's JSON into objs, keyed by kind, namespace and name.
func add(t *testing.T, objs map[string]map[string]any, data []byte) {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatal(err)
	}
	md, _ := m["metadata"].(map[string]any)
	key := installcheck.Key{Kind: str(m["kind"]), Namespace: str(md["namespace"]), Name: str(md["name"])}.String()
	if _, dup := objs[key]; dup {
		t.Fatalf("%s twice", key)
	}
	objs[key] = m
}

func str(v any) string {
	s, _ := v.(string)
	return s
}
