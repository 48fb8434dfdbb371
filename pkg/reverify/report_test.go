package reverify

import (
	"strings"
	"testing"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

func TestChecked(t *testing.T) {
	owner := []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "u", Controller: ptr(true)}}
	notController := []metav1.OwnerReference{{APIVersion: "v1", Kind: "ConfigMap", Name: "x", UID: "u"}}
	meta := func(o []metav1.OwnerReference) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "x", Namespace: "ns", OwnerReferences: o}
	}
	tests := map[string]struct {
		kind string
		obj  client.Object
		want bool
	}{
		"Deployment":                       {"Deployment", &appsv1.Deployment{ObjectMeta: meta(nil)}, true},
		"StatefulSet":                      {"StatefulSet", &appsv1.StatefulSet{ObjectMeta: meta(nil)}, true},
		"DaemonSet":                        {"DaemonSet", &appsv1.DaemonSet{ObjectMeta: meta(nil)}, true},
		"CronJob":                          {"CronJob", &batchv1.CronJob{ObjectMeta: meta(nil)}, true},
		"bare ReplicaSet":                  {"ReplicaSet", &appsv1.ReplicaSet{ObjectMeta: meta(nil)}, true},
		"ReplicaSet of a Deployment":       {"ReplicaSet", &appsv1.ReplicaSet{ObjectMeta: meta(owner)}, false},
		"ReplicaSet with a non-controller": {"ReplicaSet", &appsv1.ReplicaSet{ObjectMeta: meta(notController)}, true},
		"bare Job":                         {"Job", &batchv1.Job{ObjectMeta: meta(nil)}, true},
		"Job of a CronJob":                 {"Job", &batchv1.Job{ObjectMeta: meta(owner)}, false},
		"bare Pod":                         {"Pod", &corev1.Pod{ObjectMeta: meta(nil)}, true},
		"Pod of a ReplicaSet":              {"Pod", &corev1.Pod{ObjectMeta: meta(owner)}, false},
		"finished bare Pod":                {"Pod", &corev1.Pod{ObjectMeta: meta(nil), Status: corev1.PodStatus{Phase: corev1.PodSucceeded}}, false},
		"a Deployment being deleted":       {"Deployment", &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "x", DeletionTimestamp: &metav1.Time{}}}, false},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var gvk = kindGVK(t, tc.kind)
			if got := Checked(gvk, tc.obj); got != tc.want {
				t.Errorf("Checked = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReportName(t *testing.T) {
	long := strings.Repeat("a", 253)
	tests := map[string]struct {
		kind, name, want string
	}{
		"short":                            {"Deployment", "web", "pullguard-deployment-web"},
		"too long: cut, with a hash of it": {"Deployment", long, ""},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got := ReportName(tc.kind, tc.name)
			if tc.want != "" && got != tc.want {
				t.Errorf("name %q, want %q", got, tc.want)
			}
			if errs := validation.IsDNS1123Subdomain(got); len(errs) > 0 {
				t.Errorf("name %q invalid: %v", got, errs)
			}
		})
	}
	if ReportName("Deployment", long) == ReportName("Deployment", long+"b") {
		t.Error("two long names share a report")
	}
}

func TestBuildReport(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "uid-1"}}
	ev := admission.Evaluation{
		Results: []admission.Result{
			{Path: "spec.template.spec.containers[0].image", Image: "nginx:1.25", Outcome: registry.Pullable, Reason: "ok",
				Verdict: registry.Verdict{Digest: "sha256:abc"}},
			{Path: "spec.template.spec.containers[1].image", Image: "gone:1", Outcome: registry.NotPullable, Reason: "tag_not_found",
				Message: `tag "1" not found; fix it`, Fix: "fix it"},
			{Path: "spec.template.spec.containers[2].image", Image: "slow:1", Outcome: registry.Unverifiable, Reason: "rate_limited",
				Message: "not verified: rate limited"},
			{Path: "spec.template.spec.containers[3].image", Image: "amd:1", Outcome: registry.Pullable, Reason: "ok"},
		},
		Notes: []string{"spec.template.spec.containers[3].image: pullguard: only linux/amd64 of the nodes' platforms"},
	}
	r := BuildReport(kindGVK(t, "Deployment"), d, ev)
	if r.Name != "pullguard-deployment-web" || r.Namespace != "app" || r.Labels[ManagedByLabel] != ManagedBy {
		t.Errorf("metadata %+v", r.ObjectMeta)
	}
	if len(r.OwnerReferences) != 1 || r.OwnerReferences[0].UID != "uid-1" || r.OwnerReferences[0].Kind != "Deployment" {
		t.Errorf("owner %+v", r.OwnerReferences)
	}
	want := map[string]struct {
		result openreports.Result
		msg    string
	}{
		"spec.template.spec.containers[0].image": {resultPass, ""},
		"spec.template.spec.containers[1].image": {resultFail, `tag "1" not found; fix it`},
		"spec.template.spec.containers[2].image": {resultWarn, "not verified: rate limited"},
		"spec.template.spec.containers[3].image": {resultWarn, ev.Notes[0]},
	}
	for _, res := range r.Results {
		w, ok := want[res.Rule]
		if !ok || res.Result != w.result || res.Description != w.msg || res.Policy != Policy || res.Source != Source {
			t.Errorf("result %s: %s %q, want %s %q", res.Rule, res.Result, res.Description, w.result, w.msg)
		}
	}
	if r.Results[1].Properties[propFix] != "fix it" || r.Results[0].Properties[propDigest] != "sha256:abc" {
		t.Errorf("properties %v %v", r.Results[0].Properties, r.Results[1].Properties)
	}
	if s := r.Summary; s.Pass != 1 || s.Fail != 1 || s.Warn != 2 {
		t.Errorf("summary %+v", s)
	}
}

func TestEventsFor(t *testing.T) {
	const a, b = "spec.containers[0].image", "spec.containers[1].image"
	report := func(results ...openreports.Result) *openreports.Report {
		r := &openreports.Report{}
		for i, res := range results {
			r.Results = append(r.Results, openreports.ReportResult{Rule: []string{a, b}[i], Result: res, Description: "msg " + string(res)})
		}
		return r
	}
	tests := map[string]struct {
		prev, next *openreports.Report
		want       []string
	}{
		"first report, all pass: silent":          {nil, report(resultPass, resultPass), nil},
		"first report with a failure: a Warning":  {nil, report(resultFail, resultPass), []string{"Warning ImageWillNotPull " + a + ": msg fail"}},
		"unchanged failure: silent":               {report(resultFail), report(resultFail), nil},
		"pass turns fail: a Warning":              {report(resultPass, resultPass), report(resultPass, resultFail), []string{"Warning ImageWillNotPull " + b + ": msg fail"}},
		"fail recovers: a Normal":                 {report(resultFail, resultPass), report(resultPass, resultPass), []string{"Normal ImagePullable pullable again: " + a}},
		"fail turns unverifiable: silent":         {report(resultFail), report(resultWarn), nil},
		"pass turns unverifiable: silent":         {report(resultPass), report(resultWarn), nil},
		"one recovers, another fails: both, once": {report(resultFail, resultPass), report(resultPass, resultFail), []string{"Warning ImageWillNotPull " + b + ": msg fail", "Normal ImagePullable pullable again: " + a}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var got []string
			for _, e := range eventsFor(tc.prev, tc.next) {
				got = append(got, e.Type+" "+e.Reason+" "+e.Message)
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("events %q, want %q", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
