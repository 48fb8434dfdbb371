package e2e

import (
	"strings"
	"testing"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
	"github.com/pullguard/pullguard/pkg/admission"
)

func kubectl(t *testing.T, stdin []byte, args ...string) testbed.KubectlResult {
	t.Helper()
	return bedtest.Kubectl(t, bed, stdin, args...)
}

func namespace(t *testing.T, prefix string, mode admission.Mode) string {
	t.Helper()
	return bedtest.Namespace(t, bed, prefix, mode)
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
