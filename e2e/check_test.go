package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/testbed"
)

// checkRun is what one `pullguard check` process printed.
type checkRun struct {
	args           []string
	stdout, stderr string
	code           int
}

// pullguardCheck runs the built CLI (pullguardBinary) as a CI job would, in dir (so that
// findings name files as given, relative to it), with the flags the bed's loopback registries
// need, and logs what it printed.
func pullguardCheck(t *testing.T, dir string, args ...string) checkRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	full := append([]string{"check"}, args...)
	full = append(full, "--allow-private-registries=127.0.0.1,localhost", "--registry-ca-file="+bed.LoopbackCAFile())
	cmd := exec.CommandContext(ctx, pullguardBinary, full...)
	cmd.Dir = dir
	// No KUBECONFIG or HOME of the machine's: a cluster is read only when a test names one.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir()}
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	r := checkRun{args: full, stdout: stdout.String(), stderr: stderr.String()}
	var exitErr *exec.ExitError
	switch {
	case errors.As(err, &exitErr):
		r.code = exitErr.ExitCode()
	case err != nil:
		t.Fatalf("running pullguard %s: %v", strings.Join(full, " "), err)
	}
	t.Logf("$ pullguard %s\n%s%s[exit %d]", strings.Join(full, " "), r.stdout, r.stderr, r.code)
	return r
}

// want checks the exit status and that every line of lines is a whole line of stdout.
func (r checkRun) want(t *testing.T, code int, lines ...string) {
	t.Helper()
	if r.code != code {
		t.Errorf("pullguard %s: exit %d, want %d", strings.Join(r.args, " "), r.code, code)
	}
	got := strings.Split(r.stdout, "\n")
	for _, l := range lines {
		if !containsLine(got, l) {
			t.Errorf("stdout has no line starting with\n  %s", l)
		}
	}
}

// containsLine: some line starts with prefix (a finding ends with what it was checked with,
// whose wording the unit tests pin).
func containsLine(lines []string, prefix string) bool {
	for _, l := range lines {
		if strings.HasPrefix(l, prefix) {
			return true
		}
	}
	return false
}

// lineOf is the 1-based line of the first line of text that holds s, counted here rather than
// by the CLI's own parser.
func lineOf(t *testing.T, text, s string) int {
	t.Helper()
	for i, l := range strings.Split(text, "\n") {
		if strings.Contains(l, s) {
			return i + 1
		}
	}
	t.Fatalf("%q is not in\n%s", s, text)
	return 0
}

func writeManifest(t *testing.T, dir, name, text string) {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestCheckExamples runs `pullguard check` on examples/ as `make demo` does, the nodes' platform
// given as a flag: each file's finding at its image line, the examples that pull silent, exit 1.
func TestCheckExamples(t *testing.T) {
	t.Parallel()
	examples, err := testbed.LoadExamples(bed.Root, bed.Registry.Host)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	at := map[string]string{}
	for _, ex := range examples {
		writeManifest(t, dir, filepath.Join("examples", ex.File), string(ex.Manifest))
		at[ex.File] = fmt.Sprintf("examples/%s:%d: ", ex.File, lineOf(t, string(ex.Manifest), "image:"))
	}
	image := templateImage + ": pullguard: "
	r := pullguardCheck(t, dir, "-f", "examples", "--platform", "linux/amd64")
	r.want(t, 1,
		at["typo-tag.yaml"]+"Deployment/web-typo "+image+tag("1.O")+" not found in "+bed.Registry.Host+"/"+testbed.RepoWeb,
		at["wrong-arch.yaml"]+"Deployment/arm64-only "+image,
		at["private-no-secret.yaml"]+"Deployment/api "+image,
		at["single-arch.yaml"]+"Deployment/arm64-single "+image+"image is built for linux/arm64/v8 only but the candidate nodes are linux/amd64",
		"pullguard: 5 images: 2 pullable, 2 not pullable, 1 unverifiable (5 registry checks)",
	)
	for _, s := range []string{`tag "1.O"`, `did you mean "1.0"?`, "no linux/amd64 manifest", `ServiceAccount "default" is not in the input`} {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q", s)
		}
	}
	if strings.Contains(r.stdout, "examples/good.yaml") {
		t.Errorf("the image that pulls is reported without -v")
	}
	if r.stderr != "" {
		t.Errorf("stderr is not a terminal, yet it was written: %q", r.stderr)
	}
}

// dockerConfigJSON is a pull secret's .dockerconfigjson with the bed's reader account for host.
func dockerConfigJSON(host string) string {
	auth := base64.StdEncoding.EncodeToString([]byte(testbed.Reader.Username + ":" + testbed.Reader.Password))
	return fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
}

// TestCheckCredentials runs `pullguard check` on manifests that carry their own pull Secret
// and ServiceAccounts, as the kubelet would resolve them, and asserts each exit status.
func TestCheckCredentials(t *testing.T) {
	t.Parallel()
	private := bed.Images.Private
	secret := fmt.Sprintf(`apiVersion: v1
kind: Secret
metadata:
  name: regcred
type: kubernetes.io/dockerconfigjson
stringData:
  .dockerconfigjson: '%s'
`, dockerConfigJSON(bed.Registry.Host))
	sa := func(name string, secrets ...string) string {
		s := "apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: " + name + "\n"
		for i, sec := range secrets {
			if i == 0 {
				s += "imagePullSecrets:\n"
			}
			s += "  - name: " + sec + "\n"
		}
		return s
	}
	deployment := func(name, image string, spec ...string) string {
		return fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: %[1]s
spec:
  selector:
    matchLabels: {app: %[1]s}
  template:
    metadata:
      labels: {app: %[1]s}
    spec:
%[3]s      containers:
        - name: app
          image: %[2]s
`, name, image, strings.Join(spec, ""))
	}
	docs := func(d ...string) string { return strings.Join(d, "---\n") }
	finding := func(text, object, msg string) string {
		return fmt.Sprintf("deploy.yaml:%d: %s %s: pullguard: %s", lineOf(t, text, "image:"), object, templateImage, msg)
	}

	cases := map[string]struct {
		manifests string
		args      []string
		code      int
		lines     func(text string) []string
	}{
		"the ServiceAccount's pull secret, both in the input": {
			manifests: docs(secret, sa("builder", "regcred"), deployment("api", private, "      serviceAccountName: builder\n")),
			args:      []string{"-v"},
			code:      0,
			lines: func(text string) []string {
				return []string{
					finding(text, "Deployment/api", fmt.Sprintf("image %q is pullable [checked with imagePullSecret %q", private, "regcred")),
					"pullguard: 1 images: 1 pullable, 0 not pullable, 0 unverifiable (1 registry checks)",
				}
			},
		},
		"the pod's own pull secret": {
			manifests: docs(secret, deployment("api", private, "      imagePullSecrets: [{name: regcred}]\n")),
			args:      []string{"-v"},
			code:      0,
			lines: func(text string) []string {
				return []string{finding(text, "Deployment/api", fmt.Sprintf("image %q is pullable [checked with imagePullSecret %q", private, "regcred"))}
			},
		},
		"the default ServiceAccount in the input holds no secret: not pullable": {
			manifests: docs(secret, sa("default"), deployment("api", private)),
			code:      1,
			lines: func(text string) []string {
				return []string{
					finding(text, "Deployment/api", ""),
					"pullguard: 1 images: 0 pullable, 1 not pullable, 0 unverifiable (1 registry checks)",
				}
			},
		},
		"a pull secret not in the input: unverifiable, a warning by default": {
			manifests: docs(deployment("api", private, "      imagePullSecrets: [{name: missing}]\n")),
			code:      0,
			lines: func(text string) []string {
				return []string{finding(text, "Deployment/api", `not verified: imagePullSecret "missing" could not be read (not in the input`)}
			},
		},
		"a pull secret not in the input: exit 3 with --fail-on=unverifiable": {
			manifests: docs(deployment("api", private, "      imagePullSecrets: [{name: missing}]\n")),
			args:      []string{"--fail-on=unverifiable"},
			code:      3,
			lines: func(text string) []string {
				return []string{"pullguard: 1 images: 0 pullable, 0 not pullable, 1 unverifiable (0 registry checks)"}
			},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			writeManifest(t, dir, "deploy.yaml", tc.manifests)
			r := pullguardCheck(t, dir, append([]string{"-f", "deploy.yaml", "--platform", "linux/amd64"}, tc.args...)...)
			r.want(t, tc.code, tc.lines(tc.manifests)...)
			if strings.Contains(r.stdout+r.stderr, testbed.Reader.Password) {
				t.Errorf("a credential was printed")
			}
		})
	}
}

// TestCheckUsageErrors: exit 2, and the reason on stderr, for a command or input pullguard
// cannot check.
func TestCheckUsageErrors(t *testing.T) {
	t.Parallel()
	cases := map[string]struct {
		files  map[string]string
		args   []string
		stderr string
	}{
		"no input":         {stderr: "nothing to check"},
		"an unknown flag":  {args: []string{"-f", "x.yaml", "--no-such-flag"}, stderr: "unknown flag: --no-such-flag"},
		"a missing file":   {args: []string{"-f", "missing.yaml"}, stderr: "missing.yaml"},
		"a bad --platform": {args: []string{"-f", "x.yaml", "--platform", "amd64"}, stderr: `--platform: "amd64" is not os/arch`},
		"a document that does not parse": {
			files:  map[string]string{"x.yaml": "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\napiVersion: v1\nkind: Pod\nmetadata: [\n"},
			args:   []string{"-f", "x.yaml"},
			stderr: "x.yaml:6: document does not parse",
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			for f, text := range tc.files {
				writeManifest(t, dir, f, text)
			}
			r := pullguardCheck(t, dir, tc.args...)
			if r.code != 2 {
				t.Errorf("exit %d, want 2 (usage or input error)", r.code)
			}
			if !strings.Contains(r.stderr, tc.stderr) {
				t.Errorf("stderr lacks %q", tc.stderr)
			}
		})
	}
}

// TestCheckKubeconfig: with --kubeconfig, the pull Secret and ServiceAccount that only the
// cluster holds are read from the bed's API server by name, and its Nodes give the platforms.
// The user holds only the ClusterRole the README documents for check (manifests/cli/rbac.yaml).
func TestCheckKubeconfig(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "check-cluster", "")
	ctx := t.Context()
	if _, err := bed.Client.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "regcred"},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(dockerConfigJSON(bed.Registry.Host))},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := bed.Client.CoreV1().ServiceAccounts(ns).Create(ctx, &corev1.ServiceAccount{
		ObjectMeta:       metav1.ObjectMeta{Name: "builder"},
		ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	kubeconfig := rbacUser(t, "pullguard-check")

	manifests := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata:
  name: api
  namespace: %[1]s
spec:
  selector:
    matchLabels: {app: api}
  template:
    metadata:
      labels: {app: api}
    spec:
      serviceAccountName: builder
      containers:
        - name: app
          image: %[2]s
        - name: arm
          image: %[3]s
`, ns, bed.Images.Private, bed.Images.ARM64Only)
	dir := t.TempDir()
	writeManifest(t, dir, "deploy.yaml", manifests)
	r := pullguardCheck(t, dir, "-f", "deploy.yaml", "-v", "--kubeconfig", kubeconfig)
	r.want(t, 1,
		fmt.Sprintf("deploy.yaml:%d: Deployment/api %s: pullguard: image %q is pullable [checked with imagePullSecret %q",
			lineOf(t, manifests, "image: "+bed.Images.Private), templateImage, bed.Images.Private, "regcred"),
		fmt.Sprintf("deploy.yaml:%d: Deployment/api spec.template.spec.containers[1].image: pullguard: %s: image has no linux/amd64 manifest", lineOf(t, manifests, "image: "+bed.Images.ARM64Only), bed.Images.ARM64Only),
		fmt.Sprintf("pullguard: read from the cluster: Secret %[1]s/regcred, ServiceAccount %[1]s/builder", ns),
		"pullguard: 2 images: 1 pullable, 1 not pullable, 0 unverifiable (2 registry checks)",
	)
	if strings.Contains(r.stdout, "platforms not checked") {
		t.Errorf("the cluster's Nodes were not used as the platforms")
	}
}

// rbacUser provisions a user of the CLI bound to one ClusterRole of manifests/cli/rbac.yaml
// (applied with the real kubectl), named as the role, and returns its kubeconfig: the test runs
// with exactly the permissions the README documents.
func rbacUser(t *testing.T, role string) string {
	t.Helper()
	roles, err := os.ReadFile(filepath.Join(bed.Root, "manifests", "cli", "rbac.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	expect{contains: []string{"clusterrole.rbac.authorization.k8s.io/" + role}}.check(t, kubectl(t, roles, "apply", "-f", "-"))
	user := role + "-" + strings.ToLower(t.Name())
	res := kubectl(t, nil, "create", "clusterrolebinding", user, "--clusterrole="+role, "--user="+user)
	expect{contains: []string{"created"}}.check(t, res)
	kubeconfig, err := bed.ControlPlane.UserKubeconfig(user)
	if err != nil {
		t.Fatal(err)
	}
	return kubeconfig
}
