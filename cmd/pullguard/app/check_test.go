package app

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestCheckTypoTag(t *testing.T) {
	reg := newTestRegistry(t, "demo/web")
	reg.push(t, "demo/web:1.0")
	dir := t.TempDir()
	file := writeFile(t, dir, "deploy.yaml", deploymentYAML("web", reg.host+"/demo/web:1.O"))

	code, out, errOut := run(t, "", append([]string{"check", "-f", file}, reg.flags()...)...)
	if code != exitNotPullable {
		t.Fatalf("exit %d, want %d; stdout:\n%s\nstderr:\n%s", code, exitNotPullable, out, errOut)
	}
	want := fmt.Sprintf(`%s:14: Deployment/web spec.template.spec.containers[0].image: pullguard: tag "1.O" not found in %s/demo/web (registry returned 404 MANIFEST_UNKNOWN); did you mean "1.0"? [checked with anonymous]`, file, reg.host)
	if !strings.Contains(out, want+"\n") {
		t.Errorf("stdout lacks\n%s\ngot:\n%s", want, out)
	}
	if !strings.Contains(out, "pullguard: 1 images: 0 pullable, 1 not pullable, 0 unverifiable (1 registry checks); platforms not checked") {
		t.Errorf("summary missing:\n%s", out)
	}
	if errOut != "" {
		t.Errorf("stderr not empty when it is not a terminal: %q", errOut)
	}
}

// TestCheckDeduplicates: 500 manifests that share 50 images make at most 50 manifest requests.
func TestCheckDeduplicates(t *testing.T) {
	var tags, public []string
	for i := range 50 {
		public = append(public, fmt.Sprintf("demo/app%d", i))
		tags = append(tags, public[i]+":1.0")
	}
	reg := newTestRegistry(t, public...)
	reg.push(t, tags...)
	dir := t.TempDir()
	var docs []string
	for i := range 500 {
		docs = append(docs, deploymentYAML(fmt.Sprintf("web%d", i), reg.host+"/"+tags[i%50]))
	}
	// Half in one multi-document file, half as one file each.
	writeFile(t, dir, "all.yaml", strings.Join(docs[:250], "---\n"))
	for i, d := range docs[250:] {
		writeFile(t, dir, fmt.Sprintf("d%03d.yaml", i), d)
	}
	code, out, _ := run(t, "", append([]string{"check", "-f", dir}, reg.flags()...)...)
	if code != exitOK {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	got := reg.manifests()
	if got > 50 {
		t.Errorf("%d manifest requests for 50 distinct images, want at most 50", got)
	}
	t.Logf("500 manifests, 50 distinct images: %d manifest requests", got)
	if !strings.Contains(out, "pullguard: 500 images: 500 pullable, 0 not pullable, 0 unverifiable (50 registry checks)") {
		t.Errorf("summary:\n%s", out)
	}
}

func TestCheckCredentials(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "private/api:1.0")
	image := reg.host + "/private/api:1.0"
	sa := "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: builder\nimagePullSecrets:\n- name: regcred\n"
	cases := map[string]struct {
		docs      []string
		extraArgs func() []string
		code      int
		want      []string
	}{
		"the ServiceAccount's secret in the input": {
			docs: []string{reg.pullSecretYAML("regcred"), sa, deploymentYAML("api", image, "      serviceAccountName: builder\n")},
			code: exitOK, want: []string{`pullguard: 1 images: 1 pullable`},
		},
		"no secret anywhere, ServiceAccount in the input": {
			docs: []string{"apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: default\n", deploymentYAML("api", image)},
			code: exitNotPullable, want: []string{"repository does not exist or requires credentials", "[checked with anonymous]"},
		},
		"ServiceAccount not in the input: not verified": {
			docs: []string{deploymentYAML("api", image)},
			code: exitOK, want: []string{`not verified: ServiceAccount "default" is not in the input`, "0 not pullable, 1 unverifiable"},
		},
		"a named secret not in the input: not verified": {
			docs: []string{deploymentYAML("api", image, "      imagePullSecrets: [{name: regcred}]\n")},
			code: exitOK, want: []string{`imagePullSecret "regcred" could not be read (not in the input: add it with -f, read it from the cluster with --kubeconfig or --context, or give its registry login with --docker-config)`},
		},
		"--docker-config as node credentials": {
			docs: []string{deploymentYAML("api", image)}, extraArgs: func() []string { return []string{"--docker-config", reg.dockerConfig(t), "-v"} },
			code: exitOK, want: []string{"is pullable [checked with docker config /", fmt.Sprintf(`config.json (key %q)]`, reg.host)},
		},
		"--docker-config stands in for a named secret": {
			docs: []string{deploymentYAML("api", image, "      imagePullSecrets: [{name: regcred}]\n")}, extraArgs: func() []string { return []string{"--docker-config", reg.dockerConfig(t), "-v"} },
			code: exitOK, want: []string{`[checked with imagePullSecret "regcred"`, `imagePullSecret "regcred" is not in the input; the --docker-config login stands in for it`},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"check", "-f", "-"}, reg.flags()...)
			if c.extraArgs != nil {
				args = append(args, c.extraArgs()...)
			}
			code, out, errOut := run(t, strings.Join(c.docs, "---\n"), args...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("stdout lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out+errOut, testPassword) {
				t.Errorf("a credential was printed:\n%s", out)
			}
		})
	}
}

func TestExitStatus(t *testing.T) {
	reg := newTestRegistry(t, "demo/web")
	reg.push(t, "demo/web:1.0")
	good := deploymentYAML("web", reg.host+"/demo/web:1.0")
	unverifiable := deploymentYAML("web", reg.host+"/demo/web:1.0", "      imagePullSecrets: [{name: missing}]\n")
	cases := map[string]struct {
		stdin string
		args  []string
		code  int
	}{
		"pullable":                            {stdin: good, code: exitOK},
		"not pullable":                        {stdin: deploymentYAML("web", reg.host+"/demo/web:2.0"), code: exitNotPullable},
		"unverifiable is a warning":           {stdin: unverifiable, code: exitOK},
		"unverifiable with --fail-on":         {stdin: unverifiable, args: []string{"--fail-on=unverifiable"}, code: exitUnverifiable},
		"not pullable wins over unverifiable": {stdin: unverifiable + "---\n" + deploymentYAML("b", "Bad:Ref"), args: []string{"--fail-on=unverifiable"}, code: exitNotPullable},
		"nothing to check":                    {stdin: "", args: []string{"-f", "-"}, code: exitOK},
		"broken YAML":                         {stdin: "kind: [\n", code: exitUsage},
		"unknown flag":                        {args: []string{"--nope"}, code: exitUsage},
		"bad output":                          {stdin: good, args: []string{"-o", "xml"}, code: exitUsage},
		"bad platform":                        {stdin: good, args: []string{"--platform", "amd64"}, code: exitUsage},
		"missing file":                        {args: []string{"-f", filepath.Join(t.TempDir(), "nope.yaml")}, code: exitUsage},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"check", "-f", "-"}, reg.flags()...)
			code, out, errOut := run(t, c.stdin, append(args, c.args...)...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s%s", code, c.code, out, errOut)
			}
		})
	}
	if code, _, _ := run(t, "", "check"); code != exitUsage {
		t.Errorf("check without input: exit %d, want %d", code, exitUsage)
	}
	if code, _, _ := run(t, "", "frobnicate"); code != exitUsage {
		t.Errorf("unknown command: exit %d, want %d", code, exitUsage)
	}
}

func TestCheckJSON(t *testing.T) {
	reg := newTestRegistry(t, "demo/web")
	reg.push(t, "demo/web:1.0")
	dir := t.TempDir()
	file := writeFile(t, dir, "deploy.yaml", deploymentYAML("web", reg.host+"/demo/web:1.O")+"---\n"+deploymentYAML("ok", reg.host+"/demo/web:1.0"))
	code, out, _ := run(t, "", append([]string{"check", "-f", file, "-o", "json"}, reg.flags()...)...)
	if code != exitNotPullable {
		t.Fatalf("exit %d", code)
	}
	var doc struct {
		APIVersion string
		Kind       string
		Results    []map[string]any
		Summary    map[string]any
	}
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatalf("not JSON: %v\n%s", err, out)
	}
	if doc.APIVersion != "pullguard.io/v1alpha1" || doc.Kind != "CheckReport" || len(doc.Results) != 2 {
		t.Fatalf("document: %s", out)
	}
	r := doc.Results[0]
	want := map[string]any{
		"object": "Deployment/web", "fieldPath": "spec.template.spec.containers[0].image", "image": reg.host + "/demo/web:1.O",
		"outcome": "not_pullable", "class": "tag_not_found", "fix": `did you mean "1.0"?`, "file": file, "line": float64(14),
		"credential": "anonymous", "namespace": "default",
	}
	for k, v := range want {
		if r[k] != v {
			t.Errorf("%s = %v, want %v", k, r[k], v)
		}
	}
	if !strings.HasPrefix(r["message"].(string), `tag "1.O" not found`) {
		t.Errorf("message = %v", r["message"])
	}
	if doc.Results[1]["outcome"] != "pullable" || doc.Results[1]["line"] != float64(29) {
		t.Errorf("second result: %v", doc.Results[1])
	}
	if doc.Summary["notPullable"] != float64(1) || doc.Summary["pullable"] != float64(1) {
		t.Errorf("summary: %v", doc.Summary)
	}
}

func TestCheckPlatforms(t *testing.T) {
	reg := newTestRegistry(t, "demo/arm64-only")
	reg.pushIndex(t, "demo/arm64-only:1.0", "linux/arm64")
	image := reg.host + "/demo/arm64-only:1.0"
	arm64Selector := "      nodeSelector: {kubernetes.io/arch: arm64}\n"
	cases := map[string]struct {
		spec     string
		platform string
		code     int
		want     string
	}{
		"no --platform: not checked":           {code: exitOK, want: "platforms not checked"},
		"amd64 nodes":                          {platform: "linux/amd64", code: exitNotPullable, want: "image has no linux/amd64 manifest (available: linux/arm64"},
		"mixed nodes, the pod pinned to arm64": {spec: arm64Selector, platform: "linux/amd64,linux/arm64", code: exitOK, want: "1 pullable"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			args := append([]string{"check", "-f", "-"}, reg.flags()...)
			if c.platform != "" {
				args = append(args, "--platform", c.platform)
			}
			code, out, errOut := run(t, deploymentYAML("web", image, c.spec), args...)
			if code != c.code || !strings.Contains(out, c.want) {
				t.Errorf("exit %d (want %d), stdout lacks %q:\n%s%s", code, c.code, c.want, out, errOut)
			}
		})
	}
}

func TestCheckKustomizeAndLists(t *testing.T) {
	reg := newTestRegistry(t, "demo/web")
	reg.push(t, "demo/web:1.0", "demo/web:2.0")
	dir := t.TempDir()
	writeFile(t, dir, "deploy.yaml", deploymentYAML("web", reg.host+"/demo/web:1.0"))
	writeFile(t, dir, "kustomization.yaml", fmt.Sprintf("resources: [deploy.yaml]\nimages:\n- name: %s/demo/web\n  newTag: \"3.0\"\n", reg.host))
	code, out, _ := run(t, "", append([]string{"check", "-k", dir}, reg.flags()...)...)
	// The tag the kustomization set is not on the image line of deploy.yaml: the finding is at
	// its container.
	if code != exitNotPullable || !strings.Contains(out, filepath.Join(dir, "deploy.yaml")+":13: Deployment/web spec.template.spec.containers[0].image: pullguard: tag \"3.0\" not found") {
		t.Errorf("kustomize: exit %d\n%s", code, out)
	}
	base, overlay := filepath.Join(dir, "base"), filepath.Join(dir, "overlay")
	for _, d := range []string{base, overlay} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, base, "deploy.yaml", deploymentYAML("api", reg.host+"/demo/web:1.O"))
	writeFile(t, base, "kustomization.yaml", "resources: [deploy.yaml]\n")
	writeFile(t, overlay, "kustomization.yaml", "resources: [../base]\nnamePrefix: prod-\n")
	code, out, errOut := run(t, "", append([]string{"check", "-k", overlay}, reg.flags()...)...)
	if code != exitNotPullable || !strings.Contains(out, filepath.Join(base, "deploy.yaml")+":14: Deployment/prod-api spec.template.spec.containers[0].image: pullguard: tag \"1.O\" not found") {
		t.Errorf("kustomize overlay: exit %d\n%s%s", code, out, errOut)
	}

	list := fmt.Sprintf(`{"apiVersion":"v1","kind":"List","items":[
{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"%s/demo/web:2.0"}]}},
{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"cm"}}]}`, reg.host)
	code, out, _ = run(t, list, append([]string{"check", "-f", "-", "-v"}, reg.flags()...)...)
	if code != exitOK || !strings.Contains(out, "-:2: Pod/p spec.containers[0].image: pullguard: image") ||
		!strings.Contains(out, "-:3: v1 ConfigMap/cm: not a kind pullguard checks") {
		t.Errorf("List: exit %d\n%s", code, out)
	}
}
