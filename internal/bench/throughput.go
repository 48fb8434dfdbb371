package bench

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// noopPath is where the throughput benchmark serves the no-op handler, next to admission.Path.
const noopPath = "/noop"

// ThroughputEnv is the webhook's own HTTPS server with pullguard's handler (real registry
// engine, warm cache) at admission.Path and a no-op handler at noopPath, and the review of a
// three-container Deployment both are sent.
type ThroughputEnv struct {
	server  *admissionServer
	reg     *localRegistry
	cleanup func()
	review  []byte

	// For the floor's parts (floor.go): the handler and engine behind admission.Path.
	handler *admission.Handler
	checker *registry.Checker
	images  []string
}

// StartThroughputEnv builds the server for up to clients concurrent clients and warms the
// verdict cache with one admission.
func StartThroughputEnv(ctx context.Context, clients int) (_ *ThroughputEnv, retErr error) {
	dir, cleanup, err := tempDir("pullguard-bench-tls-")
	if err != nil {
		return nil, err
	}
	e := &ThroughputEnv{cleanup: cleanup}
	defer func() {
		if retErr != nil {
			e.Close()
		}
	}()
	l, err := testbed.NewLoopbackTLS(dir)
	if err != nil {
		return nil, err
	}
	e.reg = startLocalRegistry(l)
	var images []string
	for _, repo := range []string{"team/web:1.0", "team/api:1.0", "team/sidecar:1.0"} {
		ref, err := e.reg.push(ctx, repo)
		if err != nil {
			return nil, err
		}
		images = append(images, ref)
	}
	checker, err := registry.New(engineOptions(l.CAFile))
	if err != nil {
		return nil, fmt.Errorf("creating the registry engine: %w", err)
	}
	h, err := newHandler(checker)
	if err != nil {
		return nil, err
	}
	e.handler, e.checker, e.images = h, checker, images
	if e.server, err = startAdmissionServer(l, clients, map[string]http.Handler{admission.Path: h.HTTPHandler(), noopPath: noopHandler()}); err != nil {
		return nil, err
	}
	if e.review, err = deploymentReview("throughput", Deployment(benchNamespace, "web", images)); err != nil {
		return nil, err
	}
	for _, path := range []string{admission.Path, noopPath} {
		if err := e.admit(ctx, path); err != nil {
			return nil, fmt.Errorf("warming %s: %w", path, err)
		}
	}
	return e, nil
}

// Close stops everything StartThroughputEnv started.
func (e *ThroughputEnv) Close() {
	if e.server != nil {
		e.server.Close()
	}
	if e.reg != nil {
		e.reg.Close()
	}
	e.cleanup()
}

// admit sends the review to path and requires an allowed answer.
func (e *ThroughputEnv) admit(ctx context.Context, path string) error {
	r, err := e.server.post(ctx, path, e.review)
	if err != nil {
		return err
	}
	if !r.Allowed {
		return fmt.Errorf("%s refused the review: %v", path, r.Result)
	}
	return nil
}

// AdmitPullguard and AdmitNoop send one review to each handler.
func (e *ThroughputEnv) AdmitPullguard(ctx context.Context) error {
	return e.admit(ctx, admission.Path)
}
func (e *ThroughputEnv) AdmitNoop(ctx context.Context) error { return e.admit(ctx, noopPath) }

// ThroughputResult compares AdmissionReviews per second of both handlers.
type ThroughputResult struct {
	Clients         int
	Pullguard, Noop float64 // reviews per second
	Errors          int64
}

// Ratio is pullguard's throughput over the no-op handler's.
func (r ThroughputResult) Ratio() float64 { return r.Pullguard / r.Noop }

// MeasureThroughput runs clients concurrent clients for about duration in total, alternating
// between the handlers in short rounds so that both see the same machine conditions.
func (e *ThroughputEnv) MeasureThroughput(ctx context.Context, clients int, duration time.Duration) ThroughputResult {
	const rounds = 10
	slice := duration / (2 * rounds)
	res := ThroughputResult{Clients: clients}
	var counts [2]int64
	var spent [2]time.Duration
	var errs atomic.Int64
	paths := [2]string{admission.Path, noopPath}
	for round := range rounds {
		for k := range 2 {
			i := (round + k) % 2 // alternate which handler goes first
			start := time.Now()
			n := e.burst(ctx, paths[i], clients, slice, &errs)
			spent[i] += time.Since(start)
			counts[i] += n
		}
	}
	res.Pullguard = float64(counts[0]) / spent[0].Seconds()
	res.Noop = float64(counts[1]) / spent[1].Seconds()
	res.Errors = errs.Load()
	return res
}

// burst keeps clients reviews in flight on path for d and returns how many completed.
func (e *ThroughputEnv) burst(ctx context.Context, path string, clients int, d time.Duration, errs *atomic.Int64) int64 {
	var done atomic.Int64
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(stop) && ctx.Err() == nil {
				if err := e.admit(ctx, path); err != nil {
					errs.Add(1)
					continue
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return done.Load()
}

func (r ThroughputResult) String() string {
	return fmt.Sprintf("%s clients: pullguard %.0f/s, no-op %.0f/s", strconv.Itoa(r.Clients), r.Pullguard, r.Noop)
}
