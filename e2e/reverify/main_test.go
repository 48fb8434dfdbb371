// Package reverify runs `webhook reverify` on the real test bed: a real API server and etcd, the
// real distribution registry (deletes enabled), the webhook as shipped, and the re-verifier as
// shipped (manifests/overlays/reverifier: its RBAC, the openreports.io CRDs) run in this process
// as its ServiceAccount, since the bed has no kubelet.
package reverify

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
)

// scanInterval is short so that every case is bounded: a workload is checked within two
// intervals of its creation (the scan that lists it may have started just before).
const scanInterval = 3 * time.Second

// reverifierArgs come after the shipped args. The install's own namespace holds Deployments of
// ghcr.io images, which this bed must never ask about: with the default mode off, only the
// namespaces a test labels are scanned (and the hermetic DNS of TestMain would stop a lookup
// anyway). A short check timeout keeps a host paused by a 429 from holding a whole scan; a
// wider per-host budget than the default keeps the package's tests, which share one registry
// host and scan every few seconds, from waiting on each other's tokens (a check that waits past
// its timeout is a warn between two fails, and a second Warning Event).
var reverifierArgs = []string{
	"--scan-interval=" + scanInterval.String(),
	"--default-mode=off",
	"--reverify-check-timeout=3s",
	"--reverify-host-qps=50",
	"--reverify-host-burst=50",
}

// env is the bed of this package and the re-verifier that scans it.
type env struct {
	*bench.Cluster
	// Reverifier is the instance the tests rely on (TestOneLeaderScans may replace it).
	Reverifier *testbed.InProcess
	// Reports reads Reports.
	Reports client.Client
}

var bed *env

func TestMain(m *testing.M) {
	// The re-verifier runs in this process: any name it would resolve fails without a packet.
	bench.InstallHermeticDNS()
	os.Exit(bedtest.Main(m, "e2e/reverify", start, &bed))
}

func start(ctx context.Context) (_ *env, retErr error) {
	c, err := bench.StartCluster(ctx, os.Stderr)
	if err != nil {
		return nil, err
	}
	e := &env{Cluster: c}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, e.Stop())
		}
	}()
	step := time.Now()
	if err := c.Bed.InstallReverifier(ctx); err != nil {
		return e, err
	}
	if e.Reverifier, err = c.Bed.StartReverifier(ctx, testbed.ReverifierOptions{Args: reverifierArgs}); err != nil {
		return e, err
	}
	scheme := runtime.NewScheme()
	if err := errors.Join(clientgoscheme.AddToScheme(scheme), openreports.AddToScheme(scheme)); err != nil {
		return e, err
	}
	if e.Reports, err = client.New(c.Bed.ControlPlane.Config, client.Options{Scheme: scheme}); err != nil {
		return e, fmt.Errorf("building the Report client: %w", err)
	}
	fmt.Fprintf(os.Stderr, ">> re-verifier installed and ready in %s\n", time.Since(step).Round(10*time.Millisecond))
	return e, nil
}

// Stop stops the re-verifier, then the bed.
func (e *env) Stop() error {
	var errs []error
	if e.Reverifier != nil {
		errs = append(errs, e.Reverifier.Stop())
	}
	return errors.Join(append(errs, e.Cluster.Stop())...)
}
