package app

import (
	"context"
	"fmt"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// inputObjects serves the Secrets and ServiceAccounts of the input to the admission handler,
// as the API reader serves them to the webhook, so that credentials are resolved by the
// webhook's own code. It records what each resolution read (see begin), which the check needs
// to tell "not in the input" from "not in the cluster".
type inputObjects struct {
	secrets         map[client.ObjectKey]*corev1.Secret
	serviceAccounts map[client.ObjectKey]*corev1.ServiceAccount
	// substitute stands in for a pull secret the input names but does not hold: the
	// --docker-config login, as when CI creates the secret from it at deploy time (nil: none).
	substitute *corev1.Secret

	// What the current resolution read; resolutions run one at a time.
	read                   []corev1.Secret
	substituted, missingSA []string
}

var _ client.Reader = (*inputObjects)(nil)

func newInputObjects() *inputObjects {
	return &inputObjects{secrets: map[client.ObjectKey]*corev1.Secret{}, serviceAccounts: map[client.ObjectKey]*corev1.ServiceAccount{}}
}

// begin starts recording one workload's resolution.
func (s *inputObjects) begin() { s.read, s.substituted, s.missingSA = nil, nil, nil }

// errNotInInput makes the handler count a named secret the input does not hold as unreadable:
// without it nothing can be concluded about the images (it may hold the credential that works,
// or a wrong one the kubelet would fail with). The reason is what users read after "could not
// be read".
var errNotInInput = &apierrors.StatusError{ErrStatus: metav1.Status{
	Status: metav1.StatusFailure,
	Reason: "not in the input: add it with -f, or give its registry login with --docker-config",
}}

func (s *inputObjects) Get(_ context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch o := obj.(type) {
	case *corev1.Secret:
		if sec, ok := s.secrets[key]; ok {
			sec.DeepCopyInto(o)
		} else if s.substitute != nil {
			s.substitute.DeepCopyInto(o)
			o.Name, o.Namespace = key.Name, key.Namespace
			s.substituted = append(s.substituted, key.Name)
		} else {
			return errNotInInput
		}
		s.read = append(s.read, *o)
		return nil
	case *corev1.ServiceAccount:
		if sa, ok := s.serviceAccounts[key]; ok {
			sa.DeepCopyInto(o)
			return nil
		}
		// Every namespace has a "default" ServiceAccount, and manifests seldom carry theirs:
		// one that is not in the input is taken to have no pull secrets, and the check says so
		// where it matters (see missingServiceAccount).
		*o = corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
		s.missingSA = append(s.missingSA, key.Name)
		return nil
	}
	return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
}

func (s *inputObjects) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return fmt.Errorf("the input is only read by name")
}

// platformNodes are the Nodes --platform describes, one per platform, for the handler's
// candidate-platform rule (the pod's nodeSelector and affinity still narrow them).
type platformNodes struct{ nodes []corev1.Node }

var _ client.Reader = platformNodes{}

func (p platformNodes) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(schema.GroupResource{Resource: "nodes"}, key.Name)
}

func (p platformNodes) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	nl, ok := list.(*corev1.NodeList)
	if !ok {
		return fmt.Errorf("only Nodes are listed, not %T", list)
	}
	nl.Items = append([]corev1.Node(nil), p.nodes...)
	return nil
}
