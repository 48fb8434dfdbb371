package registry

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/pullguard/pullguard/internal/testregistry"
)

// TestCoalescing: 500 concurrent identical cold checks make one upstream manifest request.
// With the positive cache off and a slow registry only singleflight can explain the count; with
// the defaults and a fast registry, late callers also meet the verdict the flight stored.
func TestCoalescing(t *testing.T) {
	tests := map[string]struct {
		positiveTTL time.Duration
		delay       time.Duration
	}{
		"singleflight alone": {delay: 200 * time.Millisecond},
		"defaults":           {positiveTTL: DefaultOptions().PositiveTTL},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t)
			reg := tokenRegistry(t, e, "v1")
			reg.SetFault(testregistry.Fault{Delay: tc.delay})
			opts := e.options()
			opts.PositiveTTL = tc.positiveTTL
			c := e.checker(opts)
			kr := keyringOf(aliceSecret())

			const n = 500
			var wg sync.WaitGroup
			verdicts := make([]Verdict, n)
			startLine := make(chan struct{})
			for i := range n {
				wg.Go(func() {
					<-startLine
					verdicts[i] = c.Check(ctxTimeout(t, 10*time.Second), Request{Image: "reg.example.com/team/app:v1", Keyring: kr})
				})
			}
			close(startLine)
			wg.Wait()
			for i, v := range verdicts {
				if v.Outcome != Pullable {
					t.Fatalf("check %d: %s/%s %s", i, v.Outcome, v.Class, v.Message())
				}
			}
			if got := reg.Count(testregistry.KindManifestHead) + reg.Count(testregistry.KindManifestGet); got != 1 {
				t.Errorf("upstream manifest requests = %d, want 1", got)
			}
		})
	}
}

// slowFlight is a Bearer registry whose answers take 300 ms, a checker that caches nothing, and
// a request for it: room for a second caller to join the first one's flight.
func slowFlight(t *testing.T) (*testregistry.Registry, *Checker, Request) {
	t.Helper()
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1")
	reg.SetFault(testregistry.Fault{Delay: 300 * time.Millisecond})
	opts := e.options()
	opts.PositiveTTL = 0
	c := e.checker(opts)
	req := Request{Image: "reg.example.com/team/app:v1", Keyring: keyringOf(aliceSecret())}
	return reg, c, req
}

// TestCoalescingLeaderGoesAway: the caller whose check started the shared flight gives up; the
// others still get the registry's answer, from that same flight.
func TestCoalescingLeaderGoesAway(t *testing.T) {
	reg, c, req := slowFlight(t)

	leaderCtx, cancelLeader := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelLeader()
	leader := make(chan Verdict, 1)
	go func() { leader <- c.Check(leaderCtx, req) }()
	time.Sleep(50 * time.Millisecond)
	follower := make(chan Verdict, 1)
	go func() { follower <- c.Check(ctxTimeout(t, 5*time.Second), req) }()
	time.Sleep(50 * time.Millisecond)
	cancelLeader()

	assertVerdict(t, <-leader, Unverifiable, ClassTimeout, nil, nil)
	assertVerdict(t, <-follower, Pullable, ClassOK, nil, nil)
	if n := reg.Count(testregistry.KindManifestHead); n != 1 {
		t.Errorf("manifest HEADs = %d, want 1 shared by leader and follower", n)
	}
}

// TestCoalescingShortLeaderDeadline: the shared flight is bounded by the deadline of the caller
// that started it; a follower with a longer deadline then checks again under its own.
func TestCoalescingShortLeaderDeadline(t *testing.T) {
	_, c, req := slowFlight(t)

	leader := make(chan Verdict, 1)
	go func() { leader <- c.Check(ctxTimeout(t, 150*time.Millisecond), req) }()
	time.Sleep(30 * time.Millisecond)
	v := c.Check(ctxTimeout(t, 5*time.Second), req)
	assertVerdict(t, <-leader, Unverifiable, ClassTimeout, nil, nil)
	assertVerdict(t, v, Pullable, ClassOK, nil, nil)
}

// fakeClock drives the verdict cache's TTLs.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
}

func TestCacheTTLs(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1", "v4")
	digest := push(t, reg, "team/app:v2")
	opts := e.options()
	opts.MaxRetries = 0
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	c, err := newChecker(opts, clock)
	if err != nil {
		t.Fatal(err)
	}
	kr := keyringOf(aliceSecret())
	type step struct {
		advance time.Duration
		fault   *testregistry.Fault
		outcome Outcome
		cached  bool
		notes   []string
	}
	tests := map[string]struct {
		image string
		steps []step
	}{
		"tag: PositiveTTL": {image: "reg.example.com/team/app:v1", steps: []step{
			{outcome: Pullable},
			{advance: opts.PositiveTTL - time.Second, outcome: Pullable, cached: true},
			{advance: 2 * time.Second, outcome: Pullable},
		}},
		"digest: DigestTTL": {image: "reg.example.com/team/app@" + digest.String(), steps: []step{
			{outcome: Pullable},
			{advance: 23 * time.Hour, outcome: Pullable, cached: true},
			{advance: 2 * time.Hour, outcome: Pullable},
		}},
		"missing tag: NegativeTTL": {image: "reg.example.com/team/app:nope", steps: []step{
			{outcome: NotPullable},
			{advance: opts.NegativeTTL - time.Second, outcome: NotPullable, cached: true},
			{advance: 2 * time.Second, outcome: NotPullable},
		}},
		"outage: Unverifiable is not cached": {image: "reg.example.com/team/app:v3", steps: []step{
			{fault: &testregistry.Fault{Status: http.StatusServiceUnavailable}, outcome: Unverifiable},
			{outcome: Unverifiable},
			{fault: &testregistry.Fault{}, outcome: NotPullable},
		}},
		"stale on error": {image: "reg.example.com/team/app:v4", steps: []step{
			{outcome: Pullable},
			{advance: opts.PositiveTTL + time.Minute, fault: &testregistry.Fault{Status: http.StatusServiceUnavailable}, outcome: Pullable, cached: true,
				notes: []string{"the registry could not be checked now (registry reg.example.com unavailable (503", "from a check 6m0s ago"}},
			{advance: opts.StaleTTL, outcome: Unverifiable},
			{fault: &testregistry.Fault{}, outcome: Pullable},
		}},
	}
	// Sequential: the cases share the registry's fault switch and the clock.
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Cleanup(func() { reg.SetFault(testregistry.Fault{}) })
			for i, s := range tc.steps {
				clock.advance(s.advance)
				if s.fault != nil {
					reg.SetFault(*s.fault)
				}
				before := reg.Count(testregistry.KindManifestHead)
				v := c.Check(ctxTimeout(t, 5*time.Second), Request{Image: tc.image, Keyring: kr})
				if v.Outcome != s.outcome || v.Cached != s.cached {
					t.Fatalf("step %d: %s cached=%v, want %s cached=%v: %s", i, v.Outcome, v.Cached, s.outcome, s.cached, v.Message())
				}
				heads := reg.Count(testregistry.KindManifestHead) - before
				if fromCache := s.cached && len(s.notes) == 0; fromCache != (heads == 0) {
					t.Errorf("step %d: %d manifest HEADs for a verdict with cached=%v", i, heads, s.cached)
				}
				assertVerdict(t, v, s.outcome, v.Class, nil, s.notes)
			}
		})
	}
}

// TestCached: the cache-only answer is no answer on a cold cache (and asks nothing), and after
// a check the same verdict as Check gives, image and reference included; invalid references
// need no registry and are answered at once.
func TestCached(t *testing.T) {
	e := newEnv(t)
	reg := tokenRegistry(t, e, "v1")
	c := e.checker(e.options())
	req := Request{Image: "reg.example.com/team/app:v1", Keyring: keyringOf(aliceSecret()), Platforms: ociPlats("linux/amd64")}
	if v, ok := c.Cached(req); ok {
		t.Fatalf("Cached on a cold cache = %+v, want no answer", v)
	}
	if got := reg.Count(testregistry.KindManifestHead) + reg.Count(testregistry.KindManifestGet); got != 0 {
		t.Fatalf("Cached made %d manifest requests", got)
	}
	first := c.Check(ctxTimeout(t, 10*time.Second), req)
	if first.Outcome != Pullable {
		t.Fatalf("check: %s/%s %s", first.Outcome, first.Class, first.Message())
	}
	cached, ok := c.Cached(req)
	again := c.Check(ctxTimeout(t, 10*time.Second), req)
	if !ok || !cached.Cached || cached.Image != again.Image || cached.Reference != again.Reference ||
		cached.Outcome != again.Outcome || cached.Digest != again.Digest {
		t.Errorf("Cached = %+v, %v; Check = %+v", cached, ok, again)
	}
	if v, ok := c.Cached(Request{Image: "Not A Reference"}); !ok || v.Outcome != NotPullable || v.Image != "Not A Reference" {
		t.Errorf("Cached(invalid) = %+v, %v; want NotPullable at once", v, ok)
	}
}
