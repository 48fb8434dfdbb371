package reverify

import (
	"context"

	logf "sigs.k8s.io/controller-runtime/pkg/log"
)

// Periodic is the manager.Runnable of the periodic scan: one scan after another, each spread
// over the scan interval, on the leader only (two replicas never scan twice).
type Periodic struct{ Scanner *Scanner }

// NeedLeaderElection implements manager.LeaderElectionRunnable.
func (Periodic) NeedLeaderElection() bool { return true }

// Start implements manager.Runnable; it returns when ctx ends.
func (p Periodic) Start(ctx context.Context) error {
	log := logf.FromContext(ctx).WithName("reverify")
	for ctx.Err() == nil {
		start := p.Scanner.clock.Now()
		if err := p.Scanner.Scan(ctx, p.Scanner.cfg.ScanInterval); err != nil && ctx.Err() == nil {
			// Per-workload errors are logged by Scan; the next scan tries again.
			log.Error(err, "scan finished with errors")
		}
		// A scan of few workloads ends early; the next starts one interval after this one.
		_ = p.Scanner.clock.Sleep(ctx, start.Add(p.Scanner.cfg.ScanInterval).Sub(p.Scanner.clock.Now()))
	}
	return nil
}
