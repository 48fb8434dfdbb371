package reverify

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/containerd/platforms"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/pkg/admission"
)

// nodePlatforms is the set of platforms the cluster's Nodes run (admission.NodePlatform: OS,
// architecture, and a Windows node's build), counted by Node, from the Node events of the
// cache the admission handler reads (admission.InformerOptions: labels and taints only).
type nodePlatforms struct {
	mu     sync.Mutex
	byNode map[string]string // Node name -> platform
	count  map[string]int    // platform -> Nodes
}

func newNodePlatforms() *nodePlatforms {
	return &nodePlatforms{byNode: map[string]string{}, count: map[string]int{}}
}

// set records node's platform (removed: gone, or no platform labels) and reports whether the
// set of platforms changed: the first Node of a platform joined, or the last one left.
func (n *nodePlatforms) set(node string, p string, removed bool) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	before, had := n.byNode[node]
	if had && !removed && before == p {
		return false
	}
	changed := false
	if had {
		delete(n.byNode, node)
		if n.count[before]--; n.count[before] == 0 {
			delete(n.count, before)
			changed = true
		}
	}
	if !removed {
		n.byNode[node] = p
		if n.count[p]++; n.count[p] == 1 {
			changed = true
		}
	}
	return changed
}

func (n *nodePlatforms) observe(node *corev1.Node, removed bool) bool {
	p, ok := admission.NodePlatform(node)
	return n.set(node.Name, platforms.FormatAll(p), removed || !ok)
}

// nodePlatformEvents re-checks every workload, spread over PlatformRescanSpread, when the set
// of node platforms changes: the candidate platforms of a workload's pods come from the Nodes,
// so an arm64 pool added under amd64-only images is found before its first pod lands there.
// The informer's initial list only fills the set. A Node joining with a platform the cluster
// already runs changes nothing; taint and label changes that move a workload's candidates
// within the same set are left to the periodic scan.
func (s *Scanner) nodePlatformEvents() handler.TypedEventHandler[*corev1.Node, workloadKey] {
	np := newNodePlatforms()
	rescan := func(ctx context.Context, q workQueue) {
		if err := s.queueAll(ctx, q, s.cfg.PlatformRescanSpread); err != nil {
			logf.FromContext(ctx).Error(err, "re-checking every workload after a node platform change")
		}
	}
	return handler.TypedFuncs[*corev1.Node, workloadKey]{
		CreateFunc: func(ctx context.Context, e event.TypedCreateEvent[*corev1.Node], q workQueue) {
			if np.observe(e.Object, false) && !e.IsInInitialList {
				rescan(ctx, q)
			}
		},
		UpdateFunc: func(ctx context.Context, e event.TypedUpdateEvent[*corev1.Node], q workQueue) {
			if np.observe(e.ObjectNew, false) {
				rescan(ctx, q)
			}
		},
		DeleteFunc: func(ctx context.Context, e event.TypedDeleteEvent[*corev1.Node], q workQueue) {
			if np.observe(e.Object, true) {
				rescan(ctx, q)
			}
		},
	}
}

// queueAll queues every checked workload, each after a random delay within spread, so that the
// checks do not come in a burst. The checks' de-duplication keys include the platforms: a
// workload whose candidates did not change costs no new registry request in this scan (its
// check reuses the scan's verdicts, whatever their age, as the scan would: rescanSet).
func (s *Scanner) queueAll(ctx context.Context, q workQueue, spread time.Duration) error {
	items, err := s.checkedWorkloads(ctx)
	if err != nil {
		return err
	}
	for _, it := range items {
		key := workloadKey{it.gvk.Kind, client.ObjectKeyFromObject(it.obj)}
		s.rescans.add(key)
		if spread <= 0 {
			q.Add(key)
			continue
		}
		q.AddAfter(key, time.Duration(rand.Int64N(int64(spread))))
	}
	return nil
}

// rescanSet marks the workloads queued by queueAll: their checks are part of a scan, not a
// change of the workload, and reuse the scan's verdicts however old (TriggerFreshness does not
// apply). A workload that also changed while queued is checked once, the same way.
type rescanSet struct {
	mu   sync.Mutex
	keys map[workloadKey]struct{}
}

func (r *rescanSet) add(k workloadKey) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.keys == nil {
		r.keys = map[workloadKey]struct{}{}
	}
	r.keys[k] = struct{}{}
}

// take reports whether k was queued by queueAll, and unmarks it.
func (r *rescanSet) take(k workloadKey) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.keys[k]
	delete(r.keys, k)
	return ok
}
