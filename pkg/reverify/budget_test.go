package reverify

import (
	"context"
	"testing"
	"time"
)

func TestHostBudget(t *testing.T) {
	tests := map[string]struct {
		host      string
		requests  int
		rateLimit bool // the host answered 429 before the requests
		// retryAfter is that 429's Retry-After.
		retryAfter time.Duration
		wantWait   time.Duration
	}{
		"within the burst: no wait":                 {host: "reg.example.com", requests: 10},
		"past the burst: the refill rate (5/s)":     {host: "reg.example.com", requests: 20, wantWait: 2 * time.Second},
		"Docker Hub: burst 5, then 1/s":             {host: "docker.io", requests: 8, wantWait: 3 * time.Second},
		"a 429 pauses the host for the back-off":    {host: "reg.example.com", requests: 1, rateLimit: true, wantWait: minBackoff},
		"another host is not paused by that of one": {host: "other.example.com", requests: 10},
		"a Retry-After longer than the back-off":    {host: "reg.example.com", requests: 1, rateLimit: true, retryAfter: 5 * time.Minute, wantWait: 5 * time.Minute},
		"a Retry-After shorter than the back-off":   {host: "reg.example.com", requests: 1, rateLimit: true, retryAfter: time.Second, wantWait: minBackoff},
		"a Retry-After past the longest back-off":   {host: "reg.example.com", requests: 1, rateLimit: true, retryAfter: 24 * time.Hour, wantWait: maxBackoff},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			clock := newFakeClock()
			b := newHostBudget(clock, Rate{QPS: 5, Burst: 10}, DefaultConfig().hostOverrides())
			if tc.rateLimit {
				b.rateLimited(tc.host, tc.retryAfter)
			}
			b.rateLimited("paused.example.com", 0)
			for range tc.requests {
				if err := b.wait(context.Background(), tc.host); err != nil {
					t.Fatal(err)
				}
			}
			if got := clock.total(); got != tc.wantWait {
				t.Errorf("waited %s, want %s", got, tc.wantWait)
			}
		})
	}
}

func TestHostBudgetBackoffDoublesAndClears(t *testing.T) {
	clock := newFakeClock()
	b := newHostBudget(clock, Rate{QPS: 5, Burst: 10}, nil)
	b.rateLimited("h", 0)
	b.rateLimited("h", 0)
	if got := b.pausedU["h"].Sub(clock.Now()); got != 2*minBackoff {
		t.Errorf("second 429 in a row pauses %s, want %s", got, 2*minBackoff)
	}
	b.answered("h")
	if err := b.wait(context.Background(), "h"); err != nil || clock.total() != 0 {
		t.Errorf("after an answer: err %v, waited %s", err, clock.total())
	}
}
