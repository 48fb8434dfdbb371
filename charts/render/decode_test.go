package render_test

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"path/filepath"
	"strings"
	"testing"

	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/internal/installcheck"
)

// chartDir is the chart, relative to this package.
var chartDir = filepath.Join("..", "pullguard")

// renderChart renders the chart with opts and decodes every object strictly (internal/installcheck).
func renderChart(t *testing.T, opts render.Options) installcheck.Objects {
	t.Helper()
	templates, err := render.RenderDir(chartDir, opts)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	out := installcheck.Objects{}
	for _, tpl := range templates {
		for _, doc := range splitDocuments(t, tpl) {
			out.Add(t, tpl.Name, doc)
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
