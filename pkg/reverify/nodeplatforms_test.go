package reverify

import (
	"context"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
)

func node(name, os, arch string, labels ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{}}}
	if os != "" {
		n.Labels[corev1.LabelOSStable] = os
	}
	if arch != "" {
		n.Labels[corev1.LabelArchStable] = arch
	}
	for i := 0; i+1 < len(labels); i += 2 {
		n.Labels[labels[i]] = labels[i+1]
	}
	return n
}

func TestNodePlatformSetChangesRecheckEveryWorkload(t *testing.T) {
	amd1, amd2, arm := node("amd-1", "linux", "amd64"), node("amd-2", "linux", "amd64"), node("arm-1", "linux", "arm64")
	type nodeEvent struct {
		old, new *corev1.Node // old nil: a create; new nil: a delete
		initial  bool
	}
	initial := []nodeEvent{{new: amd1, initial: true}, {new: amd2, initial: true}}
	tests := map[string]struct {
		events      []nodeEvent
		wantRescans int
	}{
		"the initial list fills the set":        {events: append(initial, nodeEvent{new: arm, initial: true})},
		"a node of a new platform joins":        {events: append(initial, nodeEvent{new: arm}), wantRescans: 1},
		"a node of a known platform joins":      {events: append(initial, nodeEvent{new: node("amd-3", "linux", "amd64")})},
		"one of two nodes of a platform leaves": {events: append(initial, nodeEvent{old: amd1})},
		"the last node of a platform leaves":    {events: append(initial, nodeEvent{new: arm}, nodeEvent{old: arm}), wantRescans: 2},
		"a node relabelled to another architecture": {events: append(initial,
			nodeEvent{old: amd2, new: node("amd-2", "linux", "arm64")}), wantRescans: 1},
		"an update that keeps the platform (labels, taints)": {events: append(initial,
			nodeEvent{old: amd2, new: node("amd-2", "linux", "amd64", "pool", "b")})},
		"a node without platform labels joins": {events: append(initial, nodeEvent{new: node("bare", "", "")})},
		"another Windows build joins": {events: []nodeEvent{
			{new: node("win-1", "windows", "amd64", corev1.LabelWindowsBuild, "10.0.17763"), initial: true},
			{new: node("win-2", "windows", "amd64", corev1.LabelWindowsBuild, "10.0.20348")}}, wantRescans: 1},
	}
	objs := []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}},
		deployment("web"), pod("bare"),
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "app",
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "uid-web", Controller: ptr(true)}}}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newScanEnv(t, nil, objs...)
			h := e.s.nodePlatformEvents()
			q := &recordingQueue{}
			ctx := context.Background()
			for _, ev := range tc.events {
				switch {
				case ev.old == nil:
					h.Create(ctx, event.TypedCreateEvent[*corev1.Node]{Object: ev.new, IsInInitialList: ev.initial}, q)
				case ev.new == nil:
					h.Delete(ctx, event.TypedDeleteEvent[*corev1.Node]{Object: ev.old}, q)
				default:
					h.Update(ctx, event.TypedUpdateEvent[*corev1.Node]{ObjectOld: ev.old, ObjectNew: ev.new}, q)
				}
			}
			// Each rescan queues the two checked workloads (not the owned ReplicaSet), each
			// after a delay within the spread, none at once.
			if q.nAfter != 2*tc.wantRescans || len(q.added) != 0 {
				t.Errorf("%d delayed and %d immediate queueings, want %d rescans of 2 workloads", q.nAfter, len(q.added), tc.wantRescans)
			}
			spread := e.s.cfg.PlatformRescanSpread
			for k, d := range q.after {
				if d < 0 || d >= spread {
					t.Errorf("%v queued after %s, want within [0, %s)", k, d, spread)
				}
			}
			if tc.wantRescans > 0 && len(q.after) != 2 {
				t.Errorf("queued %v, want Deployment app/web and Pod app/bare", q.after)
			}
		})
	}
}

func TestARescanReusesTheScansVerdictsAChangeOnlyFreshOnes(t *testing.T) {
	e := newScanEnv(t, nil, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}}, deployment("web"))
	ctx := context.Background()
	if err := e.s.Scan(ctx, 0); err != nil {
		t.Fatal(err)
	}
	_ = e.clock.Sleep(ctx, 10*time.Minute) // the scan's verdict is older than TriggerFreshness
	key := workloadKey{"Deployment", client.ObjectKey{Namespace: "app", Name: "web"}}
	if err := e.s.queueAll(ctx, &recordingQueue{}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if _, err := e.s.reconcile(ctx, key); err != nil {
		t.Fatal(err)
	}
	if got := e.engine.total(); got != 1 {
		t.Errorf("the platform rescan asked again (%d calls): its platforms did not change", got)
	}
	if _, err := e.s.reconcile(ctx, key); err != nil { // a change of web
		t.Fatal(err)
	}
	if got := e.engine.total(); got != 2 {
		t.Errorf("a change reused a 10-minute-old verdict (%d calls)", got)
	}
}
