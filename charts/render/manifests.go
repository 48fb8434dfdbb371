package render

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"

	chartv2 "helm.sh/helm/v4/pkg/chart/v2"
	"sigs.k8s.io/yaml"
)

// manifestFiles maps each chart template to the kustomize file rendered from it, relative to
// the repository root. The kustomizations themselves (kustomization.yaml files, the enforce
// component, overlays/) are written by hand: they only compose and patch these files.
var manifestFiles = map[string]string{
	"templates/namespace.yaml":                      "manifests/base/namespace.yaml",
	"templates/serviceaccount.yaml":                 "manifests/base/serviceaccount.yaml",
	"templates/rbac.yaml":                           "manifests/base/rbac.yaml",
	"templates/deployment.yaml":                     "manifests/base/deployment.yaml",
	"templates/poddisruptionbudget.yaml":            "manifests/base/poddisruptionbudget.yaml",
	"templates/service.yaml":                        "manifests/base/service.yaml",
	"templates/networkpolicy.yaml":                  "manifests/base/networkpolicy.yaml",
	"templates/validatingwebhookconfiguration.yaml": "manifests/base/validatingwebhookconfiguration.yaml",
	"templates/cert-manager/issuers.yaml":           "certs/cert-manager/issuers.yaml",
	"templates/cert-manager/certificates.yaml":      "certs/cert-manager/certificates.yaml",
}

// selfManagedFiles maps the templates only certificates.mode self-managed renders to the files of
// manifests/components/self-managed, which overlays/self-managed adds to the base.
var selfManagedFiles = map[string]string{
	"templates/self-managed/secret.yaml": "manifests/components/self-managed/secret.yaml",
	"templates/self-managed/rbac.yaml":   "manifests/components/self-managed/rbac.yaml",
}

// reverifierDir is manifests/components/reverifier: the re-verifier's objects, rendered with
// ManifestValues and reverifier.enabled, each template file under its own name, and the chart's
// CRDs under crds/. Its kustomization.yaml is written by hand.
const reverifierDir = "manifests/components/reverifier"

// ReverifierValues are ManifestValues with the re-verifier on: what
// manifests/components/reverifier adds to an install.
func ReverifierValues() map[string]any {
	v := ManifestValues()
	v["reverifier"] = map[string]any{"enabled": true}
	return v
}

// selfManagedArgsFile is the component's JSON patch that adds the Deployment's self-managed
// flags to the base's: generated too, so that the flags are the chart's.
const selfManagedArgsFile = "manifests/components/self-managed/deployment-args.yaml"

// ManifestValues are the values manifests/ is rendered with: the chart's defaults, with the
// Namespace object (kustomize installs create it) and cert-manager's objects, which the
// kustomize default install includes and overlays/no-cert-manager leaves out.
func ManifestValues() map[string]any {
	return map[string]any{
		"namespace":    map[string]any{"create": true},
		"certificates": map[string]any{"mode": "cert-manager"},
	}
}

// helmOnlyLabel matches the labels that describe a Helm release, which a kustomize install is
// not: the chart version, the app version, and managed-by Helm.
var helmOnlyLabel = regexp.MustCompile(`(?m)^\s+(helm\.sh/chart|app\.kubernetes\.io/version|app\.kubernetes\.io/managed-by): .*\n`)

// SelfManagedValues are ManifestValues with the webhook making its own certificate: what
// manifests/overlays/self-managed installs.
func SelfManagedValues() map[string]any {
	v := ManifestValues()
	v["certificates"] = map[string]any{"mode": "self-managed"}
	return v
}

// Manifests renders the files of manifests/base, certs/cert-manager and
// manifests/components/self-managed and manifests/components/reverifier from the chart (release pullguard in pullguard-system),
// keyed by their path from the repository root.
func Manifests(ch *chartv2.Chart) (map[string]string, error) {
	templates, err := Render(ch, Options{Values: ManifestValues()})
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, tpl := range templates {
		file, ok := manifestFiles[tpl.Name]
		if !ok {
			return nil, fmt.Errorf("template %s renders objects with the manifests' values but has no file in manifests/", tpl.Name)
		}
		out[file] = generated(tpl)
	}
	for tpl, file := range manifestFiles {
		if _, ok := out[file]; !ok {
			return nil, fmt.Errorf("template %s rendered nothing for %s", tpl, file)
		}
	}
	selfManaged, err := Render(ch, Options{Values: SelfManagedValues()})
	if err != nil {
		return nil, err
	}
	for _, tpl := range selfManaged {
		if file, ok := selfManagedFiles[tpl.Name]; ok {
			out[file] = generated(tpl)
		}
	}
	for tpl, file := range selfManagedFiles {
		if _, ok := out[file]; !ok {
			return nil, fmt.Errorf("template %s rendered nothing for %s", tpl, file)
		}
	}
	if err := reverifierFiles(ch, out); err != nil {
		return nil, err
	}
	patch, err := argsPatch(templates, selfManaged)
	if err != nil {
		return nil, err
	}
	out[selfManagedArgsFile] = patch
	return out, nil
}

// generated is a template's text as a file of manifests/: the Helm release labels dropped, a
// line saying where it comes from.
func generated(tpl Template) string {
	text := helmOnlyLabel.ReplaceAllString(tpl.Text, "")
	text = strings.TrimLeft(text, "\n")
	text = strings.TrimRight(text, "\n") + "\n"
	return "# Generated by `make manifests` from charts/pullguard/" + tpl.Name + ": edit the chart, not this file.\n" + text
}

// argsPatch is the JSON patch (RFC 6902, as YAML) that turns the base Deployment's container
// args into the self-managed rendering's: the flags self-managed mode adds, appended. It fails
// when the self-managed args are not the base's plus more at the end, which a patch by
// position could not express safely.
func argsPatch(base, selfManaged []Template) (string, error) {
	baseArgs, err := deploymentArgs(base)
	if err != nil {
		return "", err
	}
	smArgs, err := deploymentArgs(selfManaged)
	if err != nil {
		return "", err
	}
	if len(smArgs) <= len(baseArgs) || !slices.Equal(smArgs[:len(baseArgs)], baseArgs) {
		return "", fmt.Errorf("the self-managed Deployment's args %q do not extend the base's %q", smArgs, baseArgs)
	}
	var b strings.Builder
	b.WriteString("# Generated by `make manifests` from charts/pullguard/templates/deployment.yaml: the flags\n" +
		"# certificates.mode self-managed adds to the webhook's. Edit the chart, not this file.\n")
	for _, arg := range smArgs[len(baseArgs):] {
		fmt.Fprintf(&b, "- op: add\n  path: /spec/template/spec/containers/0/args/-\n  value: %s\n", arg)
	}
	return b.String(), nil
}

// deploymentArgs decodes the webhook container's args from the rendered Deployment.
func deploymentArgs(templates []Template) ([]string, error) {
	i := slices.IndexFunc(templates, func(t Template) bool { return t.Name == "templates/deployment.yaml" })
	if i < 0 {
		return nil, fmt.Errorf("no templates/deployment.yaml rendered")
	}
	var d struct {
		Spec struct {
			Template struct {
				Spec struct {
					Containers []struct {
						Args []string `json:"args"`
					} `json:"containers"`
				} `json:"spec"`
			} `json:"template"`
		} `json:"spec"`
	}
	if err := yaml.Unmarshal([]byte(templates[i].Text), &d); err != nil {
		return nil, fmt.Errorf("decoding the rendered Deployment: %w", err)
	}
	if len(d.Spec.Template.Spec.Containers) != 1 {
		return nil, fmt.Errorf("the rendered Deployment has %d containers, want 1", len(d.Spec.Template.Spec.Containers))
	}
	return d.Spec.Template.Spec.Containers[0].Args, nil
}

// reverifierFiles adds the files of manifests/components/reverifier to out: the templates of
// templates/reverifier/ rendered with ReverifierValues, and the chart's CRDs as they are.
func reverifierFiles(ch *chartv2.Chart, out map[string]string) error {
	templates, err := Render(ch, Options{Values: ReverifierValues()})
	if err != nil {
		return err
	}
	n := 0
	for _, tpl := range templates {
		if dir, file := path.Split(tpl.Name); dir == "templates/reverifier/" {
			out[path.Join(reverifierDir, file)] = generated(tpl)
			n++
		}
	}
	if n == 0 {
		return fmt.Errorf("templates/reverifier rendered nothing with reverifier.enabled")
	}
	crds := ch.CRDObjects()
	if len(crds) == 0 {
		return fmt.Errorf("the chart has no CRDs in crds/")
	}
	for _, crd := range crds {
		out[path.Join(reverifierDir, "crds", path.Base(crd.Filename))] = string(crd.File.Data)
	}
	return nil
}
