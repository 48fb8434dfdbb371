// Package render renders the pullguard chart with Helm's Go SDK, as `helm template` does: the
// chart's tests and `make manifests` (which writes manifests/ from the chart) both use it, so
// what the tests check is what users install.
package render

import (
	"bytes"
	"fmt"
	"maps"
	"path"
	"slices"
	"strings"

	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
)

// CertManagerAPI is the API version whose presence makes certificates.mode auto choose
// cert-manager.
const CertManagerAPI = "cert-manager.io/v1"

// Options is one rendering: the release and the values a user would pass.
type Options struct {
	// ReleaseName and Namespace default to pullguard and pullguard-system, the names the
	// kustomize install uses.
	ReleaseName string
	Namespace   string
	// Values are the user's values (as with -f), coalesced over the chart's values.yaml and
	// validated against values.schema.json.
	Values map[string]any
	// APIVersions the cluster serves on top of Helm's defaults, as with --api-versions.
	APIVersions []string
}

// Template is one rendered template file.
type Template struct {
	// Name is the file's path inside the chart, e.g. templates/deployment.yaml.
	Name string
	// Text is what Helm would send for that file: YAML documents, comments kept.
	Text string
}

// Load reads the chart directory.
func Load(dir string) (*chartv2.Chart, error) {
	ch, err := loader.LoadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("loading chart %s: %w", dir, err)
	}
	return ch, nil
}

// Render renders every template of ch and returns the non-empty ones sorted by name; partials
// (_*.tpl) and NOTES.txt are left out, as `helm template` leaves them out.
func Render(ch *chartv2.Chart, opts Options) ([]Template, error) {
	files, err := renderFiles(ch, opts)
	if err != nil {
		return nil, err
	}
	var out []Template
	for _, name := range slices.Sorted(maps.Keys(files)) {
		// Keys are "<chart name>/templates/...".
		rel := strings.TrimPrefix(name, ch.Name()+"/")
		base := path.Base(rel)
		if strings.HasPrefix(base, "_") || base == "NOTES.txt" || strings.TrimSpace(files[name]) == "" {
			continue
		}
		out = append(out, Template{Name: rel, Text: files[name]})
	}
	return out, nil
}

// RenderDir loads the chart in dir and renders it, as `helm template DIR` does.
func RenderDir(dir string, opts Options) ([]Template, error) {
	ch, err := Load(dir)
	if err != nil {
		return nil, err
	}
	return Render(ch, opts)
}

// Manifest joins templates into one multi-document file, what `helm template` prints: each
// document headed by a "# Source:" comment naming its template, ready for kubectl apply -f.
func Manifest(templates []Template) []byte {
	var buf bytes.Buffer
	for _, tpl := range templates {
		buf.WriteString("---\n# Source: " + tpl.Name + "\n" + tpl.Text + "\n")
	}
	return buf.Bytes()
}

// Notes renders NOTES.txt, what `helm install` prints.
func Notes(ch *chartv2.Chart, opts Options) (string, error) {
	files, err := renderFiles(ch, opts)
	if err != nil {
		return "", err
	}
	return files[ch.Name()+"/templates/NOTES.txt"], nil
}

// renderFiles validates the values against the schema and renders every file, as an install
// of revision 1 would.
func renderFiles(ch *chartv2.Chart, opts Options) (map[string]string, error) {
	if opts.ReleaseName == "" {
		opts.ReleaseName = "pullguard"
	}
	if opts.Namespace == "" {
		opts.Namespace = "pullguard-system"
	}
	caps := common.DefaultCapabilities.Copy()
	caps.APIVersions = slices.Concat(caps.APIVersions, opts.APIVersions)
	values, err := util.ToRenderValues(ch, opts.Values, common.ReleaseOptions{
		Name: opts.ReleaseName, Namespace: opts.Namespace, Revision: 1, IsInstall: true,
	}, caps)
	if err != nil {
		return nil, err
	}
	return engine.Render(ch, values)
}
