package reverify

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/reverify"
)

// waitTimeout bounds every wait for the re-verifier: many scan intervals, on a loaded machine.
const waitTimeout = 90 * time.Second

// namespace is a fresh warn-mode namespace (scanned: the re-verifier's default mode is off)
// holding the bed's pull secret, bench.PullSecret.
func namespace(t *testing.T, prefix string) string {
	t.Helper()
	ns := bedtest.Namespace(t, bed.Bed, prefix, admission.ModeWarn)
	if err := bed.CreatePullSecret(t.Context(), ns); err != nil {
		t.Fatal(err)
	}
	return ns
}

// pushImage pushes the bed's small linux/amd64 image as repoTag to the token-auth registry.
func pushImage(t *testing.T, repoTag string) string {
	t.Helper()
	ref, err := bed.PushImage(t.Context(), repoTag)
	if err != nil {
		t.Fatal(err)
	}
	return ref
}

// createDeployment creates a Deployment of images with the pull secret (admitted by the webhook).
func createDeployment(t *testing.T, ns, name string, images ...string) {
	t.Helper()
	if _, err := bed.Client.AppsV1().Deployments(ns).Create(t.Context(), bench.Deployment(ns, name, images, bench.PullSecret), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// createCronJob creates a nightly CronJob of image with the pull secret.
func createCronJob(t *testing.T, ns, name, image string) {
	t.Helper()
	cj := &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule: "0 3 * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
				RestartPolicy:    corev1.RestartPolicyOnFailure,
				ImagePullSecrets: []corev1.LocalObjectReference{{Name: bench.PullSecret}},
				Containers:       []corev1.Container{{Name: "job", Image: image}},
			}}}},
		},
	}
	if _, err := bed.Client.BatchV1().CronJobs(ns).Create(t.Context(), cj, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// workload names one checked object.
type workload struct{ kind, name string }

func (w workload) String() string { return w.kind + "/" + w.name }

const (
	deploymentKind = "Deployment"
	cronJobKind    = "CronJob"
)

// report reads w's Report in ns (nil when there is none yet).
func report(ctx context.Context, t *testing.T, ns string, w workload) *openreports.Report {
	t.Helper()
	r := &openreports.Report{}
	err := bed.Reports.Get(ctx, client.ObjectKey{Namespace: ns, Name: reverify.ReportName(w.kind, w.name)}, r)
	switch {
	case apierrors.IsNotFound(err):
		return nil
	case err != nil:
		t.Fatalf("reading the Report of %s: %v", w, err)
	}
	return r
}

// waitReport waits until w's Report says want, and returns it.
func waitReport(t *testing.T, ns string, w workload, want openreports.Result) *openreports.Report {
	t.Helper()
	return waitReportWithin(t, waitTimeout, ns, w, want)
}

// waitReportWithin waits up to d until w's Report says one of want, and returns it.
func waitReportWithin(t *testing.T, d time.Duration, ns string, w workload, want ...openreports.Result) *openreports.Report {
	t.Helper()
	deadline := time.Now().Add(d)
	for {
		r := report(t.Context(), t, ns, w)
		if r != nil && slices.Contains(want, testbed.Worst(r)) {
			return r
		}
		if time.Now().After(deadline) {
			t.Fatalf("the Report of %s did not turn %v within %s; last: %s", w, want, d, describe(r))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func describe(r *openreports.Report) string {
	if r == nil {
		return "no Report"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "pass %d warn %d fail %d", r.Summary.Pass, r.Summary.Warn, r.Summary.Fail)
	for _, res := range r.Results {
		fmt.Fprintf(&b, "; %s %s: %s", res.Rule, res.Result, res.Description)
	}
	return b.String()
}

// events lists the events.k8s.io Events about w in ns with reason.
func events(t *testing.T, ns string, w workload, reason string) []eventsv1.Event {
	t.Helper()
	list, err := bed.Client.EventsV1().Events(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	var out []eventsv1.Event
	for _, e := range list.Items {
		if e.Reason == reason && e.Regarding.Kind == w.kind && e.Regarding.Name == w.name {
			out = append(out, e)
		}
	}
	return out
}

// waitEvents waits until there are Events about w with reason, and returns them.
func waitEvents(t *testing.T, ns string, w workload, reason string) []eventsv1.Event {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if evs := events(t, ns, w, reason); len(evs) > 0 || time.Now().After(deadline) {
			return evs
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// occurrences counts the times an Event was recorded: 1, or its series' count.
func occurrences(evs []eventsv1.Event) int {
	n := 0
	for _, e := range evs {
		if e.Series != nil {
			n += int(e.Series.Count)
		} else {
			n++
		}
	}
	return n
}

// scans waits for n more scan intervals to pass.
func scans(t *testing.T, n int) {
	t.Helper()
	select {
	case <-t.Context().Done():
	case <-time.After(time.Duration(n) * scanInterval):
	}
}

// notes are the Events' types and notes, for messages.
func notes(evs []eventsv1.Event) string {
	var out []string
	for _, e := range evs {
		out = append(out, e.Type+": "+e.Note)
	}
	return strings.Join(out, " | ")
}
