package resilience

import (
	"context"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/bench"
	"github.com/pullguard/pullguard/internal/testbed"
)

// webhookBudget is the webhook's own deadline through the shipped configuration: timeoutSeconds
// 10 minus the default 1 s margin, capped by the default 8 s max budget. A client-side latency
// under it (plus the API server's own share) means the webhook answered, not the timeout.
const webhookBudget = 8 * time.Second

// TestRegistryFaults admits, through the API server into an enforce namespace, one pod per
// registry fault. Every admission must get the webhook's own answer inside its budget (zero
// failed calls counted by the API server), with the decision the default configuration makes
// for its class (allow, with a warning that says what happened, when the image cannot be
// verified) and a message naming the cause.
func TestRegistryFaults(t *testing.T) {
	runFaults(t, false)
}

// TestRegistryFaultsDenyUnverifiable restarts the webhook with --deny-unverifiable and admits
// the faults again: every image that cannot be verified is now refused by the webhook itself,
// with the same cause in the message, and still inside the budget.
func TestRegistryFaultsDenyUnverifiable(t *testing.T) {
	restart := func(args ...string) {
		t.Helper()
		// Not t.Context(): the restart in Cleanup runs after it is cancelled.
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := cluster.Bed.StopWebhook(); err != nil {
			t.Fatal(err)
		}
		if err := cluster.Bed.StartWebhook(ctx, args...); err != nil {
			t.Fatal(err)
		}
	}
	restart("--deny-unverifiable")
	// The tests after this one expect the shipped configuration.
	t.Cleanup(func() { restart() })
	runFaults(t, true)
}

// runFaults admits one pod per fault case into the enforce namespace and checks each answer
// (denyUnverifiable: what the webhook was started with), then that the API server counted no
// failed call and no fail-open admission: every answer was the webhook's own.
func runFaults(t *testing.T, denyUnverifiable bool) {
	t.Helper()
	before, err := testbed.ScrapeWebhookMetrics(t.Context(), cluster.Client, testbed.WebhookName)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("cases", func(t *testing.T) {
		for _, fc := range bench.FaultCases() {
			t.Run(fc.Name, func(t *testing.T) {
				t.Parallel()
				out, err := cluster.RunFault(t.Context(), fc, cluster.Enforce)
				if err != nil {
					t.Fatal(err)
				}
				t.Logf("%s after %s: err=%v warnings=%q", out.Image, out.Took.Round(time.Millisecond), out.Err, out.Warnings)
				if err := out.Check(denyUnverifiable, webhookBudget+time.Second); err != nil {
					t.Error(err)
				}
			})
		}
	})
	after, err := testbed.ScrapeWebhookMetrics(t.Context(), cluster.Client, testbed.WebhookName)
	if err != nil {
		t.Fatal(err)
	}
	d := after.Sub(before)
	if d.CallErrors != 0 || d.FailOpen != 0 {
		t.Errorf("the API server counted %v failed webhook calls and %v fail-open admissions; every admission must get the webhook's own answer", d.CallErrors, d.FailOpen)
	}
	if want := float64(len(bench.FaultCases())); d.Requests < want {
		t.Errorf("the API server called the webhook %v times, want at least %v", d.Requests, want)
	}
}
