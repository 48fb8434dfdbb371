package bench

import (
	"context"
	"fmt"
	"sync"
	"time"
)

// Variant is where an admission goes: which webhooks the API server calls for it.
type Variant int

const (
	// WithPullguard: the shipped webhook (warm cache), in an enforce namespace.
	WithPullguard Variant = iota
	// WithNoop: the no-op webhook only.
	WithNoop
	// WithoutWebhook: no webhook at all.
	WithoutWebhook
)

func (v Variant) String() string {
	return [...]string{"pullguard", "no-op webhook", "no webhook"}[v]
}

func (c *Cluster) namespace(v Variant) string {
	return [...]string{c.Enforce, NoopNamespace, BaselineNamespace}[v]
}

// OverheadResult holds the client-side latencies of dry-run creating the three-container
// Deployment through the API server, per variant, measured interleaved at one concurrency.
type OverheadResult struct {
	Clients   int
	Latencies [3]Latencies
	Errors    int
	FirstErr  error
}

// P99Ratio is pullguard's p99 over the no-op webhook's (target <= 1.1).
func (r OverheadResult) P99Ratio() float64 {
	return ratio(r.Latencies[WithPullguard].P99(), r.Latencies[WithNoop].P99())
}

// P50Ratio is pullguard's p50 over the no-op webhook's.
func (r OverheadResult) P50Ratio() float64 {
	return ratio(r.Latencies[WithPullguard].P50(), r.Latencies[WithNoop].P50())
}

func (r OverheadResult) String() string {
	s := fmt.Sprintf("%d clients:", r.Clients)
	for v, l := range r.Latencies {
		s += fmt.Sprintf(" %s p50 %s p99 %s (n=%d);", Variant(v), ms(l.P50()), ms(l.P99()), len(l))
	}
	return s + fmt.Sprintf(" errors %d", r.Errors)
}

// MeasureOverhead dry-run creates the Deployment perVariant times per variant with clients
// concurrent clients. The variants take turns in batches of a few requests per client, so a
// noisy neighbour slows all three alike; a warm-up round fills pullguard's caches first.
func (c *Cluster) MeasureOverhead(ctx context.Context, clients, perVariant int) OverheadResult {
	res := OverheadResult{Clients: clients}
	var mu sync.Mutex
	batch := clients * 4
	run := func(v Variant, n int, record bool) {
		jobs := make(chan struct{}, n)
		for range n {
			jobs <- struct{}{}
		}
		close(jobs)
		var wg sync.WaitGroup
		for range clients {
			wg.Go(func() {
				for range jobs {
					start := time.Now()
					err := c.CreateDeployment(ctx, c.namespace(v), c.Images)
					took := time.Since(start)
					if !record {
						continue
					}
					mu.Lock()
					if err != nil {
						res.Errors++
						if res.FirstErr == nil {
							res.FirstErr = fmt.Errorf("%s: %w", v, err)
						}
					} else {
						res.Latencies[v] = append(res.Latencies[v], took)
					}
					mu.Unlock()
				}
			})
		}
		wg.Wait()
	}
	for v := range Variant(3) {
		run(v, batch, false)
	}
	for done := 0; done < perVariant && ctx.Err() == nil; done += batch {
		n := min(batch, perVariant-done)
		for k := range Variant(3) {
			// Rotate which variant goes first in each round.
			run((k+Variant(done/batch))%3, n, true)
		}
	}
	return res
}
