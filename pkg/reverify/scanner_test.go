package reverify

import (
	"context"
	"strings"
	"testing"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// scanEnv is a scanner over a fake API server holding objs, and an engine answering verdicts.
type scanEnv struct {
	s        *Scanner
	c        client.Client
	engine   *countingEngine
	recorder *events.FakeRecorder
	clock    *fakeClock
}

func newScanEnv(t *testing.T, verdicts map[string]registry.Verdict, objs ...client.Object) *scanEnv {
	t.Helper()
	return newScanEnvWith(t, &countingEngine{verdicts: verdicts}, admission.DefaultConfig(), objs...)
}

// newScanEnvWith is newScanEnv with another engine and admission settings.
func newScanEnvWith(t *testing.T, engine admission.Checker, acfg admission.Config, objs ...client.Object) *scanEnv {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := openreports.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).Build()
	clock := newFakeClock()
	m, err := NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig()
	checker, err := NewChecker(cfg, engine, clock, m)
	if err != nil {
		t.Fatal(err)
	}
	h, err := admission.NewHandler(acfg, checker, c, c, nil)
	if err != nil {
		t.Fatal(err)
	}
	rec := events.NewFakeRecorder(100)
	s, err := NewScanner(cfg, h, checker, c, c, rec, m, clock)
	if err != nil {
		t.Fatal(err)
	}
	counting, _ := engine.(*countingEngine)
	return &scanEnv{s: s, c: c, engine: counting, recorder: rec, clock: clock}
}

func (e *scanEnv) events() []string {
	var out []string
	for {
		select {
		case ev := <-e.recorder.Events:
			out = append(out, ev)
		default:
			return out
		}
	}
}

func (e *scanEnv) report(t *testing.T, ns, name string) *openreports.Report {
	t.Helper()
	r := &openreports.Report{}
	if err := e.c.Get(context.Background(), client.ObjectKey{Namespace: ns, Name: name}, r); err != nil {
		t.Fatalf("report %s/%s: %v", ns, name, err)
	}
	return r
}

func template(images ...string) corev1.PodTemplateSpec {
	var cs []corev1.Container
	for i, im := range images {
		cs = append(cs, corev1.Container{Name: string(rune('a' + i)), Image: im})
	}
	return corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: cs}}
}

func TestScanWritesReportsAndEventsOnChange(t *testing.T) {
	gone := registry.Verdict{Outcome: registry.NotPullable, Class: registry.ClassTagNotFound, Detail: `tag "1" not found`, Fix: "push it"}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}},
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "quiet", Labels: map[string]string{admission.ModeLabel: "off"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "app"}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "d1"},
			Spec: appsv1.DeploymentSpec{Template: template("reg.example.com/web:1", "reg.example.com/shared:1")}},
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "app", UID: "c1"},
			Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template("reg.example.com/shared:1")}}}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-123", Namespace: "app", UID: "r1",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d1", Controller: ptr(true)}}},
			Spec: appsv1.ReplicaSetSpec{Template: template("reg.example.com/web:1")}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "off", Namespace: "quiet", UID: "d2"},
			Spec: appsv1.DeploymentSpec{Template: template("reg.example.com/web:1")}},
	}
	verdicts := map[string]registry.Verdict{}
	e := newScanEnv(t, verdicts, objs...)
	ctx := context.Background()

	if err := e.s.Scan(ctx, DefaultConfig().ScanInterval); err != nil {
		t.Fatal(err)
	}
	if got := e.engine.total(); got != 2 {
		t.Errorf("%d registry checks for 2 distinct images, want 2 (%v)", got, e.engine.calls)
	}
	if got := e.clock.total(); got <= 0 || got > DefaultConfig().ScanInterval {
		t.Errorf("the scan spread over %s, want within the interval", got)
	}
	web := e.report(t, "app", "pullguard-deployment-web")
	if web.Summary.Pass != 2 || len(web.Results) != 2 || web.Scope.Name != "web" {
		t.Errorf("web report %+v", web)
	}
	if r := e.report(t, "app", "pullguard-cronjob-nightly"); r.Summary.Pass != 1 ||
		r.Results[0].Rule != "spec.jobTemplate.spec.template.spec.containers[0].image" {
		t.Errorf("cronjob report %+v", r)
	}
	var reports openreports.ReportList
	if err := e.c.List(ctx, &reports); err != nil || len(reports.Items) != 2 {
		t.Errorf("%d reports (owned ReplicaSet and off namespace must have none): %v", len(reports.Items), err)
	}
	if ev := e.events(); len(ev) != 0 {
		t.Errorf("events on an all-pass first scan: %q", ev)
	}

	verdicts["reg.example.com/shared:1"] = gone
	for range 2 { // the second scan finds what the first found: no new Event
		if err := e.s.Scan(ctx, DefaultConfig().ScanInterval); err != nil {
			t.Fatal(err)
		}
	}
	ev := e.events()
	if len(ev) != 2 || !strings.HasPrefix(ev[0], "Warning ImageWillNotPull") || !strings.Contains(ev[0], `tag "1" not found; push it`) {
		t.Errorf("events after the tag went: %q (want one Warning per workload)", ev)
	}
	web = e.report(t, "app", "pullguard-deployment-web")
	if web.Summary.Fail != 1 || web.Results[1].Result != resultFail || web.Results[1].Description != `tag "1" not found; push it` {
		t.Errorf("web report after the tag went: %+v", web.Results)
	}

	delete(verdicts, "reg.example.com/shared:1")
	if err := e.s.Scan(ctx, DefaultConfig().ScanInterval); err != nil {
		t.Fatal(err)
	}
	if ev := e.events(); len(ev) != 2 || !strings.HasPrefix(ev[0], "Normal ImagePullable") {
		t.Errorf("events after re-push: %q", ev)
	}
}

func TestCheckRefusesToOverwriteAForeignReport(t *testing.T) {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "app", UID: "d1"},
		Spec: appsv1.DeploymentSpec{Template: template("reg.example.com/web:1")}}
	foreign := &openreports.Report{ObjectMeta: metav1.ObjectMeta{Name: "pullguard-deployment-web", Namespace: "app"}}
	e := newScanEnv(t, nil, d, foreign, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	if err := e.s.Check(context.Background(), kindGVK(t, "Deployment"), d); err == nil {
		t.Fatal("overwrote a Report pullguard does not manage")
	}
}
