package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"slices"
	"sync"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/prometheus/client_golang/prometheus"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/events"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/reverify"
)

// ReverifyScanResult is one re-verifier scan of many workloads sharing fewer images.
type ReverifyScanResult struct {
	Workloads, Images int
	// HostQPS and HostBurst are the per-host budget the scan ran with.
	HostQPS   float64
	HostBurst int
	// Requests are the manifest requests the registry served during the scan.
	Requests int64
	// Reports are the Reports the scan wrote; Failed the workloads whose Report is not all pass.
	Reports, Failed int
	Took            time.Duration
	// StartRSS is the process's resident set before anything was built (the binary and its
	// libraries' start-up), ReadyRSS once the workloads were in memory (slimmed as the
	// informers hold them), just before the scan; PeakRSS the high-water mark during the scan
	// (from ReadyRSS on: the harness's build burst is not counted), Heap the live heap after.
	StartRSS, ReadyRSS, PeakRSS, Heap uint64
}

// BudgetMinimum is the least time the per-host budget allows for one request per distinct
// image: the burst at once, the rest at HostQPS.
func (r ReverifyScanResult) BudgetMinimum() time.Duration {
	return time.Duration(float64(max(r.Images-r.HostBurst, 0)) / r.HostQPS * float64(time.Second))
}

// Ratio is the scan's wall time over the budget's minimum.
func (r ReverifyScanResult) Ratio() float64 { return ratio(r.Took, r.BudgetMinimum()) }

// reverifyNamespace is where the scanned workloads live.
const reverifyNamespace = "team"

// MeasureReverifyScan runs one scan of the re-verifier (reverify.Scanner, over the webhook's
// registry engine and admission handler) of workloads Deployments, each with one of images
// distinct images in turn, held in memory as the informer cache holds them (slimmed by
// reverify.InformerOptions; the default
// ServiceAccount in a fake API server, the Reports counted and dropped), against anyTagRegistry over TLS on
// loopback with a per-host budget of hostQPS (burst 10). The scan is not spread (spread 0): the
// budget alone paces it. No Node is known, so no platform check (one manifest HEAD per image).
// Run it in a fresh process for a peak RSS that holds nothing else (cmd/benchtable does).
func MeasureReverifyScan(ctx context.Context, workloads, images int, hostQPS float64) (ReverifyScanResult, error) {
	res := ReverifyScanResult{Workloads: workloads, Images: images, HostQPS: hostQPS, HostBurst: 10}
	res.StartRSS, _ = processRSS(os.Getpid())
	dir, cleanup, err := tempDir("pullguard-bench-reverify-")
	if err != nil {
		return res, err
	}
	defer cleanup()
	l, err := testbed.NewLoopbackTLS(dir)
	if err != nil {
		return res, err
	}
	reg := &anyTagRegistry{}
	srv := startTLSServer(reg, l.Pair)
	defer srv.Close()
	host := srv.Listener.Addr().String()

	scheme := k8sruntime.NewScheme()
	if err := clientgoscheme.AddToScheme(scheme); err != nil {
		return res, err
	}
	if err := openreports.AddToScheme(scheme); err != nil {
		return res, err
	}
	// The Secrets and ServiceAccounts the handler GETs: the default ServiceAccount only.
	api := fake.NewClientBuilder().WithScheme(scheme).
		WithObjects(&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: reverifyNamespace}}).Build()
	slim, err := deploymentTransform()
	if err != nil {
		return res, err
	}
	cached := &workloadCache{deployments: make([]appsv1.Deployment, 0, workloads)}
	for i := range workloads {
		d := Deployment(reverifyNamespace, fmt.Sprintf("app-%05d", i), []string{cacheImage(host, i%images)})
		d.UID = types.UID(fmt.Sprintf("uid-%05d", i))
		o, err := slim(d)
		if err != nil {
			return res, err
		}
		cached.deployments = append(cached.deployments, *o.(*appsv1.Deployment))
	}
	reports := &reportSink{}

	engine, err := registry.New(engineOptions(l.CAFile))
	if err != nil {
		return res, fmt.Errorf("creating the registry engine: %w", err)
	}
	cfg := reverify.DefaultConfig()
	cfg.HostQPS, cfg.HostBurst = float32(hostQPS), res.HostBurst
	m, err := reverify.NewMetrics(prometheus.NewRegistry())
	if err != nil {
		return res, err
	}
	checker, err := reverify.NewChecker(cfg, engine, nil, m)
	if err != nil {
		return res, err
	}
	// No Node: candidate platforms are unknown, and the engine skips the platform check.
	h, err := admission.NewHandler(admission.DefaultConfig(), checker, api, newInformerReader([]string{reverifyNamespace}, nil), nil)
	if err != nil {
		return res, err
	}
	s, err := reverify.NewScanner(cfg, h, checker, cached, reports, &events.FakeRecorder{}, m, nil)
	if err != nil {
		return res, err
	}
	// What building the objects cost is the harness's: return it, and start the high-water
	// mark afresh (clear_refs 5), so that the peak is the scan's.
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	res.ReadyRSS, _ = processRSS(os.Getpid())
	start := time.Now()
	if err := s.Scan(ctx, 0); err != nil {
		return res, fmt.Errorf("scanning: %w", err)
	}
	res.Took = time.Since(start)
	res.Requests = reg.manifests.Load()
	_, res.PeakRSS = processRSS(os.Getpid())
	res.Heap = liveHeap()
	res.Reports, res.Failed = reports.created, reports.failed
	runtime.KeepAlive(cached)
	if res.Reports != workloads || res.Failed > 0 {
		return res, fmt.Errorf("%d Reports for %d workloads, %d not all pass", res.Reports, workloads, res.Failed)
	}
	return res, nil
}

// deploymentTransform is the re-verifier's cache transform of Deployments (InformerOptions).
func deploymentTransform() (func(any) (any, error), error) {
	for obj, o := range reverify.InformerOptions() {
		if _, ok := obj.(*appsv1.Deployment); ok && o.Transform != nil {
			return o.Transform, nil
		}
	}
	return nil, errors.New("reverify.InformerOptions has no Deployment transform")
}

// workloadCache serves the Deployments as the re-verifier's informer cache does (List copies
// the items; no other kind exists). A fake client would serialise every object on every read,
// and its copies would weigh in the peak RSS the row measures.
type workloadCache struct{ deployments []appsv1.Deployment }

func (c *workloadCache) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	return errors.New("workloadCache: the scan only lists")
}

func (c *workloadCache) List(_ context.Context, list client.ObjectList, _ ...client.ListOption) error {
	if l, ok := list.(*appsv1.DeploymentList); ok {
		l.Items = slices.Clone(c.deployments)
	}
	return nil
}

// reportSink is the API server's side of the Reports: it counts them (and those not all pass)
// and keeps none, as the re-verifier keeps none in memory.
type reportSink struct {
	client.Client
	mu              sync.Mutex
	created, failed int
}

func (r *reportSink) Get(_ context.Context, key client.ObjectKey, _ client.Object, _ ...client.GetOption) error {
	return apierrors.NewNotFound(openreports.SchemeGroupVersion.WithResource("reports").GroupResource(), key.Name)
}

func (r *reportSink) Create(_ context.Context, obj client.Object, _ ...client.CreateOption) error {
	rep, ok := obj.(*openreports.Report)
	if !ok {
		return fmt.Errorf("reportSink: %T is not a Report", obj)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.created++
	if rep.Summary.Pass != len(rep.Results) {
		r.failed++
	}
	return nil
}
