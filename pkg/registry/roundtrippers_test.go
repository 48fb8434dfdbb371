package registry

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestConcurrencyLimit: MaxConcurrentRequests caps round trips across checks.
func TestConcurrencyLimit(t *testing.T) {
	e := newEnv(t)
	reg := e.registry(testregistry.Config{}, "open.example.com")
	for i := range 6 {
		push(t, reg, fmt.Sprintf("team/app%d:v1", i))
	}
	reg.SetFault(testregistry.Fault{Delay: 50 * time.Millisecond, All: true})
	opts := e.options()
	opts.MaxConcurrentRequests = 2
	c := e.checker(opts)
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			v := c.Check(ctxTimeout(t, 10*time.Second), Request{Image: fmt.Sprintf("open.example.com/team/app%d:v1", i)})
			if v.Outcome != Pullable {
				t.Errorf("app%d: %s", i, v.Message())
			}
		})
	}
	wg.Wait()
	if m := reg.MaxInFlight(); m > 2 {
		t.Errorf("registry saw %d concurrent requests, want at most 2", m)
	}
}

func TestRetries(t *testing.T) {
	tests := map[string]struct {
		fault      testregistry.Fault
		maxRetries int
		backoff    time.Duration
		timeout    time.Duration
		outcome    Outcome
		class      Class
		heads      int64
	}{
		"one 503 is retried": {
			fault: testregistry.Fault{Status: http.StatusServiceUnavailable, Times: 1}, maxRetries: 1,
			outcome: Pullable, class: ClassOK, heads: 2,
		},
		"no retries configured": {
			fault:   testregistry.Fault{Status: http.StatusServiceUnavailable, Times: 1},
			outcome: Unverifiable, class: ClassRegistryUnavailable, heads: 1,
		},
		"retries stop at MaxRetries": {
			fault: testregistry.Fault{Status: http.StatusBadGateway}, maxRetries: 2,
			outcome: Unverifiable, class: ClassRegistryUnavailable, heads: 3,
		},
		"no retry when the deadline leaves no room": {
			fault: testregistry.Fault{Status: http.StatusServiceUnavailable, Times: 1}, maxRetries: 1,
			backoff: time.Second, timeout: 500 * time.Millisecond,
			outcome: Unverifiable, class: ClassRegistryUnavailable, heads: 1,
		},
		"429 is never retried": {
			fault: testregistry.Fault{Status: http.StatusTooManyRequests, Times: 1}, maxRetries: 3,
			outcome: Unverifiable, class: ClassRateLimited, heads: 1,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t)
			reg := e.registry(testregistry.Config{}, "open.example.com")
			push(t, reg, "team/app:v1")
			reg.SetFault(tc.fault)
			opts := e.options()
			opts.MaxRetries = tc.maxRetries
			if tc.backoff != 0 {
				opts.RetryBackoff = tc.backoff
			}
			c := e.checker(opts)
			timeout := tc.timeout
			if timeout == 0 {
				timeout = 5 * time.Second
			}
			v := c.Check(ctxTimeout(t, timeout), Request{Image: "open.example.com/team/app:v1"})
			assertVerdict(t, v, tc.outcome, tc.class, nil, nil)
			if n := reg.Count(testregistry.KindManifestHead); n != tc.heads {
				t.Errorf("manifest HEADs = %d, want %d", n, tc.heads)
			}
		})
	}
}

func TestRetryable(t *testing.T) {
	get := &http.Request{Method: http.MethodGet}
	tests := map[string]struct {
		status int
		err    error
		want   bool
	}{
		"500":         {status: 500, want: true},
		"502":         {status: 502, want: true},
		"503":         {status: 503, want: true},
		"504":         {status: 504, want: true},
		"501":         {status: 501},
		"429":         {status: 429},
		"404":         {status: 404},
		"200":         {status: 200},
		"reset":       {err: &net.OpError{Op: "read", Err: syscall.ECONNRESET}, want: true},
		"refused":     {err: &net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}},
		"deadline":    {err: context.DeadlineExceeded},
		"DNS failure": {err: &net.DNSError{Name: "x", IsNotFound: true}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			var resp *http.Response
			if tc.err == nil {
				resp = &http.Response{StatusCode: tc.status}
			}
			if got := retryable(get, resp, tc.err); got != tc.want {
				t.Errorf("retryable = %v, want %v", got, tc.want)
			}
		})
	}
}
