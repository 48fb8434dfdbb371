package admission

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/manager"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
)

// Setup registers the webhook on mgr's webhook server at Path, the informers the handler reads
// (Namespace metadata, and Nodes slimmed to labels and taints: the manager's cache must be built
// with InformerOptions), and the metrics on controller-runtime's registry. Secrets and
// ServiceAccounts are read with GETs through mgr.GetAPIReader(), never through a cluster-wide
// watch, behind a short TTL cache.
func Setup(mgr manager.Manager, cfg Config, checker Checker) error {
	metrics, err := NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering admission metrics: %w", err)
	}
	h, err := NewHandler(cfg, checker, mgr.GetAPIReader(), mgr.GetCache(), metrics)
	if err != nil {
		return err
	}
	if err := RegisterInformers(mgr.GetCache(), InformerObjects()...); err != nil {
		return err
	}
	mgr.GetWebhookServer().Register(Path, h.HTTPHandler())
	return nil
}

// InformerObjects are the kinds the handler reads from its informer reader: Namespace metadata
// (the mode label) and Nodes (their platforms and taints).
func InformerObjects() []client.Object {
	namespaces := &metav1.PartialObjectMetadata{}
	namespaces.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
	return []client.Object{namespaces, &corev1.Node{}}
}

// RegisterInformers registers c's informers for objs now, so that they start, and sync, with
// the manager rather than lazily on the first read.
func RegisterInformers(c cache.Cache, objs ...client.Object) error {
	for _, obj := range objs {
		if _, err := c.GetInformer(context.Background(), obj, cache.BlockUntilSynced(false)); err != nil {
			return fmt.Errorf("registering the %T informer: %w", obj, err)
		}
	}
	return nil
}

// UncachedObjects are the kinds the manager's client must never cache
// (client.CacheOptions.DisableFor): the handler reads Secrets and ServiceAccounts one by one by
// name, behind its own short cache; a cached client would list and watch every Secret of the
// cluster and keep them all in memory.
func UncachedObjects() []client.Object {
	return []client.Object{&corev1.Secret{}, &corev1.ServiceAccount{}}
}

// InformerOptions are the manager cache's per-object options Setup relies on: Nodes are held
// with their name, labels and taints only. A Node's status (images, conditions, addresses) is
// most of its size and changes every few seconds; none of it says where a pod may land.
func InformerOptions() map[client.Object]cache.ByObject {
	return map[client.Object]cache.ByObject{&corev1.Node{}: {Transform: slimNode}}
}

func slimNode(obj any) (any, error) {
	n, ok := obj.(*corev1.Node)
	if !ok {
		// Tombstones (cache.DeletedFinalStateUnknown) pass through as they are.
		return obj, nil
	}
	return &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{
			Name: n.Name, UID: n.UID, ResourceVersion: n.ResourceVersion, Labels: n.Labels,
		},
		Spec: corev1.NodeSpec{Taints: n.Spec.Taints},
	}, nil
}
