package registry

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"golang.org/x/sync/semaphore"
	"golang.org/x/sync/singleflight"
	"k8s.io/apimachinery/pkg/util/cache"
	"k8s.io/utils/lru"

	"github.com/pullguard/pullguard/internal/weightedlru"
	"github.com/pullguard/pullguard/pkg/registry/cloud"
	"github.com/pullguard/pullguard/pkg/registry/egress"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// Checker answers "will the kubelet be able to pull this image?". It is safe for concurrent use;
// build one per process and share it, so that its caches, coalescing and connection pools work.
type Checker struct {
	opts    Options
	clock   cache.Clock
	metrics *metrics
	pullers *pullerPool
	// verdicts caches registry verdicts by cacheKey.
	verdicts *weightedlru.Cache[string, *cacheEntry]
	// indexes caches image platforms by digest (an index's children, indexChildren; a single
	// image's config, *v1.Platform); content under a digest never changes.
	indexes *weightedlru.Cache[string, any]
	// repos caches repositories parsed for credential matching (keyring.ParseRepo), which every
	// check, cached or not, matches against the pod's secrets.
	repos   *lru.Cache
	flights singleflight.Group
	// The registry patterns of opts, parsed once: matching is on every check's path.
	nodeCredentialRegistries, singlePlatformCheckSkip keyring.Patterns
	insecureRegistries                                egress.Registries
	// cloud holds the webhook's own cloud identities (Options.Cloud).
	cloud *cloud.Sources
}

// New validates opts, builds the guarded egress transport once and registers the metrics on
// opts.Registerer.
func New(opts Options) (*Checker, error) {
	return newChecker(opts, clockFunc(time.Now))
}

type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }

func newChecker(opts Options, clock cache.Clock) (*Checker, error) {
	if err := opts.Validate().ToAggregate(); err != nil {
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
	upstream := &upstreamTransport{inner: rt, sem: semaphore.NewWeighted(int64(opts.MaxConcurrentRequests)), metrics: m,
		hosts: newKeySlots(opts.Limits.MaxRequestsPerHost), domains: newKeySlots(opts.Limits.MaxRequestsPerDomain),
		exchangeTimeout: opts.Limits.ExchangeTimeout}
	retry := &retryTransport{inner: upstream, retries: opts.MaxRetries, backoff: opts.RetryBackoff}
	return &Checker{
		opts:     opts,
		clock:    clock,
		metrics:  m,
		pullers:  newPullerPool(&namespaceTransport{inner: retry}, opts.UserAgent),
		verdicts: weightedlru.New[string, *cacheEntry](opts.CacheSize, opts.CacheBytes, clock),
		indexes:  weightedlru.New[string, any](opts.IndexCacheSize, opts.IndexCacheBytes, clock),
		repos:    lru.New(repoCacheSize),

		nodeCredentialRegistries: keyring.ParsePatterns(opts.NodeCredentialRegistries),
		singlePlatformCheckSkip:  keyring.ParsePatterns(opts.SinglePlatformCheckSkip),
		insecureRegistries:       insecure,
		cloud:                    opts.Cloud.NewSources(rt),
	}, nil
}

// Check returns the verdict for one image. It never returns an error: every failure is a
// verdict (NotPullable when the kubelet will certainly fail, Unverifiable when the engine cannot
// know). ctx bounds all registry work; when it ends first the verdict is Unverifiable/Timeout.
func (c *Checker) Check(ctx context.Context, req Request) Verdict {
	ref, p, v, ok := c.prepare(req)
	if ok {
		v = c.cached(ctx, p)
	}
	return finish(req, ref, v)
}

// Cached is Check answered from the verdict cache alone, without blocking: ok is false when the
// cache holds no fresh verdict (nor an answer that needs no registry), and nothing is counted
// then: the Check that follows counts the miss. The admission handler asks it first, so that a
// warm admission starts no check goroutine.
func (c *Checker) Cached(req Request) (Verdict, bool) {
	ref, p, v, ok := c.prepare(req)
	if !ok {
		return finish(req, ref, v), true
	}
	if v, ok = c.hit(p.cacheKey()); !ok {
		return Verdict{}, false
	}
	return finish(req, ref, v), true
}

// prepare parses the request into the probe the cache is keyed by; ok is false with the verdict
// when no registry needs to be asked (invalid reference, upper-case host, invalid pull secret).
func (c *Checker) prepare(req Request) (*reference.Reference, probe, Verdict, bool) {
	ref, err := reference.Parse(req.Image)
	if err != nil {
		return nil, probe{}, invalidReference(err), false
	}
	if ref.UppercaseHost() {
		return ref, probe{}, uppercaseHost(ref), false
	}
	if err := req.Keyring.Err(); err != nil {
		return ref, probe{}, invalidPullSecretFor(ref, err, req.TrustedCaller), false
	}
	repo := c.keyringRepo(ref.Repository)
	p := probe{
		ref:       ref,
		repo:      repo,
		creds:     req.Keyring.Lookup(*repo),
		platforms: normalizePlatforms(req.Platforms),
		keyring:   req.Keyring,
		maxKeys:   c.opts.Limits.MaxListedKeys,
		ignored:   req.Keyring.Ignored(),

		trustedCaller: req.TrustedCaller,
	}
	if req.Batch != nil && req.Batch.keyring == req.Keyring {
		p.batch = req.Batch
	}
	return ref, p, Verdict{}, true
}

// finish names the image in the verdict (ref nil: the image did not parse).
func finish(req Request, ref *reference.Reference, v Verdict) Verdict {
	v.Image = req.Image
	if ref == nil {
		return v
	}
	v.Reference = ref.Pull
	if ref.TagIgnored {
		v.Notes = append([]string{tagIgnoredNote(ref)}, v.Notes...)
	}
	return v
}

// repoCacheSize bounds the parsed-repository cache: the same few repositories come with
// admission after admission, but repositories are user input.
const repoCacheSize = 4096

// keyringRepo is keyring.ParseRepo, parsed once per repository: URL parsing would otherwise be
// a good part of a cached check.
func (c *Checker) keyringRepo(repository string) *keyring.Repo {
	if r, ok := c.repos.Get(repository); ok {
		return r.(*keyring.Repo)
	}
	r := keyring.ParseRepo(repository)
	c.repos.Add(repository, &r)
	return &r
}

// address prepares a cache miss's probe: p.hosts, the hosts the runtime will ask, in its
// order, with the reference in go-containerregistry's form for each, and what the registry
// patterns say of the repository; or it returns why the webhook cannot ask a registry about an
// image the kubelet accepts.
func (c *Checker) address(p *probe) (Verdict, bool) {
	repo := *p.repo
	p.nodeCredentials = c.nodeCredentialRegistries.MatchAny(repo)
	if len(p.creds) == 0 {
		// A matching pull secret wins, as in the kubelet's order; the nodes' own identity (a
		// credential provider) serves only images no secret matches, and so does the webhook's.
		p.cloud, _ = c.cloud.Match(p.ref.Domain)
	}
	p.getManifest = c.opts.SinglePlatformCheck && len(p.platforms) > 0 && !c.singlePlatformCheckSkip.MatchAny(repo)
	upstream, err := c.upstream(p.ref)
	if err != nil {
		var unsupported *reference.UnsupportedDigestError
		if errors.As(err, &unsupported) {
			return unsupportedDigest(p.ref, unsupported.Algorithm), false
		}
		// The kubelet accepts the reference, so this is the webhook's limit, not the pod's.
		return unaddressable(p.ref, err), false
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

// upstream is the reference in go-containerregistry's form on the registry itself (not a
// mirror).
func (c *Checker) upstream(ref *reference.Reference) (name.Reference, error) {
	upstream, err := ref.GGCR(c.nameOptions(ref.Domain)...)
	if err == nil && ref.Domain == dockerHubDomain {
		// The same repository and tag or digest, on the host the nodes ask.
		upstream, err = name.ParseReference(dockerHubHost+strings.TrimPrefix(ref.Pull, dockerHubDomain), c.nameOptions(ref.Domain)...)
	}
	return upstream, err
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
