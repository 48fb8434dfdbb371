package e2e

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// kubectl runs the real kubectl and logs what it printed.
func kubectl(t *testing.T, stdin []byte, args ...string) testbed.KubectlResult {
	t.Helper()
	res, err := bed.Kubectl.Run(t.Context(), stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ kubectl %s\n%s[exit %d after %s]", strings.Join(args, " "), res.Output, res.ExitCode, res.Duration.Round(1e6))
	return res
}

// namespace creates a fresh namespace in mode ("" leaves the label off).
func namespace(t *testing.T, prefix string, mode admission.Mode) string {
	t.Helper()
	ns, err := bed.Namespace(t.Context(), prefix, mode)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func deployment(t *testing.T, ns, name string, spec corev1.PodSpec) []byte {
	t.Helper()
	y, err := testbed.DeploymentYAML(ns, name, spec)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

func pod(t *testing.T, ns, name string, spec corev1.PodSpec) []byte {
	t.Helper()
	y, err := testbed.PodYAML(ns, name, spec)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// expect describes what a kubectl run must print.
type expect struct {
	// refused: a non-zero exit; otherwise exit 0.
	refused bool
	// contains must all appear in the output; absent must not.
	contains []string
	absent   []string
}

func (e expect) check(t *testing.T, res testbed.KubectlResult) {
	t.Helper()
	switch {
	case e.refused && res.ExitCode == 0:
		t.Errorf("kubectl %s: admitted, want refused; output:\n%s", strings.Join(res.Args, " "), res.Output)
	case !e.refused && res.ExitCode != 0:
		t.Errorf("kubectl %s: exit %d, want admitted; output:\n%s", strings.Join(res.Args, " "), res.ExitCode, res.Output)
	}
	for _, s := range e.contains {
		if !strings.Contains(res.Output, s) {
			t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(res.Args, " "), s, res.Output)
		}
	}
	for _, s := range e.absent {
		if strings.Contains(res.Output, s) {
			t.Errorf("kubectl %s: output has %q:\n%s", strings.Join(res.Args, " "), s, res.Output)
		}
	}
}

// Pieces of what kubectl prints.
const (
	warning = "Warning: "
	// containerImage and templateImage are the field paths the webhook names.
	containerImage = "spec.containers[0].image"
	templateImage  = "spec.template.spec.containers[0].image"
)

// invalid is how kubectl prints a 422 Invalid answer, the webhook's denial: it shows the causes
// (field path and message) but not the "admission webhook ... denied the request" prefix the API
// server adds to the status message.
func invalid(kind, name string) string { return "The " + kind + " \"" + name + "\" is invalid: " }

// tag is how the webhook names a tag in its messages.
func tag(t string) string { return `tag "` + t + `"` }
