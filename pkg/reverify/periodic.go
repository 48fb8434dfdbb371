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
		if err := p.Scanner.Scan(ctx, p.Scanner.cfg.ScanInterval); err != nil && ctx.Err() == nil {
			// Per-workload errors are logged by Scan; the next scan tries again.
			log.Error(err, "scan finished with errors")
		}
	}
	return nil
}
