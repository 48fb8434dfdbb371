// Package bedtest holds the helpers the end-to-end test packages share on top of the test bed:
// one bed per package, and kubectl and object helpers that fail the test instead of returning
// errors.
package bedtest

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// startTimeout bounds starting a bed (the control plane takes about 5 s here).
const startTimeout = 3 * time.Minute

// Main starts a package's bed with start, stores it in *bed, runs the tests and stops it. Each
// bed is an etcd + kube-apiserver pair, so a package starts one in TestMain and shares it. The
// exit code fails when starting, a test or stopping fails.
func Main[B interface{ Stop() error }](m *testing.M, pkg string, start func(context.Context) (B, error), bed *B) int {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	b, err := start(ctx)
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: starting the test bed: %v\n", pkg, err)
		return 1
	}
	*bed = b
	code := m.Run()
	if err := b.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "%s: stopping the test bed: %v\n", pkg, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Start is the start function of a bed with the default options.
func Start(ctx context.Context) (*testbed.Bed, error) {
	return testbed.Start(ctx, testbed.Options{Progress: os.Stderr})
}

// Kubectl runs the real kubectl against bed and logs what it printed.
func Kubectl(t *testing.T, bed *testbed.Bed, stdin []byte, args ...string) testbed.KubectlResult {
	t.Helper()
	res, err := bed.Kubectl.Run(t.Context(), stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ kubectl %s\n%s[exit %d after %s]", strings.Join(args, " "), res.Output, res.ExitCode, res.Duration.Round(time.Millisecond))
	return res
}

// Namespace creates a fresh namespace in mode ("" leaves the label off).
func Namespace(t *testing.T, bed *testbed.Bed, prefix string, mode admission.Mode) string {
	t.Helper()
	ns, err := bed.Namespace(t.Context(), prefix, mode)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

// Deployment is the YAML of a Deployment running spec.
func Deployment(t *testing.T, ns, name string, spec corev1.PodSpec) []byte {
	t.Helper()
	y, err := testbed.DeploymentYAML(ns, name, spec)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// Pod is the YAML of a Pod running spec.
func Pod(t *testing.T, ns, name string, spec corev1.PodSpec) []byte {
	t.Helper()
	y, err := testbed.PodYAML(ns, name, spec)
	if err != nil {
		t.Fatal(err)
	}
	return y
}

// Restricted makes spec pass the "restricted" Pod Security level, which pullguard-system enforces.
func Restricted(spec corev1.PodSpec) corev1.PodSpec {
	yes, no := true, false
	spec.SecurityContext = &corev1.PodSecurityContext{
		RunAsNonRoot:   &yes,
		SeccompProfile: &corev1.SeccompProfile{Type: corev1.SeccompProfileTypeRuntimeDefault},
	}
	for i := range spec.Containers {
		spec.Containers[i].SecurityContext = &corev1.SecurityContext{
			AllowPrivilegeEscalation: &no,
			Capabilities:             &corev1.Capabilities{Drop: []corev1.Capability{"ALL"}},
		}
	}
	return spec
}
