package reverify

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testregistry"
)

// pushIndex pushes an image index of platforms as repoTag to the token-auth registry: a
// multi-platform image that lacks some platforms, the kind the engine reads per platform.
func pushIndex(t *testing.T, repoTag string, platforms ...*v1.Platform) string {
	t.Helper()
	idx, err := testregistry.PlatformIndex(platforms...)
	if err != nil {
		t.Fatal(err)
	}
	ref := bed.Bed.Registry.Ref(repoTag)
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(r, idx, bed.Bed.Registry.RemoteOptions(t.Context(), testbed.Pusher)...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	return ref
}

// triggerArgs make the periodic scan too rare to matter: whatever changes within the test was
// found by a trigger (the credential poll, the node platforms), not by a scan.
var triggerArgs = append(append([]string{}, reverifierArgs...),
	"--scan-interval=1h",
	"--reverify-secret-poll-interval=1s",
	"--reverify-platform-rescan-spread=1s",
)

// triggerWait bounds a triggered check: a few polls and a rescan spread, on a loaded machine,
// far below the hour the next scan is away.
const triggerWait = 45 * time.Second

// swapReverifier replaces the package's re-verifier by one started with args until the test ends
// (then the package's comes back): the Lease passes from one to the other, released on stop.
func swapReverifier(t *testing.T, args []string) {
	t.Helper()
	if err := bed.Reverifier.Stop(); err != nil {
		t.Fatal(err)
	}
	bed.Reverifier = nil
	restart := func(args []string) {
		// Not t.Context(): it is cancelled before the cleanup that restarts the package's.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rv, err := bed.Bed.StartReverifier(ctx, testbed.ReverifierOptions{Args: args})
		if err != nil {
			t.Fatal(err)
		}
		bed.Reverifier = rv
	}
	t.Cleanup(func() {
		if bed.Reverifier != nil {
			if err := bed.Reverifier.Stop(); err != nil {
				t.Error(err)
			}
			bed.Reverifier = nil
		}
		restart(reverifierArgs)
	})
	restart(args)
}

// TestTriggers (not parallel: it runs its own re-verifier, whose scan is an hour away): a new
// workload is checked when it is created; its pull secret rotated to a wrong password turns it to
// fail at once; a node of a new platform under an amd64-only image turns a workload that may
// land there to warn or fail (a tainted one does not), leaves one pinned to amd64 passing, and
// its removal clears it.
func TestTriggers(t *testing.T) {
	swapReverifier(t, triggerArgs)
	ctx := t.Context()

	t.Run("secret rotated", func(t *testing.T) {
		ns := namespace(t, "rv-secret")
		image := pushImage(t, "private/rv-secret:1.0")
		createDeployment(t, ns, "api", image)
		w := workload{deploymentKind, "api"}
		// Created: checked by the trigger, not the scan an hour away.
		waitReportWithin(t, triggerWait, ns, w, "pass")

		doc, err := json.Marshal(map[string]any{"auths": map[string]any{bed.Bed.Registry.Host: map[string]string{
			"username": testbed.Reader.Username, "password": "rotated-elsewhere"}}})
		if err != nil {
			t.Fatal(err)
		}
		s, err := bed.Client.CoreV1().Secrets(ns).Get(ctx, bench.PullSecret, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		s.Data = map[string][]byte{corev1.DockerConfigJsonKey: doc}
		if _, err := bed.Client.CoreV1().Secrets(ns).Update(ctx, s, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		waitReportWithin(t, triggerWait, ns, w, "fail")
		t.Logf("the Report turned fail %s after the secret was rotated", time.Since(start).Round(100*time.Millisecond))
	})

	t.Run("node platforms", func(t *testing.T) {
		ns := namespace(t, "rv-platform")
		image := pushIndex(t, "private/rv-amd64-only:1.0", &v1.Platform{OS: "linux", Architecture: "amd64"})
		createDeployment(t, ns, "anywhere", image)
		pinned := bench.Deployment(ns, "pinned", []string{image}, bench.PullSecret)
		pinned.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "amd64"}
		if _, err := bed.Client.AppsV1().Deployments(ns).Create(ctx, pinned, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		anywhere, onAMD64 := workload{deploymentKind, "anywhere"}, workload{deploymentKind, "pinned"}
		// The bed's arm64 node is tainted: neither may land there.
		waitReportWithin(t, triggerWait, ns, anywhere, "pass")
		waitReportWithin(t, triggerWait, ns, onAMD64, "pass")

		// The platform set changes only with a platform no Node ran yet (the bed's arm64 node
		// is there, tainted): a tainted riscv64 node, that neither tolerates, and an untainted
		// s390x node, that "anywhere" may land on.
		tainted := testbed.Node{Name: "node-riscv64-tainted", OS: "linux", Arch: "riscv64",
			Taints: []corev1.Taint{{Key: "dedicated", Value: "riscv", Effect: corev1.TaintEffectNoSchedule}}}
		open := testbed.Node{Name: "node-s390x", OS: "linux", Arch: "s390x"}
		removed := map[string]bool{}
		remove := func(node string) {
			if !removed[node] {
				removed[node] = true
				if err := bed.Client.CoreV1().Nodes().Delete(ctx, node, metav1.DeleteOptions{}); err != nil {
					t.Error(err)
				}
			}
		}
		for _, n := range []testbed.Node{tainted, open} {
			if err := testbed.CreateNodes(ctx, bed.Client, n); err != nil {
				t.Fatal(err)
			}
			defer remove(n.Name)
		}
		got := testbed.Worst(waitReportWithin(t, triggerWait, ns, anywhere, "warn", "fail"))
		r := report(ctx, t, ns, anywhere)
		t.Logf("with an untainted s390x node, the amd64-only workload that may land there is %s: %s", got, describe(r))
		if desc := r.Results[0].Description; !strings.Contains(desc, "linux/s390x") || strings.Contains(desc, "riscv64") {
			t.Errorf("the Report names %q, want the untainted node's platform only", desc)
		}
		if r := report(ctx, t, ns, onAMD64); testbed.Worst(r) != "pass" {
			t.Errorf("the workload pinned to amd64 is %s: %s", testbed.Worst(r), describe(r))
		}
		remove(open.Name)
		waitReportWithin(t, triggerWait, ns, anywhere, "pass")
	})
}
