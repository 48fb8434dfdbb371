package reverify

import (
	"context"
	"strings"
	"sync"
	"time"

	"github.com/containerd/platforms"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// ScanChecker is the engine as the scanner's handler sees it: within one scan, each distinct
// (reference, credentials, platforms) is asked about once across the whole cluster, however many
// workloads name it, and every request waits for a token of its registry host first.
type ScanChecker struct {
	engine  admission.Checker
	budget  *hostBudget
	metrics *Metrics

	mu   sync.Mutex
	seen map[string]*pending
}

type pending struct {
	done    chan struct{}
	verdict registry.Verdict
	// at is when the verdict came (read only once done is closed).
	at time.Time
}

type freshnessKey struct{}

// withFreshness marks ctx as a check triggered by a change: a verdict of the current scan is
// reused for it only if asked for within d (the scan's own checks reuse it for the whole scan).
// A workload created with an image the scan asked about forty minutes ago gets a fresh answer;
// a burst of workloads created at once still costs one request.
func withFreshness(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, freshnessKey{}, d)
}

// stale reports whether p, done, is too old for ctx.
func (c *ScanChecker) stale(ctx context.Context, p *pending) bool {
	d, ok := ctx.Value(freshnessKey{}).(time.Duration)
	if !ok {
		return false
	}
	select {
	case <-p.done:
		return c.budget.clock.Now().Sub(p.at) > d
	default:
		return false // in flight: as fresh as can be
	}
}

func newScanChecker(engine admission.Checker, budget *hostBudget, m *Metrics) *ScanChecker {
	return &ScanChecker{engine: engine, budget: budget, metrics: m, seen: map[string]*pending{}}
}

// reset forgets the verdicts of the previous scan: each scan asks again.
func (c *ScanChecker) reset() {
	c.mu.Lock()
	c.seen = map[string]*pending{}
	c.mu.Unlock()
}

// dedupKey identifies everything a verdict depends on, as the engine's cache key does: the
// reference the runtime pulls, the candidate credentials for its repository in the kubelet's
// order (fingerprints, never the secrets), the keyring's identity (its sources and keys, which
// the messages name), and the platform set.
func dedupKey(ref *reference.Reference, req registry.Request) string {
	var b strings.Builder
	b.WriteString(ref.Pull)
	b.WriteByte('|')
	for _, c := range req.Keyring.Lookup(keyring.ParseRepo(ref.Repository)) {
		b.WriteString(c.Fingerprint())
		b.WriteByte(',')
	}
	b.WriteByte('|')
	b.WriteString(req.Keyring.ExplainID())
	b.WriteByte('|')
	for i, p := range req.Platforms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(platforms.FormatAll(p))
	}
	return b.String()
}

// Check implements admission.Checker.
func (c *ScanChecker) Check(ctx context.Context, req registry.Request) registry.Verdict {
	ref, err := reference.Parse(req.Image)
	if err != nil {
		// The engine words invalid references; no request is made for them.
		return c.engine.Check(ctx, req)
	}
	key := dedupKey(ref, req)
	c.mu.Lock()
	p, ok := c.seen[key]
	if ok && c.stale(ctx, p) {
		ok = false
	}
	if !ok {
		p = &pending{done: make(chan struct{})}
		c.seen[key] = p
	}
	c.mu.Unlock()
	if ok {
		select {
		case <-p.done:
			v := p.verdict
			v.Image = req.Image
			return v
		case <-ctx.Done():
			return registry.TimeoutVerdict(req.Image, 0)
		}
	}
	p.verdict = c.ask(ctx, ref.Domain, req)
	p.at = c.budget.clock.Now()
	if p.verdict.Class == registry.ClassTimeout {
		// A timeout is this caller's deadline, not the image's answer: the next asks again.
		c.mu.Lock()
		if c.seen[key] == p {
			delete(c.seen, key)
		}
		c.mu.Unlock()
	}
	close(p.done)
	return p.verdict
}

func (c *ScanChecker) ask(ctx context.Context, host string, req registry.Request) registry.Verdict {
	if err := c.budget.wait(ctx, host); err != nil {
		return registry.TimeoutVerdict(req.Image, 0)
	}
	v := c.engine.Check(ctx, req)
	c.metrics.request(v)
	if v.Class == registry.ClassRateLimited {
		c.budget.rateLimited(host, v.RetryAfter)
	} else if v.Outcome == registry.Pullable || v.Outcome == registry.NotPullable {
		c.budget.answered(host)
	}
	return v
}
