package registry

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/lru"

	"github.com/pullguard/pullguard/pkg/registry/egress"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// maxCheckDuration bounds a registry check whose caller set no deadline. The API server gives
// a webhook at most 30 s, so nothing legitimate waits longer.
const maxCheckDuration = 30 * time.Second

// Checker answers "will the kubelet be able to pull this image?". It is safe for concurrent use;
// build one per process and share it, so that its caches, coalescing and connection pools work.
type Checker struct {
	opts    Options
	clock   cache.Clock
	metrics *metrics
	pullers *pullerPool
	// verdicts caches registry verdicts by cacheKey; entries are *cacheEntry.
	verdicts *cache.LRUExpireCache
	// indexes caches image platforms by digest (an index's children, a single image's config);
	// content under a digest never changes.
	indexes *lru.Cache
	flights singleflight.Group
	// The registry patterns of opts, parsed once: matching is on every check's path.
	nodeCredentialRegistries, singlePlatformCheckSkip keyring.Patterns
	insecureRegistries                                egress.Registries
}

// New validates opts, builds the guarded egress transport once and registers the metrics on
// opts.Registerer.
func New(opts Options) (*Checker, error) {
	return newChecker(opts, clockFunc(time.Now))
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

func newChecker(opts Options, clock cache.Clock) (*Checker, error) {
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	m, err := newMetrics(opts.Registerer)
	if err != nil {
		return nil, err
	}
	for _, r := range egress.Reasons {
		m.blocked.WithLabelValues(r)
	}
	insecure, err := egress.ParseRegistries(opts.Egress.InsecureRegistries)
	if err != nil {
		return nil, fmt.Errorf("insecure registries: %w", err)
	}
	rt, err := egress.New(opts.Egress, m)
	if err != nil {
		return nil, fmt.Errorf("building the registry transport: %w", err)
	}
	upstream := &upstreamTransport{inner: rt, sem: semaphore.NewWeighted(int64(opts.MaxConcurrentRequests)), metrics: m}
	retry := &retryTransport{inner: upstream, retries: opts.MaxRetries, backoff: opts.RetryBackoff}
	return &Checker{
		opts:     opts,
		clock:    clock,
		metrics:  m,
		pullers:  newPullerPool(&namespaceTransport{inner: retry}, opts.UserAgent),
		verdicts: cache.NewLRUExpireCacheWithClock(opts.CacheSize, clock),
		indexes:  lru.New(opts.IndexCacheSize),

		nodeCredentialRegistries: keyring.ParsePatterns(opts.NodeCredentialRegistries),
		singlePlatformCheckSkip:  keyring.ParsePatterns(opts.SinglePlatformCheckSkip),
		insecureRegistries:       insecure,
	}, nil
}

// Check returns the verdict for one image. It never returns an error: every failure is a
// verdict (NotPullable when the kubelet will certainly fail, Unverifiable when the engine cannot
// know). ctx bounds all registry work; when it ends first the verdict is Unverifiable/Timeout.
func (c *Checker) Check(ctx context.Context, req Request) Verdict {
	ref, err := reference.Parse(req.Image)
	if err != nil {
		return Verdict{
			Outcome: NotPullable, Class: ClassInvalidReference, Image: req.Image,
			Detail: err.Error(), Fix: "correct the image reference in the pod spec",
		}
	}
	v := c.check(ctx, ref, req)
	v.Image = req.Image
	v.Reference = ref.Pull
	if ref.TagIgnored {
		v.Notes = append([]string{fmt.Sprintf("tag %q is ignored by the runtime; it pulls %s", ref.Tag, ref.Digest)}, v.Notes...)
	}
	return v
}

func (c *Checker) check(ctx context.Context, ref *reference.Reference, req Request) Verdict {
	if ref.UppercaseHost() {
		return Verdict{
			Outcome: NotPullable, Class: ClassInvalidReference,
			Detail: fmt.Sprintf("%q is parsed as a registry host because it contains uppercase letters; Docker Hub namespaces must be lowercase (the pull would fail resolving host %q)", ref.Domain, ref.Domain),
			Fix:    fmt.Sprintf("write the namespace in lowercase: %q", strings.ToLower(ref.Domain)+strings.TrimPrefix(ref.Original, ref.Domain)),
		}
	}
	if err := req.Keyring.Err(); err != nil {
		return Verdict{
			Outcome: NotPullable, Class: ClassInvalidPullSecret,
			Detail: fmt.Sprintf("%v; the kubelet fails every pull of this pod before contacting %s", err, ref.Domain),
			Fix:    "recreate the secret, e.g. with kubectl create secret docker-registry",
		}
	}
	repo := ref.KeyringRepo
	p := probe{
		ref:       ref,
		creds:     req.Keyring.Lookup(repo),
		platforms: normalizePlatforms(req.Platforms),
		explain:   req.Keyring.Explain(repo),
		ignored:   req.Keyring.Ignored(),
	}
	return c.cached(ctx, p)
}

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
	h := sha256.New()
	for _, cr := range p.creds {
		h.Write([]byte(cr.Fingerprint()))
		h.Write([]byte{0})
	}
	h.Write([]byte{1})
	for _, s := range append(slices.Clone(p.explain), p.ignored...) {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var plats []string
	for _, pl := range p.platforms {
		plats = append(plats, platforms.FormatAll(pl))
	}
	return p.ref.Pull + "|" + hex.EncodeToString(h.Sum(nil)) + "|" + strings.Join(plats, ",")
}

func (c *Checker) cached(ctx context.Context, p probe) Verdict {
	key := p.cacheKey()
	if v, ok := c.fresh(key); ok {
		result := cacheHit
		if v.Outcome == NotPullable {
			result = cacheNegativeHit
		}
		c.metrics.cache.WithLabelValues(result).Inc()
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
			return Verdict{
				Outcome: Unverifiable, Class: ClassTimeout,
				Detail: fmt.Sprintf("checking %s did not finish before the admission deadline; the pull may still succeed", p.ref.Pull),
			}
		}
	}
}

// fresh returns the cached verdict for key if it has not expired.
func (c *Checker) fresh(key string) (Verdict, bool) {
	v, ok := c.verdicts.Get(key)
	if !ok {
		return Verdict{}, false
	}
	e := v.(*cacheEntry)
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
	v := c.run(ctx, p)
	c.metrics.duration.WithLabelValues(string(v.Class)).Observe(time.Since(start).Seconds())

	now := c.clock.Now()
	if v.Outcome == Unverifiable && c.opts.StaleOnError {
		if old, ok := c.verdicts.Get(key); ok {
			e := old.(*cacheEntry)
			if e.verdict.Outcome == Pullable {
				c.metrics.cache.WithLabelValues(cacheStale).Inc()
				stale := cloneVerdict(e.verdict)
				stale.Cached = true
				stale.Notes = append(stale.Notes, fmt.Sprintf("the registry could not be checked now (%s); this verdict is from a check %s ago", v.Detail, now.Sub(e.checked).Round(time.Second)))
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
	c.verdicts.Add(key, &cacheEntry{verdict: cloneVerdict(v), checked: now, freshUntil: now.Add(ttl)}, keep)
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
	return v
}

// address prepares a cache miss's probe: p.hosts, the hosts the runtime will ask, in its
// order, with the reference in go-containerregistry's form for each, and what the registry
// patterns say of the repository; or it returns why the webhook cannot ask a registry about an
// image the kubelet accepts.
func (c *Checker) address(p *probe) (Verdict, bool) {
	repo := p.ref.KeyringRepo
	p.nodeCredentials = c.nodeCredentialRegistries.MatchAny(repo)
	p.getManifest = c.opts.SinglePlatformCheck && len(p.platforms) > 0 && !c.singlePlatformCheckSkip.MatchAny(repo)
	upstream, err := p.ref.GGCR(c.nameOptions(p.ref.Domain)...)
	if err == nil && p.ref.Domain == dockerHubDomain {
		// The same repository and tag or digest, on the host the nodes ask.
		upstream, err = name.ParseReference(dockerHubHost+strings.TrimPrefix(p.ref.Pull, dockerHubDomain), c.nameOptions(p.ref.Domain)...)
	}
	if err != nil {
		var unsupported *reference.UnsupportedDigestError
		if errors.As(err, &unsupported) {
			return Verdict{
				Outcome: Unverifiable, Class: ClassUnsupportedDigest,
				Detail: fmt.Sprintf("%s digests cannot be verified by the webhook (%s); the kubelet and containerd accept them", unsupported.Algorithm, p.ref.Pull),
			}, false
		}
		// The kubelet accepts the reference, so this is the webhook's limit, not the pod's.
		return Verdict{
			Outcome: Unverifiable, Class: ClassInvalidReference,
			Detail: fmt.Sprintf("%s cannot be verified: the webhook's registry client cannot address it (%v)", p.ref.Pull, err),
		}, false
	}
	p.hosts = p.hosts[:0]
	// containerd keeps the repository path as it is ("library/nginx") on every host.
	if rest, ok := strings.CutPrefix(p.ref.Pull, p.ref.Domain+"/"); ok {
		for _, m := range c.opts.Mirrors[p.ref.Domain] {
			if m.PullOnly && p.ref.Digest == "" {
				// Tags are resolved only on hosts with the "resolve" capability.
				continue
			}
			if ref, err := name.ParseReference(m.Host+"/"+rest, c.nameOptions(m.Host)...); err == nil {
				p.hosts = append(p.hosts, probeHost{ref: ref, mirror: m.Host})
			}
		}
	}
	p.hosts = append(p.hosts, probeHost{ref: upstream})
	return Verdict{}, true
}

// dockerHubHost is the host containerd asks for docker.io images after the mirrors: without a
// server in hosts.toml, its default host for docker.io is https://registry-1.docker.io
// (containerd core/remotes/docker/config/hosts.go, ConfigureHosts; ConfigureDefaultRegistries
// in core/remotes/docker/registry.go and DefaultHost in resolver.go say the same, and no ?ns=
// goes to it: it is not a mirror, see RegistryHost.isProxy). go-containerregistry would dial
// index.docker.io, the same service under a name that egress firewalls, proxy rules and DNS
// views written for the nodes need not allow. Only the host changes: credentials are still
// matched against the image's name (docker.io/...), as the kubelet does.
const (
	dockerHubDomain = "docker.io"
	dockerHubHost   = "registry-1.docker.io"
)

// nameOptions marks an insecure registry (--insecure-registries): go-containerregistry must be
// told, or it never tries plain HTTP for a registry it does not take for a local one.
func (c *Checker) nameOptions(registry string) []name.Option {
	if c.insecureRegistries.Match(registry) {
		return []name.Option{name.Insecure}
	}
	return nil
}
