package manifests_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"

	"github.com/pullguard/pullguard/internal/installcheck"
)

// TestExamples checks the demo's examples/ (they have no Go package of their own): each is one
// Deployment that decodes strictly, runs one replica, and takes its image from the REGISTRY
// placeholder that make demo substitutes.
func TestExamples(t *testing.T) {
	tests := map[string]string{
		"good.yaml":              "REGISTRY/demo/web:1.0",
		"typo-tag.yaml":          "REGISTRY/demo/web:1.O",
		"private-no-secret.yaml": "REGISTRY/private/api:1.0",
		"wrong-arch.yaml":        "REGISTRY/demo/arm64-only:1.0",
		"single-arch.yaml":       "REGISTRY/demo/arm64-only:single",
	}
	files, err := filepath.Glob(filepath.Join("..", "examples", "*.yaml"))
	if err != nil {
		t.Fatalf("listing examples: %v", err)
	}
	if len(files) != len(tests) {
		t.Errorf("examples/ holds %d YAML files, want %d: update this table and examples/README.md together", len(files), len(tests))
	}
	names := map[string]string{}
	for file, wantImage := range tests {
		t.Run(file, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("..", "examples", file))
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			// Substituted the way make demo does, so the image parses as a reference.
			data = []byte(strings.ReplaceAll(string(data), "REGISTRY", "127.0.0.1:5000"))
			obj, err := installcheck.Decode(data)
			if err != nil {
				t.Fatalf("decoding: %v", err)
			}
			d, ok := obj.(*appsv1.Deployment)
			if !ok {
				t.Fatalf("decoded a %T, want a Deployment", obj)
			}
			if other, dup := names[d.Name]; dup {
				t.Errorf("name %s also used by %s", d.Name, other)
			}
			names[d.Name] = file
			if d.Spec.Replicas == nil || *d.Spec.Replicas != 1 {
				t.Errorf("replicas %v, want 1", d.Spec.Replicas)
			}
			containers := d.Spec.Template.Spec.Containers
			want := strings.ReplaceAll(wantImage, "REGISTRY", "127.0.0.1:5000")
			if len(containers) != 1 || containers[0].Image != want {
				t.Errorf("containers %+v, want one with image %s", containers, wantImage)
			}
		})
	}
}
