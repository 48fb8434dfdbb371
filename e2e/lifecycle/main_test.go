package lifecycle

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

var bed *testbed.Bed

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	b, err := testbed.Start(ctx, testbed.Options{Progress: os.Stderr})
	cancel()
	if err != nil {
		fmt.Fprintf(os.Stderr, "e2e/lifecycle: starting the test bed: %v\n", err)
		return 1
	}
	bed = b
	code := m.Run()
	if err := bed.Stop(); err != nil {
		fmt.Fprintf(os.Stderr, "e2e/lifecycle: stopping the test bed: %v\n", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

func kubectl(t *testing.T, stdin []byte, args ...string) testbed.KubectlResult {
	t.Helper()
	res, err := bed.Kubectl.Run(t.Context(), stdin, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("$ kubectl %s\n%s[exit %d after %s]", strings.Join(args, " "), res.Output, res.ExitCode, res.Duration.Round(time.Millisecond))
	return res
}

// mustSucceed runs kubectl and requires exit 0, each of contains in the output and no warning.
func mustSucceed(t *testing.T, stdin []byte, args []string, contains ...string) testbed.KubectlResult {
	t.Helper()
	res := kubectl(t, stdin, args...)
	if res.ExitCode != 0 {
		t.Fatalf("kubectl %s: exit %d:\n%s", strings.Join(args, " "), res.ExitCode, res.Output)
	}
	if strings.Contains(res.Output, "Warning: ") {
		t.Errorf("kubectl %s printed a warning:\n%s", strings.Join(args, " "), res.Output)
	}
	for _, s := range contains {
		if !strings.Contains(res.Output, s) {
			t.Errorf("kubectl %s: output lacks %q:\n%s", strings.Join(args, " "), s, res.Output)
		}
	}
	return res
}

func namespace(t *testing.T, prefix string, mode admission.Mode) string {
	t.Helper()
	ns, err := bed.Namespace(t.Context(), prefix, mode)
	if err != nil {
		t.Fatal(err)
	}
	return ns
}

func deployment(t *testing.T, ns, name, image string) []byte {
	t.Helper()
	y, err := testbed.DeploymentYAML(ns, name, testbed.PodSpec(image))
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

func restartWebhook(t *testing.T) {
	t.Helper()
	if err := bed.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	if err := bed.StartWebhook(t.Context()); err != nil {
		t.Fatal(err)
	}
}

func decisions(t *testing.T) float64 {
	t.Helper()
	n, err := bed.Webhook.Metric(t.Context(), "pullguard_admission_decisions_total")
	if err != nil {
		t.Fatal(err)
	}
	return n
}
