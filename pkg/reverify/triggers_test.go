package reverify

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/cache/informertest"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller/controllertest"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
)

// recordingQueue records what the triggers queue; nothing else of the queue is used.
type recordingQueue struct {
	workQueue
	mu     sync.Mutex
	added  []workloadKey
	after  map[workloadKey]time.Duration
	nAfter int
}

func (q *recordingQueue) Add(k workloadKey) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.added = append(q.added, k)
}

func (q *recordingQueue) AddAfter(k workloadKey, d time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.after == nil {
		q.after = map[workloadKey]time.Duration{}
	}
	q.after[k] = d
	q.nAfter++
}

// keys is what was queued at once, sorted by name, and cleared.
func (q *recordingQueue) take() []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	var out []string
	for _, k := range q.added {
		out = append(out, k.kind+" "+k.NamespacedName.String())
	}
	slices.Sort(out)
	q.added = nil
	return out
}

func deployment(name string, mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: types.UID("uid-" + name), ResourceVersion: "1", Generation: 1},
		Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(1)), Template: template("reg.example.com/" + name + ":1")}}
	for _, m := range mutate {
		m(d)
	}
	return d
}

func pod(name string, mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: types.UID("uid-" + name), ResourceVersion: "1"},
		Spec: template("reg.example.com/" + name + ":1").Spec, Status: corev1.PodStatus{Phase: corev1.PodPending}}
	for _, m := range mutate {
		m(p)
	}
	return p
}

var controllerRef = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: "web-1", UID: "rs", Controller: ptr(true)}}

func TestWorkloadEventsQueueWhatACheckReads(t *testing.T) {
	type change struct {
		kind     string
		old, new client.Object // old nil: a create; new nil: a delete
		initial  bool
	}
	dep := func(m ...func(*appsv1.Deployment)) client.Object { return deployment("web", m...) }
	tests := map[string]struct {
		change
		want bool
	}{
		"a Deployment created":             {change{kind: "Deployment", new: dep()}, true},
		"a Deployment in the initial list": {change{kind: "Deployment", new: dep(), initial: true}, false},
		"a bare Pod created":               {change{kind: "Pod", new: pod("p")}, true},
		"a ReplicaSet's Pod created":       {change{kind: "Pod", new: pod("p", func(p *corev1.Pod) { p.OwnerReferences = controllerRef })}, false},
		"a Deployment deleted":             {change{kind: "Deployment", old: dep()}, true},
		"a ReplicaSet's Pod deleted":       {change{kind: "Pod", old: pod("p", func(p *corev1.Pod) { p.OwnerReferences = controllerRef })}, false},
		"a bare Pod deleted":               {change{kind: "Pod", old: pod("p")}, true},
		"an image changed":                 {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "reg.example.com/web:2" })}, true},
		"an init container added": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.InitContainers = []corev1.Container{{Image: "busybox:1"}}
		})}, true},
		"a pull policy changed": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].ImagePullPolicy = corev1.PullAlways })}, true},
		"a pull secret added": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "pull"}}
		})}, true},
		"the ServiceAccount changed": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) { d.Spec.Template.Spec.ServiceAccountName = "builder" })}, true},
		"the nodeSelector changed": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"}
		})}, true},
		"a toleration added": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: "pool", Operator: corev1.TolerationOpExists}}
		})}, true},
		"scaled: replicas, generation and rv": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) { d.Spec.Replicas, d.Generation, d.ResourceVersion = ptr(int32(5)), 2, "2" })}, false},
		"status only":                         {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) { d.Status.ReadyReplicas, d.ResourceVersion = 1, "2" })}, false},
		"labels, annotations and env": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) {
			d.Labels, d.Spec.Template.Annotations = map[string]string{"a": "b"}, map[string]string{"restartedAt": "now"}
			d.Spec.Template.Spec.Containers[0].Env = []corev1.EnvVar{{Name: "X", Value: "1"}}
		})}, false},
		"a Pod started running": {change{kind: "Pod", old: pod("p"), new: pod("p", func(p *corev1.Pod) {
			p.Status.Phase, p.Status.PodIP, p.ResourceVersion = corev1.PodRunning, "10.0.0.1", "2"
		})}, false},
		"a Pod finished": {change{kind: "Pod", old: pod("p"), new: pod("p", func(p *corev1.Pod) { p.Status.Phase = corev1.PodSucceeded })}, true},
		"an ephemeral container added": {change{kind: "Pod", old: pod("p"), new: pod("p", func(p *corev1.Pod) {
			p.Spec.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Image: "busybox:1"}}}
		})}, true},
		"a ReplicaSet's Pod changed": {change{kind: "Pod", old: pod("p", func(p *corev1.Pod) { p.OwnerReferences = controllerRef }), new: pod("p", func(p *corev1.Pod) { p.OwnerReferences = controllerRef; p.Spec.Containers[0].Image = "x:2" })}, false},
		"a Pod orphaned":             {change{kind: "Pod", old: pod("p", func(p *corev1.Pod) { p.OwnerReferences = controllerRef }), new: pod("p")}, true},
		"a Deployment being deleted": {change{kind: "Deployment", old: dep(), new: dep(func(d *appsv1.Deployment) { d.DeletionTimestamp = &metav1.Time{Time: time.Unix(1, 0)} })}, true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			h := workloadEvents(kindGVK(t, tc.kind))
			q := &recordingQueue{}
			ctx := context.Background()
			switch {
			case tc.old == nil:
				h.Create(ctx, event.TypedCreateEvent[client.Object]{Object: tc.new, IsInInitialList: tc.initial}, q)
			case tc.new == nil:
				h.Delete(ctx, event.TypedDeleteEvent[client.Object]{Object: tc.old}, q)
			default:
				h.Update(ctx, event.TypedUpdateEvent[client.Object]{ObjectOld: tc.old, ObjectNew: tc.new}, q)
			}
			got := q.take()
			if tc.want != (len(got) == 1) || len(got) > 1 {
				t.Errorf("queued %q, want queued: %v", got, tc.want)
			}
			if tc.old != nil && tc.new != nil && len(tc.new.GetOwnerReferences()) == 0 {
				// checkInput must not have modified the cache's objects.
				if tc.new.GetResourceVersion() == "" {
					t.Error("the event's object was modified")
				}
			}
		})
	}
}

func TestReconcileChecksOrForgets(t *testing.T) {
	d := deployment("web")
	e := newScanEnv(t, nil, d, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}})
	ctx := context.Background()
	key := workloadKey{"Deployment", client.ObjectKeyFromObject(d)}
	if _, err := e.s.reconcile(ctx, key); err != nil {
		t.Fatal(err)
	}
	e.report(t, "app", "pullguard-deployment-web")
	if got := e.engine.total(); got != 1 {
		t.Errorf("%d registry checks, want 1", got)
	}
	if len(e.s.creds.objects()) != 1 {
		t.Errorf("credential objects %v, want the default ServiceAccount", e.s.creds.objects())
	}
	if err := e.c.Delete(ctx, d); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.reconcile(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, known := e.s.state[key]; known || len(e.s.creds.objects()) != 0 {
		t.Errorf("a deleted workload is still known: %v %v", e.s.state, e.s.creds.objects())
	}
}

// firstSleepClock returns from its first Sleep at once and then waits for the context: the
// credential poll runs once, right at the start.
type firstSleepClock struct {
	realClock
	slept atomic.Bool
}

func (c *firstSleepClock) Sleep(ctx context.Context, d time.Duration) error {
	if !c.slept.Swap(true) {
		return ctx.Err()
	}
	<-ctx.Done()
	return ctx.Err()
}

// TestTriggerControllerWiring runs the real controller (sources, handlers, queue, workers)
// over fake informers: the credential poll queues a workload whose ServiceAccount changed, a
// created Deployment gets its Report, a scaled one is not checked again, a new platform
// re-checks every workload.
func TestTriggerControllerWiring(t *testing.T) {
	web, api, probe := deployment("web"), deployment("api"), deployment("probe")
	e := newScanEnvWith(t, &countingEngine{}, noSecretCache(), web, api, probe, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "app"}})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	// probe's check reads the default ServiceAccount, which then changes: the poll's first
	// round queues probe, and its check says the workers run, after every source registered
	// its handlers (a fake informer's events before that are lost).
	if err := e.s.Check(ctx, kindGVK(t, "Deployment"), probe); err != nil {
		t.Fatal(err)
	}
	update(t, e.c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "app", Labels: map[string]string{"changed": "yes"}}})
	e.s.clock = &firstSleepClock{}
	e.s.cfg.PlatformRescanSpread = 0
	informers := &informertest.FakeInformers{Scheme: e.c.Scheme()}
	fake := map[string]*controllertest.FakeInformer{}
	for _, obj := range append([]client.Object{&corev1.Node{}}, func() (out []client.Object) {
		for _, k := range Kinds {
			out = append(out, k.New())
		}
		return out
	}()...) {
		// Created before the controller starts: the fake cache is not safe for concurrent use.
		fi, err := informers.FakeInformerFor(ctx, obj)
		if err != nil {
			t.Fatal(err)
		}
		fake[fmt.Sprintf("%T", obj)] = fi
	}
	started := make(chan struct{})
	var once sync.Once
	opts := e.s.triggerOptions()
	opts.SkipNameValidation, opts.MaxConcurrentReconciles = ptr(true), 1
	opts.Reconciler = reconcile.TypedFunc[workloadKey](func(ctx context.Context, k workloadKey) (reconcile.Result, error) {
		defer once.Do(func() { close(started) })
		return e.s.reconcile(ctx, k)
	})
	c, err := e.s.newTriggerController(opts, informers, e.c)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Start(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	select {
	case <-started:
	case <-ctx.Done():
		t.Fatal("the credential poll queued nothing")
	}
	reportVersion := func(name string) string {
		t.Helper()
		r := &openreports.Report{}
		for ctx.Err() == nil {
			if err := e.c.Get(ctx, client.ObjectKey{Namespace: "app", Name: "pullguard-deployment-" + name}, r); err == nil {
				return r.ResourceVersion
			}
			time.Sleep(10 * time.Millisecond)
		}
		t.Fatalf("no Report for %s", name)
		return ""
	}
	if got := reportVersion("probe"); got == "1" {
		t.Fatalf("probe's Report not re-written after its ServiceAccount changed (version %s)", got)
	}
	deployments := fake["*v1.Deployment"]
	deployments.Add(web)
	first := reportVersion("web")
	scaled := deployment("web", func(d *appsv1.Deployment) { d.Spec.Replicas, d.Generation, d.ResourceVersion = ptr(int32(3)), 2, "2" })
	deployments.Update(web, scaled)
	deployments.Add(api) // one worker, in order: a check of the scaled web would come first
	reportVersion("api")
	if got := reportVersion("web"); got != first {
		t.Errorf("scaling web re-checked it (Report %s -> %s)", first, got)
	}

	fake["*v1.Node"].Add(node("arm-1", "linux", "arm64"))
	for ctx.Err() == nil && reportVersion("web") == first {
		time.Sleep(10 * time.Millisecond)
	}
	if ctx.Err() != nil {
		t.Fatal("a new node platform did not re-check web")
	}
}
