package render_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/pullguard/pullguard/charts/render"
)

// TestManifestsUpToDate fails when manifests/base or certs/cert-manager differ from what the
// chart renders: the chart is their source (`make manifests` rewrites them).
func TestManifestsUpToDate(t *testing.T) {
	ch, err := render.Load(chartDir)
	if err != nil {
		t.Fatal(err)
	}
	files, err := render.Manifests(ch)
	if err != nil {
		t.Fatal(err)
	}
	root := filepath.Join("..", "..")
	for path, want := range files {
		got, err := os.ReadFile(filepath.Join(root, path))
		if err != nil {
			t.Errorf("%s: %v (run make manifests)", path, err)
			continue
		}
		if string(got) != want {
			t.Errorf("%s differs from the chart's rendering: edit charts/pullguard and run make manifests, not the file", path)
		}
	}
}
