package reverify

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/reverify"
)

// labelMode sets ns's pullguard.io/mode label.
func labelMode(t *testing.T, ns string, mode admission.Mode) {
	t.Helper()
	patch := fmt.Sprintf(`{"metadata":{"labels":{%q:%q}}}`, admission.ModeLabel, mode)
	if _, err := bed.Client.CoreV1().Namespaces().Patch(t.Context(), ns, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestReportsFollowTheRegistry: a Deployment and a CronJob whose private image pulls get a pass
// Report; the tag deleted from the registry turns both to fail with the webhook's words and one
// Warning Event each, however many scans follow; the tag pushed again turns them back to pass
// with one Normal Event each.
func TestReportsFollowTheRegistry(t *testing.T) {
	t.Parallel()
	ctx := t.Context()
	// Created in mode off, so the webhook's verdict cache never holds the image: after the
	// delete, its answer for the same image is asked fresh, for comparison.
	ns := namespace(t, "rv-flip")
	labelMode(t, ns, admission.ModeOff)
	image := pushImage(t, "private/rv-flip:1.0")
	createDeployment(t, ns, "api", image)
	createCronJob(t, ns, "nightly", image)
	labelMode(t, ns, admission.ModeWarn)
	workloads := []workload{{deploymentKind, "api"}, {cronJobKind, "nightly"}}
	paths := map[string]string{
		deploymentKind: "spec.template.spec.containers[0].image",
		cronJobKind:    "spec.jobTemplate.spec.template.spec.containers[0].image",
	}
	for _, w := range workloads {
		r := waitReport(t, ns, w, "pass")
		if len(r.Results) != 1 || r.Results[0].Rule != paths[w.kind] || r.Results[0].Properties["image"] != image {
			t.Errorf("%s: Report %s, want one pass result for %s at %s", w, describe(r), image, paths[w.kind])
		}
		if len(r.OwnerReferences) != 1 || r.OwnerReferences[0].Kind != w.kind || r.OwnerReferences[0].Name != w.name {
			t.Errorf("%s: the Report is owned by %v", w, r.OwnerReferences)
		}
	}
	failing := func() float64 {
		v, err := bed.Reverifier.MetricWhere(ctx, "pullguard_reverify_workloads", map[string]string{"result": "fail"})
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	failingBefore := failing()

	if err := bed.Bed.Registry.DeleteTag(ctx, image, testbed.Pusher); err != nil {
		t.Fatal(err)
	}
	admitted := bed.CreatePod(ctx, ns, image)
	if admitted.Err != nil || len(admitted.Warnings) == 0 {
		t.Fatalf("the webhook's answer for the deleted tag: err %v, warnings %q", admitted.Err, admitted.Warnings)
	}
	said := map[workload]string{}
	for _, w := range workloads {
		r := waitReport(t, ns, w, "fail")
		desc := r.Results[0].Description
		said[w] = desc
		if desc == "" || !strings.Contains(strings.Join(admitted.Warnings, "\n"), ": pullguard: "+desc) {
			t.Errorf("%s: the Report says %q, the webhook %q", w, desc, admitted.Warnings)
		}
		if r.Results[0].Properties["reason"] == "" || r.Results[0].Properties["fix"] == "" {
			t.Errorf("%s: the failing result has no reason or fix: %v", w, r.Results[0].Properties)
		}
	}
	if got := failing(); got < failingBefore+2 {
		t.Errorf("pullguard_reverify_workloads{result=fail} = %v, want at least %v", got, failingBefore+2)
	}
	// Later scans find the same failure: no more Events.
	scans(t, 3)
	for _, w := range workloads {
		evs := events(t, ns, w, reverify.ReasonWillNotPull)
		if occurrences(evs) != 1 || evs[0].Type != corev1.EventTypeWarning || !strings.Contains(evs[0].Note, said[w]) {
			t.Errorf("%s: %d %s Events (%s), want one Warning saying %q", w, occurrences(evs), reverify.ReasonWillNotPull, notes(evs), said[w])
		}
	}

	pushImage(t, "private/rv-flip:1.0")
	for _, w := range workloads {
		waitReport(t, ns, w, "pass")
		evs := waitEvents(t, ns, w, reverify.ReasonPullable)
		if occurrences(evs) != 1 || evs[0].Type != corev1.EventTypeNormal {
			t.Errorf("%s: %d %s Events (%s), want one Normal", w, occurrences(evs), reverify.ReasonPullable, notes(evs))
		}
		if n := occurrences(events(t, ns, w, reverify.ReasonWillNotPull)); n != 1 {
			t.Errorf("%s: %d %s Events after recovery, want still 1", w, n, reverify.ReasonWillNotPull)
		}
	}
}

// TestRateLimitedRegistryNeverFails: a registry answering 429 makes the image unverifiable
// (warn), never fail, and the host's pause ends when it answers again.
func TestRateLimitedRegistryNeverFails(t *testing.T) {
	t.Parallel()
	front, err := bed.StartFaultFront(bench.Fault{})
	if err != nil {
		t.Fatal(err)
	}
	ns := namespace(t, "rv-429")
	image := front.Ref(testbed.RepoWeb + ":1.0")
	createDeployment(t, ns, "web", image)
	w := workload{deploymentKind, "web"}
	waitReport(t, ns, w, "pass")

	front.SetRegistryFault(testregistry.Fault{Status: 429, RetryAfter: "1"})
	// Watch every scan for a while: warn is expected, fail never.
	ctx, cancel := context.WithTimeout(t.Context(), 5*scanInterval+10*time.Second)
	defer cancel()
	sawWarn := false
	for ctx.Err() == nil {
		r := report(ctx, t, ns, w)
		switch {
		case r == nil:
		case testbed.Worst(r) == "fail":
			t.Fatalf("a rate-limited registry turned the Report to fail: %s", describe(r))
		case testbed.Worst(r) == "warn":
			sawWarn = true
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
	if !sawWarn {
		t.Errorf("the Report never said warn while the registry answered 429: %s", describe(report(t.Context(), t, ns, w)))
	}
	if n := len(events(t, ns, w, reverify.ReasonWillNotPull)); n != 0 {
		t.Errorf("%d %s Events for a rate-limited registry, want none", n, reverify.ReasonWillNotPull)
	}

	front.SetRegistryFault(testregistry.Fault{})
	// The host stays paused for its back-off (30 s) after the last 429, then answers.
	waitReport(t, ns, w, "pass")
}

// TestSharedImagesCostOneRequestPerScan: N workloads naming K images cost the registry what one
// workload per image costs, scan after scan (the scan de-duplicates across the cluster).
func TestSharedImagesCostOneRequestPerScan(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "rv-load")
	const perImage = 4
	shared := []string{"private/rv-load-a", "private/rv-load-b"}
	const alone = "private/rv-load-alone"
	var all []workload
	for i, repo := range shared {
		image := pushImage(t, repo+":1.0")
		for j := range perImage {
			name := fmt.Sprintf("shared-%d-%d", i, j)
			createDeployment(t, ns, name, image)
			all = append(all, workload{deploymentKind, name})
		}
	}
	createDeployment(t, ns, "alone", pushImage(t, alone+":1.0"))
	all = append(all, workload{deploymentKind, "alone"})
	for _, w := range all {
		waitReport(t, ns, w, "pass")
	}

	before := map[string]int{}
	for _, repo := range append(shared, alone) {
		before[repo] = bed.Bed.Registry.Requests(repo).Manifests
	}
	scans(t, 5)
	control := bed.Bed.Registry.Requests(alone).Manifests - before[alone]
	if control < 2 {
		t.Fatalf("%s got %d manifest requests in 5 scan intervals, want a scan's request at least twice", alone, control)
	}
	counts := map[string]int{}
	for _, repo := range shared {
		counts[repo] = bed.Bed.Registry.Requests(repo).Manifests - before[repo]
		// A scan starts at most one interval after the last one, and each asks once: the counts
		// of two repositories over one window differ by at most one scan's.
		if got := counts[repo]; got > control+1 {
			t.Errorf("%s, named by %d workloads, got %d manifest requests while %s (one workload) got %d: not one per scan",
				repo, perImage, got, alone, control)
		}
	}
	t.Logf("manifest requests in 5 scan intervals: %d for the single-workload image, %v for the images %d workloads share each", control, counts, perImage)
}

// TestOneLeaderScans (not parallel: it replaces the package's re-verifier): a second instance,
// bound to the same roles as its own user, waits while the first holds the Lease, so the
// registry sees one scan's requests per interval; when the first stops, it takes over.
func TestOneLeaderScans(t *testing.T) {
	ctx := t.Context()
	const standby = "pullguard-reverify-standby"
	bind := [][]string{
		{"create", "clusterrolebinding", standby, "--clusterrole=" + testbed.ReverifierDeployment, "--user=" + standby},
		{"create", "rolebinding", standby, "-n", bed.Bed.Deployed.Namespace, "--role=" + testbed.ReverifierDeployment + "-leader-election", "--user=" + standby},
	}
	for _, args := range bind {
		if res := bedtest.Kubectl(t, bed.Bed, nil, args...); res.ExitCode != 0 {
			t.Fatalf("kubectl %s: exit %d", strings.Join(args, " "), res.ExitCode)
		}
	}
	leases := bed.Client.CoordinationV1().Leases(bed.Bed.Deployed.Namespace)
	holder := func() string {
		l, err := leases.Get(ctx, "pullguard-reverify", metav1.GetOptions{})
		if err != nil || l.Spec.HolderIdentity == nil {
			return ""
		}
		return *l.Spec.HolderIdentity
	}
	first := holder()
	if first == "" {
		t.Fatal("the package's re-verifier holds no Lease pullguard-reverify")
	}

	ns := namespace(t, "rv-leader")
	const repo = "private/rv-leader"
	createDeployment(t, ns, "web", pushImage(t, repo+":1.0"))
	waitReport(t, ns, workload{deploymentKind, "web"}, "pass")

	second, err := bed.Bed.StartReverifier(ctx, testbed.ReverifierOptions{User: standby, Args: reverifierArgs})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if second != nil {
			if err := second.Stop(); err != nil {
				t.Error(err)
			}
		}
	}()
	before := bed.Bed.Registry.Requests(repo).Manifests
	scans(t, 5)
	got := bed.Bed.Registry.Requests(repo).Manifests - before
	// One scanner asks once per scan, 5 or 6 times in the window (fewer on a slow machine);
	// two would ask 10 or more.
	if got < 1 || got > 6 {
		t.Errorf("%d manifest requests for %s in 5 scan intervals with two instances, want 1-6 (one scanner)", got, repo)
	}
	t.Logf("manifest requests for %s in 5 scan intervals with two instances: %d", repo, got)
	if h := holder(); h != first {
		t.Errorf("the Lease moved from %q to %q while its holder ran", first, h)
	}

	// The first stops and releases the Lease; the standby takes over and scans.
	if err := bed.Reverifier.Stop(); err != nil {
		t.Error(err)
	}
	bed.Reverifier, second = second, nil
	deadline := time.Now().Add(waitTimeout)
	for h := holder(); h == "" || h == first; h = holder() {
		if time.Now().After(deadline) {
			t.Fatalf("the standby did not take the Lease over within %s (holder %q)", waitTimeout, h)
		}
		time.Sleep(250 * time.Millisecond)
	}
	createDeployment(t, ns, "after", pushImage(t, repo+":2.0"))
	waitReport(t, ns, workload{deploymentKind, "after"}, "pass")
}
