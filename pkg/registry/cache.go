package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"

	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// maxCheckDuration bounds a registry check whose caller set no deadline. The API server gives
// a webhook at most 30 s, so nothing legitimate waits longer.
const maxCheckDuration = 30 * time.Second

// cacheEntry is a cached verdict. A Pullable verdict may outlive its freshness (StaleOnError):
// it is then served only when a fresh check is Unverifiable.
type cacheEntry struct {
	verdict    Verdict
	checked    time.Time
	freshUntil time.Time
}

// cacheKey identifies everything a verdict depends on: the reference the runtime pulls, the
// candidate credentials in order (as fingerprints, never the secrets), the platform set, and the
// keyring's explanation and ignored-secret lines (they are part of the message).
func (p *probe) cacheKey() string {
	// Built on every check, hit or miss: the hashed material in a stack buffer, one allocation
	// (the key) in the common case.
	var stack [256]byte
	m := stack[:0]
	for _, cr := range p.creds {
		m = append(m, cr.Fingerprint()...)
		m = append(m, 0)
	}
	m = append(m, 1)
	if p.trustedCaller {
		m = append(m, 2) // the verdict may carry a tag hint read with the credentials
	}
	// What the explanation is made of, not the explanation: it is computed only on a miss
	// that needs it.
	m = append(m, p.keyring.ExplainID()...)
	m = append(m, 0)
	for _, s := range p.ignored {
		m = append(m, s...)
		m = append(m, 0)
	}
	sum := sha256.Sum256(m)
	var digest [2 * sha256.Size]byte
	hex.Encode(digest[:], sum[:])
	var b strings.Builder
	b.Grow(len(p.ref.Pull) + 2 + len(digest) + 24*len(p.platforms))
	b.WriteString(p.ref.Pull)
	b.WriteByte('|')
	b.Write(digest[:])
	b.WriteByte('|')
	for i, pl := range p.platforms {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(platforms.FormatAll(pl))
	}
	return b.String()
}

func (c *Checker) cached(ctx context.Context, p probe) Verdict {
	key := p.cacheKey()
	if v, ok := c.hit(key); ok {
		return v
	}
	c.metrics.cache.WithLabelValues(cacheMiss).Inc()
	// Only a miss needs go-containerregistry's form of the reference (parsing it costs more
	// than the whole cache hit) and the registry patterns.
	if v, ok := c.address(&p); !ok {
		return v
	}

	// Identical concurrent checks share one flight. The flight must not die with the context of
	// whichever caller happened to start it (an admission request the API server gave up on
	// would otherwise fail every follower), so it runs on a context detached from the leader's
	// cancellation but bounded by the leader's deadline. A follower that outlives that deadline
	// and got a timeout starts one new flight under its own deadline.
	for attempt := 0; ; attempt++ {
		ch := c.flights.DoChan(key, func() (any, error) {
			// A flight that finished between our cache lookup and DoChan has stored its
			// verdict already: serve it rather than asking the registry again.
			if v, ok := c.fresh(key); ok {
				return flightResult{verdict: v}, nil
			}
			fctx, cancel := detach(ctx)
			defer cancel()
			v := c.fly(fctx, key, &p)
			return flightResult{verdict: v, expired: fctx.Err() != nil}, nil
		})
		select {
		case res := <-ch:
			fr := res.Val.(flightResult)
			if fr.expired && fr.verdict.Class == ClassTimeout && res.Shared && ctx.Err() == nil && attempt == 0 {
				continue
			}
			return cloneVerdict(fr.verdict)
		case <-ctx.Done():
			return TimeoutVerdict(p.ref.Original, 0)
		}
	}
}

// hit is the fresh cached verdict for key, counted as a hit.
func (c *Checker) hit(key string) (Verdict, bool) {
	v, ok := c.fresh(key)
	if !ok {
		return Verdict{}, false
	}
	result := cacheHit
	if v.Outcome == NotPullable {
		result = cacheNegativeHit
	}
	c.metrics.cache.WithLabelValues(result).Inc()
	return v, true
}

// fresh returns the cached verdict for key if it has not expired.
func (c *Checker) fresh(key string) (Verdict, bool) {
	e, ok := c.verdicts.Get(key)
	if !ok {
		return Verdict{}, false
	}
	if c.clock.Now().After(e.freshUntil) {
		return Verdict{}, false
	}
	out := cloneVerdict(e.verdict)
	out.Cached = true
	return out, true
}

type flightResult struct {
	verdict Verdict
	expired bool
}

// detach returns a context with ctx's values and deadline but not its cancellation.
func detach(ctx context.Context) (context.Context, context.CancelFunc) {
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(maxCheckDuration)
	}
	return context.WithDeadline(context.WithoutCancel(ctx), deadline)
}

// fly runs one registry check and updates the cache.
func (c *Checker) fly(ctx context.Context, key string, p *probe) Verdict {
	start := time.Now()
	ctx, tr := withTrace(ctx)
	p.trace = tr
	p.redact = newRedactor(p.creds)
	v := c.opts.Limits.bound(p.redact.verdict(c.run(ctx, p)))
	c.metrics.duration.WithLabelValues(string(v.Class)).Observe(time.Since(start).Seconds())

	now := c.clock.Now()
	if v.Outcome == Unverifiable && c.opts.StaleOnError {
		if e, ok := c.verdicts.Get(key); ok {
			if e.verdict.Outcome == Pullable {
				c.metrics.cache.WithLabelValues(cacheStale).Inc()
				stale := cloneVerdict(e.verdict)
				stale.Cached = true
				stale.Notes = append(stale.Notes, staleNote(v, now.Sub(e.checked)))
				return stale
			}
		}
	}
	ttl := c.ttl(v, p.ref)
	if ttl <= 0 {
		return v
	}
	keep := ttl
	if v.Outcome == Pullable && c.opts.StaleOnError {
		keep += c.opts.StaleTTL
	}
	e := &cacheEntry{verdict: cloneVerdict(v), checked: now, freshUntil: now.Add(ttl)}
	c.verdicts.Add(key, e, verdictWeight(key, e), keep)
	return v
}

func (c *Checker) ttl(v Verdict, ref *reference.Reference) time.Duration {
	switch v.Outcome {
	case Pullable:
		if ref.Digest != "" {
			return c.opts.DigestTTL
		}
		return c.opts.PositiveTTL
	case NotPullable:
		return c.opts.NegativeTTL
	}
	return c.opts.UnverifiableTTL
}

func cloneVerdict(v Verdict) Verdict {
	v.Notes = slices.Clone(v.Notes)
	v.Platforms = slices.Clone(v.Platforms)
	v.SimilarTags = slices.Clone(v.SimilarTags)
	return v
}
