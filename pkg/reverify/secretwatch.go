package reverify

import (
	"context"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/util/workqueue"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/pkg/admission"
)

// The re-verifier may not list or watch Secrets (its RBAC grants get only, and a watch would
// hold every Secret of the cluster): a rotated or deleted pull secret is found by reading, by
// name, each Secret and ServiceAccount a checked workload's credentials came from, and
// comparing with what that workload's last check read.

// credentialObject names one Secret or ServiceAccount.
type credentialObject struct {
	kind string // "Secret" or "ServiceAccount"
	types.NamespacedName
}

// credentialState is what a read found: the object's identity and version, or that it did not
// exist. unknown is a read that failed: nothing to compare, so any later answer differs.
type credentialState struct {
	found   bool
	unknown bool
	uid     types.UID
	version string
}

func (a credentialState) differs(b credentialState) bool {
	return a.unknown || b.unknown || a != b
}

// credentialIndex remembers, per checked workload, the credential objects its last check read
// and how it found them, and for each object the workloads that read it.
type credentialIndex struct {
	mu         sync.Mutex
	byWorkload map[workloadKey]map[credentialObject]credentialState
	byObject   map[credentialObject]map[workloadKey]struct{}
}

func newCredentialIndex() *credentialIndex {
	return &credentialIndex{byWorkload: map[workloadKey]map[credentialObject]credentialState{},
		byObject: map[credentialObject]map[workloadKey]struct{}{}}
}

// record replaces what w's last check read (reads of namespace ns).
func (x *credentialIndex) record(w workloadKey, ns string, reads []admission.CredentialRead) {
	seen := make(map[credentialObject]credentialState, len(reads))
	for _, r := range reads {
		seen[credentialObject{r.Kind, types.NamespacedName{Namespace: ns, Name: r.Name}}] = credentialState{
			found: r.Found, unknown: r.Failed, uid: r.UID, version: r.ResourceVersion}
	}
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(w)
	if len(seen) == 0 {
		return
	}
	x.byWorkload[w] = seen
	for o := range seen {
		if x.byObject[o] == nil {
			x.byObject[o] = map[workloadKey]struct{}{}
		}
		x.byObject[o][w] = struct{}{}
	}
}

// forget drops a workload that is no longer checked.
func (x *credentialIndex) forget(w workloadKey) {
	x.mu.Lock()
	defer x.mu.Unlock()
	x.dropLocked(w)
}

func (x *credentialIndex) dropLocked(w workloadKey) {
	for o := range x.byWorkload[w] {
		delete(x.byObject[o], w)
		if len(x.byObject[o]) == 0 {
			delete(x.byObject, o)
		}
	}
	delete(x.byWorkload, w)
}

// objects lists every object some workload's last check read.
func (x *credentialIndex) objects() []credentialObject {
	x.mu.Lock()
	defer x.mu.Unlock()
	out := make([]credentialObject, 0, len(x.byObject))
	for o := range x.byObject {
		out = append(out, o)
	}
	return out
}

// stale lists the workloads whose last check read o otherwise than now.
func (x *credentialIndex) stale(o credentialObject, now credentialState) []workloadKey {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []workloadKey
	for w := range x.byObject[o] {
		if x.byWorkload[w][o].differs(now) {
			out = append(out, w)
		}
	}
	return out
}

// secretPoller is the source of the checks a credential change calls for: every
// SecretPollInterval it reads each object of the index by name, at SecretPollQPS at most,
// through an uncached reader and as metadata only (the poll never holds a Secret's data), and
// queues the workloads whose last check read it otherwise. A check that read a stale copy
// (the handler's short Secret cache) is found stale again by the next poll.
type secretPoller struct {
	s *Scanner
	// reader must not be a cache: a cached Secret read would list and watch them all.
	reader client.Reader
}

// Start implements source.TypedSource; the controller starts it on the leader.
func (p secretPoller) Start(ctx context.Context, q workqueue.TypedRateLimitingInterface[workloadKey]) error {
	go p.run(ctx, q)
	return nil
}

func (p secretPoller) run(ctx context.Context, q workqueue.TypedRateLimitingInterface[workloadKey]) {
	budget := newHostBudget(p.s.clock, Rate{QPS: float64(p.s.cfg.SecretPollQPS), Burst: 1}, nil)
	for p.s.clock.Sleep(ctx, p.s.cfg.SecretPollInterval) == nil {
		p.poll(ctx, q, budget)
	}
}

// pollBudgetKey is the poll's one token bucket in a hostBudget.
const pollBudgetKey = "kubernetes-api"

// poll reads every object once and queues the workloads it finds stale.
func (p secretPoller) poll(ctx context.Context, q workqueue.TypedRateLimitingInterface[workloadKey], budget *hostBudget) {
	log := logf.FromContext(ctx).WithName("reverify")
	for _, o := range p.s.creds.objects() {
		if budget.wait(ctx, pollBudgetKey) != nil {
			return
		}
		now, err := p.read(ctx, o)
		if err != nil {
			// Nothing is known; the next poll reads it again.
			log.Error(err, "polling a pull credential", "kind", o.kind, "namespace", o.Namespace, "name", o.Name)
			continue
		}
		for _, w := range p.s.creds.stale(o, now) {
			log.V(1).Info("credential changed, re-checking", "kind", o.kind, "namespace", o.Namespace, "name", o.Name,
				"workloadKind", w.kind, "workload", w.NamespacedName.String())
			q.Add(w)
		}
	}
}

func (p secretPoller) read(ctx context.Context, o credentialObject) (credentialState, error) {
	m := &metav1.PartialObjectMetadata{}
	m.SetGroupVersionKind(corev1.SchemeGroupVersion.WithKind(o.kind))
	err := p.reader.Get(ctx, o.NamespacedName, m)
	switch {
	case apierrors.IsNotFound(err):
		return credentialState{}, nil
	case err != nil:
		return credentialState{}, err
	}
	return credentialState{found: true, uid: m.UID, version: m.ResourceVersion}, nil
}
