package reverify

import (
	"context"
	"testing"
	"time"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

func TestScanCheckerDeduplicates(t *testing.T) {
	secret := func(pw string) *keyring.Keyring {
		return keyring.FromSecrets([]corev1.Secret{{Type: corev1.SecretTypeDockerConfigJson,
			Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"reg.example.com":{"username":"u","password":"` + pw + `"}}}`)}}})
	}
	amd64 := []ocispec.Platform{{OS: "linux", Architecture: "amd64"}}
	arm64 := []ocispec.Platform{{OS: "linux", Architecture: "arm64"}}
	tests := map[string]struct {
		requests  []registry.Request
		wantCalls int
	}{
		"the same image written two ways is one request": {requests: []registry.Request{
			{Image: "nginx:1.25"}, {Image: "docker.io/library/nginx:1.25"}}, wantCalls: 1},
		"another tag is another request": {requests: []registry.Request{
			{Image: "nginx:1.25"}, {Image: "nginx:1.26"}}, wantCalls: 2},
		"other credentials are another request": {requests: []registry.Request{
			{Image: "reg.example.com/a:1", Keyring: secret("one")}, {Image: "reg.example.com/a:1", Keyring: secret("two")},
			{Image: "reg.example.com/a:1", Keyring: secret("one")}}, wantCalls: 2},
		"other platforms are another request": {requests: []registry.Request{
			{Image: "nginx:1.25", Platforms: amd64}, {Image: "nginx:1.25", Platforms: arm64}, {Image: "nginx:1.25", Platforms: amd64}}, wantCalls: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			engine := &countingEngine{}
			m, _ := NewMetrics(nil)
			c := newScanChecker(engine, newHostBudget(newFakeClock(), Rate{QPS: 5, Burst: 10}, nil), m)
			for _, r := range tc.requests {
				if v := c.Check(context.Background(), r); v.Outcome != registry.Pullable || v.Image != r.Image {
					t.Errorf("verdict %+v for %q", v, r.Image)
				}
			}
			if got := engine.total(); got != tc.wantCalls {
				t.Errorf("%d engine calls, want %d", got, tc.wantCalls)
			}
			c.reset()
			c.Check(context.Background(), tc.requests[0])
			if got := engine.total(); got != tc.wantCalls+1 {
				t.Errorf("a new scan did not ask again: %d calls", got)
			}
		})
	}
}

func TestScanCheckerBacksOffARateLimitedHostOnly(t *testing.T) {
	engine := &countingEngine{verdicts: map[string]registry.Verdict{
		"slow.example.com/a:1": {Outcome: registry.Unverifiable, Class: registry.ClassRateLimited}}}
	clock := newFakeClock()
	m, _ := NewMetrics(nil)
	c := newScanChecker(engine, newHostBudget(clock, Rate{QPS: 5, Burst: 10}, nil), m)
	if v := c.Check(context.Background(), registry.Request{Image: "slow.example.com/a:1"}); v.Outcome != registry.Unverifiable {
		t.Fatalf("verdict %+v", v)
	}
	c.Check(context.Background(), registry.Request{Image: "fast.example.com/a:1"})
	if clock.total() != 0 {
		t.Errorf("another host waited %s", clock.total())
	}
	c.Check(context.Background(), registry.Request{Image: "slow.example.com/b:1"})
	if clock.total() != minBackoff {
		t.Errorf("the rate-limited host waited %s, want %s", clock.total(), minBackoff)
	}
}

// TestScanCheckerHonoursRetryAfter: the registry's own Retry-After, when longer than the
// back-off, is how long its host waits.
func TestScanCheckerHonoursRetryAfter(t *testing.T) {
	engine := &countingEngine{verdicts: map[string]registry.Verdict{
		"slow.example.com/a:1": {Outcome: registry.Unverifiable, Class: registry.ClassRateLimited, RetryAfter: 3 * time.Minute}}}
	clock := newFakeClock()
	m, _ := NewMetrics(nil)
	c := newScanChecker(engine, newHostBudget(clock, Rate{QPS: 5, Burst: 10}, nil), m)
	c.Check(context.Background(), registry.Request{Image: "slow.example.com/a:1"})
	c.Check(context.Background(), registry.Request{Image: "slow.example.com/b:1"})
	if clock.total() != 3*time.Minute {
		t.Errorf("the rate-limited host waited %s, want its Retry-After 3m0s", clock.total())
	}
}

func TestTriggeredChecksReuseOnlyFreshVerdicts(t *testing.T) {
	req := registry.Request{Image: "reg.example.com/a:1"}
	tests := map[string]struct {
		age       time.Duration
		triggered bool
		wantCalls int
	}{
		"the scan reuses its verdict for the whole scan": {age: 50 * time.Minute, wantCalls: 1},
		"a trigger reuses a fresh verdict":               {age: 30 * time.Second, triggered: true, wantCalls: 1},
		"a trigger asks again after the freshness":       {age: 2 * time.Minute, triggered: true, wantCalls: 2},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			engine := &countingEngine{}
			clock := newFakeClock()
			m, _ := NewMetrics(nil)
			c := newScanChecker(engine, newHostBudget(clock, Rate{QPS: 5, Burst: 10}, nil), m)
			c.Check(context.Background(), req)
			_ = clock.Sleep(context.Background(), tc.age)
			ctx := context.Background()
			if tc.triggered {
				ctx = withFreshness(ctx, time.Minute)
			}
			c.Check(ctx, req)
			if got := engine.total(); got != tc.wantCalls {
				t.Errorf("%d engine calls, want %d", got, tc.wantCalls)
			}
			// Whatever was asked last serves the scan from then on.
			c.Check(context.Background(), req)
			if got := engine.total(); got != tc.wantCalls {
				t.Errorf("the scan's next check asked again: %d calls", got)
			}
		})
	}
}
