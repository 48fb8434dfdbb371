package testbed

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pullguard/pullguard/pkg/admission"
)

// Node is a fake Node: an API object only, no kubelet. The webhook reads the platforms of the
// cluster's Nodes to know what an image must provide.
type Node struct {
	Name   string
	OS     string
	Arch   string
	Taints []corev1.Taint
}

// CreateNodes creates Nodes with the well-known os/arch labels and the matching nodeInfo, as
// a kubelet registers them.
func CreateNodes(ctx context.Context, c kubernetes.Interface, nodes ...Node) error {
	for _, n := range nodes {
		obj := &corev1.Node{ObjectMeta: metav1.ObjectMeta{
			Name: n.Name,
			Labels: map[string]string{
				corev1.LabelOSStable:   n.OS,
				corev1.LabelArchStable: n.Arch,
				corev1.LabelHostname:   n.Name,
			},
		}, Spec: corev1.NodeSpec{Taints: n.Taints}}
		created, err := c.CoreV1().Nodes().Create(ctx, obj, metav1.CreateOptions{})
		if err != nil {
			return fmt.Errorf("creating node %s: %w", n.Name, err)
		}
		created.Status.NodeInfo.OperatingSystem = n.OS
		created.Status.NodeInfo.Architecture = n.Arch
		created.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}
		if _, err := c.CoreV1().Nodes().UpdateStatus(ctx, created, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("setting the status of node %s: %w", n.Name, err)
		}
	}
	return nil
}

// CreateNamespace creates a namespace named prefix plus a random suffix (namespaces cannot be
// deleted without a controller manager, so every test takes fresh ones), labelled with the
// pullguard mode unless mode is "", and its "default" ServiceAccount, which the
// ServiceAccount admission plugin requires and no controller creates here.
func CreateNamespace(ctx context.Context, c kubernetes.Interface, prefix string, mode admission.Mode) (string, error) {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: prefix + "-"}}
	if mode != "" {
		ns.Labels = map[string]string{admission.ModeLabel: string(mode)}
	}
	created, err := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	if err != nil {
		return "", fmt.Errorf("creating a namespace %s-*: %w", prefix, err)
	}
	if err := EnsureDefaultServiceAccount(ctx, c, created.Name); err != nil {
		return "", err
	}
	return created.Name, nil
}

// EnsureDefaultServiceAccount creates the namespace's "default" ServiceAccount if it is missing.
func EnsureDefaultServiceAccount(ctx context.Context, c kubernetes.Interface, namespace string) error {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: namespace}}
	if _, err := c.CoreV1().ServiceAccounts(namespace).Create(ctx, sa, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the default service account of %s: %w", namespace, err)
	}
	return nil
}
