package app

import (
	"context"
	"fmt"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/admission"
)

// inputObjects serves the Secrets and ServiceAccounts of the input to the admission handler,
// as the API reader serves them to the webhook, so that credentials are resolved by the
// webhook's own code: the input's own objects first, then, with a cluster, the cluster's, read
// by name from the namespaces the manifests name (never listed). It records what each
// resolution read (see begin), which the check needs to tell "not in the input" from "not in
// the cluster".
type inputObjects struct {
	secrets         map[client.ObjectKey]*corev1.Secret
	serviceAccounts map[client.ObjectKey]*corev1.ServiceAccount
	// cluster serves, by name, what the input does not hold (nil: no cluster given).
	cluster client.Reader
	// substitute stands in for a pull secret that neither the input nor the cluster holds: the
	// --docker-config login, as when CI creates the secret from it at deploy time (nil: none).
	substitute *corev1.Secret

	mu sync.Mutex
	// fromCluster is every answer the cluster gave in this run, so that each object is read
	// once however many manifests name it.
	fromCluster map[clusterKey]clusterRead
	// What the current resolution read; resolutions run one at a time, the handler reads one
	// resolution's secrets in parallel.
	read, substituted, missingSA []string
}

var _ client.Reader = (*inputObjects)(nil)

type clusterKey struct {
	kind string
	key  client.ObjectKey
}

// clusterRead is the cluster's answer for one object: obj, or err (NotFound among them).
type clusterRead struct {
	obj client.Object
	err error
}

func newInputObjects(cluster client.Reader) *inputObjects {
	return &inputObjects{
		secrets: map[client.ObjectKey]*corev1.Secret{}, serviceAccounts: map[client.ObjectKey]*corev1.ServiceAccount{},
		cluster: cluster, fromCluster: map[clusterKey]clusterRead{},
	}
}

// begin starts recording one workload's resolution.
func (s *inputObjects) begin() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.read, s.substituted, s.missingSA = nil, nil, nil
}

// readNames are the pull secrets the current resolution read, sorted.
func (s *inputObjects) readNames() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(slices.Values(s.read))
}

// errNotInInput makes the handler count a named secret the input does not hold as unreadable:
// without it nothing can be concluded about the images (it may hold the credential that works,
// or a wrong one the kubelet would fail with).
var errNotInInput = &admission.UnknownObjectError{Reason: "not in the input: add it with -f, read it from the cluster with --kubeconfig or --context, or give its registry login with --docker-config"}

func (s *inputObjects) Get(ctx context.Context, key client.ObjectKey, obj client.Object, _ ...client.GetOption) error {
	switch o := obj.(type) {
	case *corev1.Secret:
		if sec, ok := s.secrets[key]; ok {
			sec.DeepCopyInto(o)
			s.record(&s.read, key.Name)
			return nil
		}
		if s.cluster != nil {
			err := readCluster(ctx, s, "Secret", key, o)
			if err == nil {
				s.record(&s.read, key.Name)
				return nil
			}
			if !apierrors.IsNotFound(err) || s.substitute == nil {
				return err
			}
		}
		if s.substitute == nil {
			return errNotInInput
		}
		s.substitute.DeepCopyInto(o)
		o.Name, o.Namespace = key.Name, key.Namespace
		s.record(&s.substituted, key.Name)
		s.record(&s.read, key.Name)
		return nil
	case *corev1.ServiceAccount:
		if sa, ok := s.serviceAccounts[key]; ok {
			sa.DeepCopyInto(o)
			return nil
		}
		if s.cluster != nil {
			return readCluster(ctx, s, "ServiceAccount", key, o)
		}
		// Every namespace has a "default" ServiceAccount, and manifests seldom carry theirs:
		// one that is not in the input is taken to have no pull secrets, and the check says so
		// where it matters (see pending.saMissing).
		*o = corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: key.Name, Namespace: key.Namespace}}
		s.record(&s.missingSA, key.Name)
		return nil
	}
	return apierrors.NewNotFound(schema.GroupResource{}, key.Name)
}

func (s *inputObjects) record(list *[]string, name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	*list = append(*list, name)
}

// readCluster fills out with the cluster's answer for key, asked once per run: the object, or
// the cluster's error (NotFound among them).
func readCluster[T any, P interface {
	*T
	client.Object
}](ctx context.Context, s *inputObjects, kind string, key client.ObjectKey, out P) error {
	ck := clusterKey{kind: kind, key: key}
	s.mu.Lock()
	r, ok := s.fromCluster[ck]
	s.mu.Unlock()
	if !ok {
		obj := P(new(T))
		r = clusterRead{obj: obj, err: s.cluster.Get(ctx, key, obj)}
		s.mu.Lock()
		s.fromCluster[ck] = r
		s.mu.Unlock()
	}
	if r.err != nil {
		return r.err
	}
	*out = *r.obj.DeepCopyObject().(P)
	return nil
}

// clusterReads names, sorted, every object read from the cluster and what the cluster answered,
// for the report: the user sees which of the cluster's credentials the check relied on.
func (s *inputObjects) clusterReads() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for k, r := range s.fromCluster {
		line := fmt.Sprintf("%s %s/%s", k.kind, k.key.Namespace, k.key.Name)
		switch {
		case apierrors.IsNotFound(r.err):
			line += " (not found)"
		case r.err != nil:
			line += " (could not be read)"
		}
		out = append(out, line)
	}
	slices.Sort(out)
	return out
}

func (s *inputObjects) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return fmt.Errorf("the input is only read by name")
}

// platformNodes are the Nodes the handler's candidate-platform rule picks from (the pod's
// nodeSelector and affinity still narrow them): one per --platform, or the cluster's, listed
// once per run.
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
