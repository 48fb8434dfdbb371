package registry

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// Options configures a Checker. Every limit is explicit; DefaultOptions holds the safe defaults.
type Options struct {
	// Egress configures outbound connections: network guard, timeouts, TLS, proxy, response caps.
	Egress egress.Options

	// MaxRetries is how many times one request may be retried after a transient failure (5xx,
	// reset), and only when the retry fits the caller's remaining deadline. 429 is never retried.
	MaxRetries int
	// RetryBackoff is the pause before a retry.
	RetryBackoff time.Duration

	// CacheSize bounds the verdict cache (entries, LRU).
	CacheSize int
	// IndexCacheSize bounds the per-digest cache of image platforms: an index's children, a
	// single-platform image's config (entries, LRU).
	IndexCacheSize int
	// PositiveTTL is how long a Pullable verdict for a tag is reused.
	PositiveTTL time.Duration
	// DigestTTL is how long a Pullable verdict for a digest-pinned reference is reused.
	DigestTTL time.Duration
	// NegativeTTL is how long a NotPullable verdict is reused.
	NegativeTTL time.Duration
	// UnverifiableTTL is how long an Unverifiable verdict is reused (0: never cached).
	UnverifiableTTL time.Duration
	// StaleOnError serves an expired Pullable verdict (marked in its Notes) when a fresh check
	// is Unverifiable, for up to StaleTTL after it expired.
	StaleOnError bool
	StaleTTL     time.Duration

	// MaxConcurrentRequests caps in-flight registry round trips across all admissions.
	MaxConcurrentRequests int

	// NodeCredentialRegistries are kubelet matchImages-style patterns (same rules as secret keys)
	// for registries the nodes hold credentials for (static config.json, credential providers).
	// A 401/403/404 there is Unverifiable, not NotPullable: the webhook does not hold those.
	// The default is CloudProviderRegistries.
	NodeCredentialRegistries []string

	// SinglePlatformCheck reads the config of a single-platform image (not an index), once per
	// digest, to warn when it is built for a platform the candidate nodes do not run: the pull
	// succeeds and the container fails with exec format error. It costs a manifest GET and a
	// blob GET per new digest; registries that meter pulls count the manifest GET as one, so
	// SinglePlatformCheckSkip (same patterns as NodeCredentialRegistries) leaves them out. The
	// default skips Docker Hub.
	SinglePlatformCheck     bool
	SinglePlatformCheckSkip []string

	// Mirrors are the nodes' registry mirrors, as containerd's hosts.toml declares them, by
	// registry as images name it ("docker.io", "reg.example.com:5000"): the hosts the runtime
	// tries, in order, before the registry itself. A check goes the same way: the first host
	// that serves the manifest decides; the image is NotPullable only when every host, the
	// registry included, says so, and a mirror's other failures (refused credentials, outage)
	// leave it Unverifiable. Requests to a mirror carry ?ns=<registry>, as containerd's do.
	Mirrors map[string][]Mirror

	// UserAgent is sent on every registry request.
	UserAgent string

	// Registerer receives the engine's metrics (nil: not registered).
	Registerer prometheus.Registerer
}

// Mirror is one [host."..."] entry of a containerd hosts.toml.
type Mirror struct {
	// Host is the mirror's host[:port]. Plain HTTP follows Egress.InsecureRegistries, and a
	// private address needs Egress.AllowPrivate, as for any registry.
	Host string
	// PullOnly is a mirror without the "resolve" capability: containerd asks it for digests
	// only, never to resolve a tag.
	PullOnly bool
}

// CloudProviderRegistries are the matchImages of the kubelet credential providers that managed
// clusters install on their nodes (ecr-credential-provider, gcp-credential-provider,
// acr-credential-provider). Pods pull from these registries with the nodes' cloud identity and
// no pull secret, so a refusal the webhook sees there says nothing about the node: treating it
// as final would block healthy deploys on EKS, GKE and AKS.
var CloudProviderRegistries = []string{
	"*.dkr.ecr.*.amazonaws.com", "*.dkr.ecr.*.amazonaws.com.cn", "*.dkr.ecr-fips.*.amazonaws.com",
	"*.dkr.ecr.*.c2s.ic.gov", "*.dkr.ecr.*.sc2s.sgov.gov",
	"gcr.io", "*.gcr.io", "container.cloud.google.com", "*.pkg.dev",
	"*.azurecr.io", "*.azurecr.cn", "*.azurecr.de", "*.azurecr.us",
}

// DefaultOptions returns the defaults documented on each field of Options.
func DefaultOptions() Options {
	return Options{
		Egress:                   egress.DefaultOptions(),
		MaxRetries:               1,
		RetryBackoff:             100 * time.Millisecond,
		CacheSize:                100_000,
		IndexCacheSize:           10_000,
		PositiveTTL:              5 * time.Minute,
		DigestTTL:                24 * time.Hour,
		NegativeTTL:              30 * time.Second,
		UnverifiableTTL:          0,
		StaleOnError:             true,
		StaleTTL:                 time.Hour,
		MaxConcurrentRequests:    64,
		NodeCredentialRegistries: slices.Clone(CloudProviderRegistries),
		SinglePlatformCheck:      true,
		SinglePlatformCheckSkip:  []string{"docker.io"},
		UserAgent:                "pullguard",
	}
}

// Validate reports the first invalid option.
func (o Options) Validate() error {
	switch {
	case o.MaxRetries < 0 || o.MaxRetries > 3:
		return fmt.Errorf("registry max retries must be 0-3, got %d", o.MaxRetries)
	case o.RetryBackoff < 0:
		return fmt.Errorf("registry retry backoff must not be negative")
	case o.CacheSize < 1 || o.IndexCacheSize < 1:
		return fmt.Errorf("registry cache sizes must be positive")
	case o.PositiveTTL < 0 || o.DigestTTL < 0 || o.NegativeTTL < 0 || o.UnverifiableTTL < 0 || o.StaleTTL < 0:
		return fmt.Errorf("registry cache TTLs must not be negative")
	case o.MaxConcurrentRequests < 1:
		return fmt.Errorf("registry max concurrent requests must be positive")
	}
	for registry, mirrors := range o.Mirrors {
		if _, err := egress.ParseRegistries([]string{registry}); err != nil {
			return fmt.Errorf("registry mirrors: registry %q: %w", registry, err)
		}
		for _, m := range mirrors {
			if _, err := egress.ParseRegistries([]string{m.Host}); err != nil || strings.Contains(m.Host, "/") {
				return fmt.Errorf("registry mirrors: mirror %q of %s must be host[:port]", m.Host, registry)
			}
		}
	}
	return o.Egress.Validate()
}
