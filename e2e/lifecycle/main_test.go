package lifecycle

import (
	"os"
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
	"github.com/pullguard/pullguard/pkg/admission"
)

var bed *testbed.Bed

func TestMain(m *testing.M) {
	os.Exit(bedtest.Main(m, "e2e/lifecycle", bedtest.Start, &bed))
}

func kubectl(t *testing.T, stdin []byte, args ...string) testbed.KubectlResult {
	t.Helper()
	return bedtest.Kubectl(t, bed, stdin, args...)
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
	return bedtest.Namespace(t, bed, prefix, mode)
}

func deployment(t *testing.T, ns, name, image string) []byte {
	t.Helper()
	return bedtest.Deployment(t, ns, name, testbed.PodSpec(image))
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
