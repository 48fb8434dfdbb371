package reverify

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Clock is the time the host budget runs on; tests give a fake one.
type Clock interface {
	Now() time.Time
	// Sleep waits for d or until ctx ends.
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Rate is a token bucket's refill rate (per second) and size.
type Rate struct {
	QPS   float64
	Burst int
}

// hostBudget is a token bucket per registry host, so that a scan of thousands of workloads
// never bursts one registry into 429s, and a 429 from one host pauses that host only.
type hostBudget struct {
	clock     Clock
	def       Rate
	overrides map[string]Rate // by registry host as images name it (docker.io)

	mu      sync.Mutex
	hosts   map[string]*rate.Limiter
	pausedU map[string]time.Time
	backoff map[string]time.Duration
}

// Backoff bounds of a host that answered 429: the pause doubles on each 429 in a row.
const (
	minBackoff = 30 * time.Second
	maxBackoff = 15 * time.Minute
)

func newHostBudget(clock Clock, def Rate, overrides map[string]Rate) *hostBudget {
	return &hostBudget{clock: clock, def: def, overrides: overrides,
		hosts: map[string]*rate.Limiter{}, pausedU: map[string]time.Time{}, backoff: map[string]time.Duration{}}
}

// wait takes one token of host, waiting for it (and for the end of the host's back-off) or until
// ctx ends.
func (b *hostBudget) wait(ctx context.Context, host string) error {
	b.mu.Lock()
	l, ok := b.hosts[host]
	if !ok {
		r, ok := b.overrides[host]
		if !ok {
			r = b.def
		}
		l = rate.NewLimiter(rate.Limit(r.QPS), r.Burst)
		b.hosts[host] = l
	}
	now := b.clock.Now()
	delay := b.pausedU[host].Sub(now)
	from := now
	if delay > 0 {
		from = b.pausedU[host]
	}
	res := l.ReserveN(from, 1)
	if !res.OK() {
		b.mu.Unlock()
		return context.DeadlineExceeded
	}
	delay = max(delay, 0) + res.DelayFrom(from)
	b.mu.Unlock()
	if delay <= 0 {
		return nil
	}
	if err := b.clock.Sleep(ctx, delay); err != nil {
		res.CancelAt(b.clock.Now())
		return err
	}
	return nil
}

// rateLimited pauses host after it answered 429, doubling the pause on each in a row, and for
// at least the registry's own Retry-After (0: none). Both are capped at maxBackoff, so that a
// registry cannot stop the re-verifier's checks of its images for days.
func (b *hostBudget) rateLimited(host string, retryAfter time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	d := min(max(b.backoff[host]*2, minBackoff, retryAfter), maxBackoff)
	b.backoff[host] = d
	b.pausedU[host] = b.clock.Now().Add(d)
}

// answered clears host's back-off after an answer that was not a 429.
func (b *hostBudget) answered(host string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.backoff, host)
	delete(b.pausedU, host)
}
