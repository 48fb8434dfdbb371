package reverify

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"

	"github.com/pullguard/pullguard/pkg/admission"
)

// Scanner checks workloads and writes their Reports and Events.
type Scanner struct {
	cfg      Config
	evaluate func(ctx context.Context, w *admission.Workload, namespace string) admission.Evaluation
	checker  *ScanChecker
	// workloads lists and reads workloads (an informer cache); reports reads and writes Reports.
	workloads client.Reader
	reports   client.Client
	recorder  events.EventRecorder
	metrics   *Metrics
	clock     Clock

	// creds is what each checked workload's last check read its credentials from (secretwatch.go).
	creds *credentialIndex
	// rescans are the workloads queued by a node platform change (nodeplatforms.go).
	rescans rescanSet

	mu    sync.Mutex
	state map[workloadKey]openreports.Result
}

// workloadKey names one workload.
type workloadKey struct {
	kind string
	types.NamespacedName
}

// NewChecker wraps the registry engine with the scanner's per-scan de-duplication and per-host
// budget; the admission.Handler the scanner evaluates with must be built over it.
func NewChecker(cfg Config, engine admission.Checker, clock Clock, m *Metrics) (*ScanChecker, error) {
	if err := cfg.Validate().ToAggregate(); err != nil {
		return nil, err
	}
	if clock == nil {
		clock = realClock{}
	}
	return newScanChecker(engine, newHostBudget(clock, cfg.hostRate(), cfg.hostOverrides()), m), nil
}

// NewScanner builds the scanner over handler, whose checker must be checker (NewChecker).
func NewScanner(cfg Config, handler *admission.Handler, checker *ScanChecker, workloads client.Reader, reports client.Client,
	recorder events.EventRecorder, m *Metrics, clock Clock) (*Scanner, error) {
	if err := cfg.Validate().ToAggregate(); err != nil {
		return nil, err
	}
	if handler == nil || checker == nil || workloads == nil || reports == nil || recorder == nil || m == nil {
		return nil, errors.New("reverify: the scanner needs a handler, a checker, readers, a recorder and metrics")
	}
	if clock == nil {
		clock = realClock{}
	}
	return &Scanner{cfg: cfg, evaluate: handler.Evaluate, checker: checker, workloads: workloads, reports: reports,
		recorder: recorder, metrics: m, clock: clock, creds: newCredentialIndex(), state: map[workloadKey]openreports.Result{}}, nil
}

// Check evaluates one workload of kind gvk and brings its Report up to date, recording an Event
// when a result changed. Objects the re-verifier does not check (owned ReplicaSets, Jobs, Pods;
// namespaces in mode off) get no Report.
func (s *Scanner) Check(ctx context.Context, gvk schema.GroupVersionKind, obj client.Object) error {
	key := workloadKey{gvk.Kind, client.ObjectKeyFromObject(obj)}
	if !Checked(gvk, obj) {
		s.forget(key)
		return nil
	}
	w, ok, err := admission.WorkloadOf(gvk, obj)
	if err != nil || !ok {
		return fmt.Errorf("reverify: %s %s: %w", gvk.Kind, key.NamespacedName, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.cfg.CheckTimeout)
	ev := s.evaluate(cctx, w, obj.GetNamespace())
	cancel()
	if ev.Skipped != "" {
		s.forget(key)
		return nil
	}
	s.creds.record(key, obj.GetNamespace(), ev.Credentials)
	next := BuildReport(gvk, obj, ev)
	for _, r := range next.Results {
		s.metrics.images.WithLabelValues(string(r.Result)).Inc()
	}
	prev := &openreports.Report{}
	err = s.reports.Get(ctx, client.ObjectKeyFromObject(next), prev)
	switch {
	case apierrors.IsNotFound(err):
		prev = nil
		if err := s.reports.Create(ctx, next); err != nil {
			return fmt.Errorf("creating Report %s/%s: %w", next.Namespace, next.Name, err)
		}
	case err != nil:
		return fmt.Errorf("reading Report %s/%s: %w", next.Namespace, next.Name, err)
	case prev.Labels[ManagedByLabel] != ManagedBy:
		return fmt.Errorf("Report %s/%s exists and is not managed by pullguard; not overwriting it", next.Namespace, next.Name)
	default:
		next.ResourceVersion = prev.ResourceVersion
		if err := s.reports.Update(ctx, next); err != nil {
			return fmt.Errorf("updating Report %s/%s: %w", next.Namespace, next.Name, err)
		}
	}
	for _, e := range eventsFor(prev, next) {
		s.recorder.Eventf(obj, nil, e.Type, e.Reason, "Reverify", "%s", e.Message)
	}
	s.record(key, worst(next))
	return nil
}

// record keeps the workload's worst result for the workloads gauge.
func (s *Scanner) record(key workloadKey, r openreports.Result) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.state[key]; ok {
		s.metrics.workloads.WithLabelValues(string(old), key.kind).Dec()
	}
	s.state[key] = r
	s.metrics.workloads.WithLabelValues(string(r), key.kind).Inc()
}

// forget drops a workload that is no longer checked (deleted, owned, off) from the gauge and
// from the credentials polled.
func (s *Scanner) forget(key workloadKey) {
	s.creds.forget(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	if old, ok := s.state[key]; ok {
		s.metrics.workloads.WithLabelValues(string(old), key.kind).Dec()
		delete(s.state, key)
	}
}

// Scan checks every workload once, spread over spread rather than in a burst: each check
// starts at a random point of its share of the interval, so replicas of a scan never align
// with each other or with other clusters. The scan's de-duplication starts afresh.
func (s *Scanner) Scan(ctx context.Context, spread time.Duration) error {
	start := s.clock.Now()
	s.checker.reset()
	items, err := s.checkedWorkloads(ctx)
	if err != nil {
		return err
	}
	var errs []error
	slot := time.Duration(0)
	if len(items) > 0 {
		slot = spread / time.Duration(len(items))
	}
	for i, it := range items {
		if slot > 0 {
			due := start.Add(time.Duration(i)*slot + time.Duration(rand.Int64N(int64(slot))))
			if err := s.clock.Sleep(ctx, due.Sub(s.clock.Now())); err != nil {
				return err
			}
		}
		if err := s.Check(ctx, it.gvk, it.obj); err != nil {
			logf.FromContext(ctx).Error(err, "re-verifying workload", "kind", it.gvk.Kind,
				"namespace", it.obj.GetNamespace(), "name", it.obj.GetName())
			errs = append(errs, err)
		}
	}
	s.metrics.scanDuration.Observe(s.clock.Now().Sub(start).Seconds())
	if len(errs) == 0 {
		s.metrics.lastScan.Set(float64(s.clock.Now().Unix()))
	}
	return errors.Join(errs...)
}

// workload is a workload of a checked kind, as listed.
type workload struct {
	gvk schema.GroupVersionKind
	obj client.Object
}

// checkedWorkloads lists every workload the re-verifier checks (Checked), of every kind.
func (s *Scanner) checkedWorkloads(ctx context.Context) ([]workload, error) {
	var out []workload
	for gvk, k := range Kinds {
		list, err := s.list(ctx, gvk, k.newList)
		if err != nil {
			return nil, err
		}
		for _, o := range list {
			if Checked(gvk, o) {
				out = append(out, workload{gvk, o})
			}
		}
	}
	return out, nil
}

func (s *Scanner) list(ctx context.Context, gvk schema.GroupVersionKind, newList func() client.ObjectList) ([]client.Object, error) {
	l := newList()
	if err := s.workloads.List(ctx, l); err != nil {
		return nil, fmt.Errorf("listing %ss: %w", gvk.Kind, err)
	}
	objs, err := meta.ExtractList(l)
	if err != nil {
		return nil, err
	}
	out := make([]client.Object, 0, len(objs))
	for _, o := range objs {
		if co, ok := o.(client.Object); ok {
			out = append(out, co)
		}
	}
	return out, nil
}
