package reverify

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/controller"
	"sigs.k8s.io/controller-runtime/pkg/event"
	"sigs.k8s.io/controller-runtime/pkg/handler"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	"sigs.k8s.io/controller-runtime/pkg/reconcile"
	"sigs.k8s.io/controller-runtime/pkg/source"
)

// TriggerController is the name of the controller of the event-driven checks (its metrics and
// logs carry it).
const TriggerController = "pullguard-reverify"

// workQueue is the triggers' rate-limited queue: a workload queued again before its check
// starts is checked once, and one whose check fails is retried with a per-item back-off.
type workQueue = workqueue.TypedRateLimitingInterface[workloadKey]

// setupTriggers adds the controller of the event-driven checks: one queue of workloads, fed by
// the checked kinds' informers (created, or what a check reads changed; deleted), by the poll of
// pull credentials, and by the Nodes' platform set. A controller is leader-elected by default:
// only the replica that scans checks.
func (s *Scanner) setupTriggers(mgr manager.Manager) error {
	opts := s.triggerOptions()
	opts.DefaultFromConfig(mgr.GetControllerOptions())
	c, err := s.newTriggerController(opts, mgr.GetCache(), mgr.GetAPIReader())
	if err != nil {
		return err
	}
	return mgr.Add(c)
}

func (s *Scanner) triggerOptions() controller.TypedOptions[workloadKey] {
	return controller.TypedOptions[workloadKey]{
		Reconciler:              reconcile.TypedFunc[workloadKey](s.reconcile),
		MaxConcurrentReconciles: s.cfg.TriggerWorkers,
	}
}

// newTriggerController builds the controller over informers (the manager's cache) and
// apiReader (uncached: the credential poll).
func (s *Scanner) newTriggerController(opts controller.TypedOptions[workloadKey], informers cache.Cache, apiReader client.Reader) (controller.TypedController[workloadKey], error) {
	c, err := controller.NewTypedUnmanaged(TriggerController, opts)
	if err != nil {
		return nil, fmt.Errorf("reverify: creating the trigger controller: %w", err)
	}
	for gvk, k := range Kinds {
		if err := c.Watch(source.TypedKind[client.Object, workloadKey](informers, k.New(), workloadEvents(gvk))); err != nil {
			return nil, fmt.Errorf("reverify: watching %ss: %w", gvk.Kind, err)
		}
	}
	if err := c.Watch(source.TypedKind[*corev1.Node, workloadKey](informers, &corev1.Node{}, s.nodePlatformEvents())); err != nil {
		return nil, fmt.Errorf("reverify: watching Nodes: %w", err)
	}
	if err := c.Watch(secretPoller{s: s, reader: apiReader}); err != nil {
		return nil, fmt.Errorf("reverify: polling pull credentials: %w", err)
	}
	return c, nil
}

// reconcile checks the workload of key as the cache holds it now, or forgets it when it is gone.
// A change reuses the current scan's verdicts of the last TriggerFreshness only (it may be an
// image the scan asked about long ago); a platform rescan reuses them all, as the scan does.
func (s *Scanner) reconcile(ctx context.Context, key workloadKey) (reconcile.Result, error) {
	gvk, k, ok := kindNamed(key.kind)
	if !ok {
		return reconcile.Result{}, nil
	}
	obj := k.New()
	switch err := s.workloads.Get(ctx, key.NamespacedName, obj); {
	case apierrors.IsNotFound(err):
		s.rescans.take(key)
		s.forget(key)
		return reconcile.Result{}, nil
	case err != nil:
		return reconcile.Result{}, err
	}
	if !s.rescans.take(key) {
		ctx = withFreshness(ctx, s.cfg.TriggerFreshness)
	}
	return reconcile.Result{}, s.Check(ctx, gvk, obj)
}

func kindNamed(kind string) (schema.GroupVersionKind, Kind, bool) {
	for gvk, k := range Kinds {
		if gvk.Kind == kind {
			return gvk, k, true
		}
	}
	return schema.GroupVersionKind{}, Kind{}, false
}

// workloadEvents queues the workloads of kind gvk whose check could now answer otherwise:
// created (not in the informer's initial list, which the periodic scan covers: a restart must
// not check every workload of the cluster at once), changed in what a check reads
// (checkInputChanged), or deleted. Objects the re-verifier does not check (a Deployment's
// ReplicaSets and Pods) are never queued.
func workloadEvents(gvk schema.GroupVersionKind) handler.TypedEventHandler[client.Object, workloadKey] {
	key := func(o client.Object) workloadKey { return workloadKey{gvk.Kind, client.ObjectKeyFromObject(o)} }
	return handler.TypedFuncs[client.Object, workloadKey]{
		CreateFunc: func(_ context.Context, e event.TypedCreateEvent[client.Object], q workQueue) {
			if !e.IsInInitialList && Checked(gvk, e.Object) {
				q.Add(key(e.Object))
			}
		},
		UpdateFunc: func(_ context.Context, e event.TypedUpdateEvent[client.Object], q workQueue) {
			if checkInputChanged(gvk, e.ObjectOld, e.ObjectNew) {
				q.Add(key(e.ObjectNew))
			}
		},
		DeleteFunc: func(_ context.Context, e event.TypedDeleteEvent[client.Object], q workQueue) {
			if !ownedByWorkload[gvk.Kind] || metav1.GetControllerOf(e.Object) == nil {
				q.Add(key(e.Object))
			}
		},
	}
}

// checkInputChanged reports whether an update changed what a check of the object reads:
// whether it is checked at all (adopted, orphaned, finished, deleting), or its images, pull
// policies, pull secrets, ServiceAccount or placement. Status (a Pod's conditions, a
// Deployment's replicas), scaling, labels and resourceVersion-only updates do not.
func checkInputChanged(gvk schema.GroupVersionKind, old, new client.Object) bool {
	checkedOld, checkedNew := Checked(gvk, old), Checked(gvk, new)
	if checkedOld != checkedNew {
		return true
	}
	return checkedNew && !equality.Semantic.DeepEqual(checkInput(old), checkInput(new))
}

// checkInput is what a check of obj reads: the object slimmed as the informers hold it
// (InformerOptions), without the fields that change on every write.
func checkInput(obj client.Object) any {
	s, _ := slim(obj)
	o, ok := s.(client.Object)
	if !ok || o == obj {
		// Not a checked kind: slim returned obj itself, which must not be modified.
		return s
	}
	o.SetResourceVersion("")
	o.SetGeneration(0)
	if p, ok := o.(*corev1.Pod); ok {
		// Only a finished phase matters, and Checked compares it.
		p.Status = corev1.PodStatus{}
	}
	return o
}
