package bench

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// informerReader serves Namespace metadata and slimmed Nodes from memory the way the webhook's
// informers do (controller-runtime's cache: Get copies the object, List with
// UnsafeDisableDeepCopy hands out the cached items). A fake client would serialise every object
// on every read and make the handler look several times slower than it is in a cluster.
type informerReader struct {
	namespaces map[string]*metav1.PartialObjectMetadata
	nodes      []corev1.Node
}

var _ client.Reader = (*informerReader)(nil)

func newInformerReader(namespaces []string, nodes map[string]map[string]string) *informerReader {
	r := &informerReader{namespaces: map[string]*metav1.PartialObjectMetadata{}}
	for _, ns := range namespaces {
		m := &metav1.PartialObjectMetadata{ObjectMeta: metav1.ObjectMeta{Name: ns, Labels: map[string]string{corev1.LabelMetadataName: ns}}}
		m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind("Namespace"))
		r.namespaces[ns] = m
	}
	for name, labels := range nodes {
		r.nodes = append(r.nodes, corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}})
	}
	return r
}

func (r *informerReader) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	m, ok := obj.(*metav1.PartialObjectMetadata)
	if !ok || m.GroupVersionKind().Kind != "Namespace" {
		return fmt.Errorf("informerReader serves Namespace metadata only, not %T", obj)
	}
	ns, ok := r.namespaces[key.Name]
	if !ok {
		return apierrors.NewNotFound(schema.GroupResource{Resource: "namespaces"}, key.Name)
	}
	ns.DeepCopyInto(m)
	return nil
}

func (r *informerReader) List(_ context.Context, list client.ObjectList, opts ...client.ListOption) error {
	// The handler lists typed Nodes (labels and taints, see admission.InformerOptions).
	l, ok := list.(*corev1.NodeList)
	if !ok {
		return fmt.Errorf("informerReader lists Nodes only, not %T", list)
	}
	lo := (&client.ListOptions{}).ApplyOptions(opts)
	if lo.UnsafeDisableDeepCopy != nil && *lo.UnsafeDisableDeepCopy {
		l.Items = r.nodes
		return nil
	}
	l.Items = make([]corev1.Node, len(r.nodes))
	for i := range r.nodes {
		r.nodes[i].DeepCopyInto(&l.Items[i])
	}
	return nil
}
