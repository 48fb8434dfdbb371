package registry

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"
	kjson "sigs.k8s.io/json"

	"github.com/pullguard/pullguard/pkg/config"
	"github.com/pullguard/pullguard/pkg/registry/cloud"
	"github.com/pullguard/pullguard/pkg/registry/egress"
)

// Options configures a Checker. Every limit is explicit; DefaultOptions holds the safe defaults.
type Options struct {
	// Egress configures outbound connections: network guard, timeouts, TLS, proxy, response caps.
	Egress egress.Options
	// Limits bound what a hostile registry can make one check cost.
	Limits Limits
	// Cloud gives the webhook's own cloud identity to the cloud registries (ECR), for images
	// no pull secret of the pod matches; each source is off unless enabled.
	Cloud cloud.Options

	// MaxRetries is how many times one request may be retried after a transient failure (5xx,
	// reset), and only when the retry fits the caller's remaining deadline. 429 is never retried.
	MaxRetries int
	// RetryBackoff is the pause before a retry.
	RetryBackoff time.Duration

	// CacheSize and CacheBytes bound the verdict cache (LRU), in entries and in what its
	// entries weigh: a verdict's texts and lists come from registries, and counting entries
	// alone would let a few thousand hostile ones fill the memory limit.
	CacheSize  int
	CacheBytes int64
	// IndexCacheSize and IndexCacheBytes bound the per-digest cache of image platforms (LRU):
	// an index's children, a single-platform image's config. One hostile index keeps up to
	// Limits.MaxIndexChildren platforms of its own spelling.
	IndexCacheSize  int
	IndexCacheBytes int64
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
	// MaxSharedScopes bounds the repositories one shared token request of a Batch names: each
	// is a scope parameter of its URL, and a pod's images are user input. Repositories past it
	// handshake alone; 1 turns sharing off.
	MaxSharedScopes int

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
	Host string `json:"host"`
	// PullOnly is a mirror without the "resolve" capability: containerd asks it for digests
	// only, never to resolve a tag.
	PullOnly bool `json:"pullOnly,omitempty"`
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
		CacheBytes:               96 << 20,
		IndexCacheSize:           10_000,
		IndexCacheBytes:          16 << 20,
		PositiveTTL:              5 * time.Minute,
		DigestTTL:                24 * time.Hour,
		NegativeTTL:              30 * time.Second,
		UnverifiableTTL:          0,
		StaleOnError:             true,
		StaleTTL:                 time.Hour,
		MaxConcurrentRequests:    64,
		MaxSharedScopes:          16,
		NodeCredentialRegistries: slices.Clone(CloudProviderRegistries),
		SinglePlatformCheck:      true,
		SinglePlatformCheckSkip:  []string{"docker.io"},
		UserAgent:                "pullguard",
		Limits:                   DefaultLimits(),
	}
}

// minCacheBytes is the least a cache may weigh: a verdict at the message limits weighs up to
// about 300 KB. An entry heavier than its whole cache is not kept (the platforms of an index
// may weigh up to the manifest cap): it is asked for again next time.
const minCacheBytes = 1 << 20

// ConfigSection is the key of the registry engine's section in every pullguard config file;
// the paths of Validate's errors start with it.
const ConfigSection = "registry"

// AddFlags binds every setting of o that an operator sets to a flag of fs and to its key in the
// "registry" section of the config file (see package config): the webhook, the CLI and the
// re-verifier all take the engine's settings through it. Defaults are o's current values.
func (o *Options) AddFlags(fs *pflag.FlagSet) {
	b := config.NewBinder(fs, ConfigSection)
	e := &o.Egress
	b.StringSlice(&e.AllowPrivate, "allow-private-registries", "allowPrivateRegistries",
		"Hosts (name[:port]) and CIDRs exempt from the network guard, e.g. an in-cluster registry. Every other private, loopback or link-local address is refused.")
	b.StringSlice(&e.InsecureRegistries, "insecure-registries", "insecureRegistries",
		"Registry hosts (host[:port]) reached over plain HTTP. Every other registry is HTTPS only.")
	b.String(&e.CAFile, "registry-ca-file", "caFile", "PEM bundle trusted for registries in addition to the system roots.")
	b.String(&e.Proxy, "registry-proxy", "proxy",
		"HTTP(S) proxy URL for registry traffic. Proxy environment variables are never used.")
	b.StringSlice(&o.NodeCredentialRegistries, "node-credential-registries", "nodeCredentialRegistries",
		"Registry patterns (kubelet matchImages syntax) the nodes hold credentials for, e.g. through a kubelet credential provider; 401/403/404 there is unverifiable, not a denial. The default lists ECR, GCR, Artifact Registry and ACR; an empty value checks them like any other registry.")
	b.Var(&mirrorsValue{m: &o.Mirrors}, "registry-mirror", "mirrors",
		"A mirror the nodes' containerd tries before a registry (hosts.toml), as REGISTRY=HOST[:PORT], e.g. docker.io=mirror.example.com; repeat it for more, in the nodes' order. Checks go the same way, with ?ns=REGISTRY. Pull-only mirrors are set in the --config file.")
	b.Bool(&o.SinglePlatformCheck, "single-platform-check", "singlePlatformCheck",
		"Read the config of single-platform images (once per digest) to warn when they are built for a platform the candidate nodes do not run: they pull, then crash with exec format error.")
	b.StringSlice(&o.SinglePlatformCheckSkip, "single-platform-check-skip", "singlePlatformCheckSkip",
		"Registry patterns (kubelet matchImages syntax) left out of --single-platform-check because they count the manifest GET it needs as a pull. The default is Docker Hub; an empty value checks every registry.")
	b.Var(&timeoutsValue{&e.DialTimeout, &e.TLSHandshakeTimeout, &e.ResponseHeaderTimeout}, "registry-timeout", "timeout",
		"Timeout for each registry dial, TLS handshake and response header.")
	b.Int64(&e.MaxManifestBytes, "max-manifest-bytes", "maxManifestBytes", "Largest manifest or index accepted from a registry, in bytes.")
	b.Int(&o.MaxRetries, "registry-max-retries", "maxRetries",
		"Retries of one registry request after a transient failure, only when it fits the deadline (0-3).")
	b.Duration(&o.RetryBackoff, "registry-retry-backoff", "retryBackoff", "Pause before a registry retry.")
	b.Int(&o.MaxConcurrentRequests, "registry-max-concurrent-requests", "maxConcurrentRequests",
		"Registry round trips in flight across all admissions.")
	b.Int(&o.MaxSharedScopes, "registry-max-shared-scopes", "maxSharedScopes",
		"Repositories of one registry and credential that one admission asks a single token for (a scope each); the rest handshake alone. 1: a token per repository.")
	b.Int(&o.CacheSize, "cache-size", "cache.size", "Verdicts kept in the cache (LRU entries).")
	b.Int64(&o.CacheBytes, "cache-bytes", "cache.bytes",
		"What the verdicts kept in the cache may weigh in all, in bytes (at least 1 MiB); the least recently used go first, as past --cache-size.")
	b.Int(&o.IndexCacheSize, "cache-index-size", "cache.indexSize", "Image index platform lists kept in the cache (LRU entries).")
	b.Int64(&o.IndexCacheBytes, "cache-index-bytes", "cache.indexBytes",
		"What the image platform lists kept in the cache may weigh in all, in bytes (at least 1 MiB).")
	b.Duration(&o.PositiveTTL, "cache-positive-ttl", "cache.positiveTTL", "How long a pullable verdict for a tag is reused.")
	b.Duration(&o.DigestTTL, "cache-digest-ttl", "cache.digestTTL", "How long a pullable verdict for a digest is reused.")
	b.Duration(&o.NegativeTTL, "cache-negative-ttl", "cache.negativeTTL", "How long a not-pullable verdict is reused.")
	b.Duration(&o.UnverifiableTTL, "cache-unverifiable-ttl", "cache.unverifiableTTL", "How long an unverifiable verdict is reused (0: never).")
	b.Bool(&o.StaleOnError, "cache-stale-on-error", "cache.staleOnError",
		"Serve an expired pullable verdict when a fresh check is unverifiable.")
	b.Duration(&o.StaleTTL, "cache-stale-ttl", "cache.staleTTL", "How long after expiry a pullable verdict may be served stale.")
	o.Limits.addFlags(b)
	o.Cloud.AddFlags(b)
}

// Validate reports every invalid option, at its path in the config file ("registry.maxRetries").
func (o Options) Validate() field.ErrorList {
	p := field.NewPath(ConfigSection)
	var errs field.ErrorList
	if o.MaxRetries < 0 || o.MaxRetries > 3 {
		errs = append(errs, field.Invalid(p.Child("maxRetries"), o.MaxRetries, "registry max retries must be 0-3"))
	}
	if o.RetryBackoff < 0 {
		errs = append(errs, field.Invalid(p.Child("retryBackoff"), o.RetryBackoff.String(), "registry retry backoff must not be negative"))
	}
	if o.MaxConcurrentRequests < 1 {
		errs = append(errs, field.Invalid(p.Child("maxConcurrentRequests"), o.MaxConcurrentRequests, "registry max concurrent requests must be positive"))
	}
	if o.MaxSharedScopes < 1 {
		errs = append(errs, field.Invalid(p.Child("maxSharedScopes"), o.MaxSharedScopes, "a shared token request names at least one repository"))
	}
	c := p.Child("cache")
	for _, n := range []struct {
		name string
		v    int
	}{{"size", o.CacheSize}, {"indexSize", o.IndexCacheSize}} {
		if n.v < 1 {
			errs = append(errs, field.Invalid(c.Child(n.name), n.v, "registry cache sizes must be positive"))
		}
	}
	for _, n := range []struct {
		name string
		v    int64
	}{{"bytes", o.CacheBytes}, {"indexBytes", o.IndexCacheBytes}} {
		if n.v < minCacheBytes {
			errs = append(errs, field.Invalid(c.Child(n.name), n.v, fmt.Sprintf("registry cache bytes must be at least %d (1 MiB)", minCacheBytes)))
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{{"positiveTTL", o.PositiveTTL}, {"digestTTL", o.DigestTTL}, {"negativeTTL", o.NegativeTTL}, {"unverifiableTTL", o.UnverifiableTTL}, {"staleTTL", o.StaleTTL}} {
		if d.v < 0 {
			errs = append(errs, field.Invalid(c.Child(d.name), d.v.String(), "registry cache TTLs must not be negative"))
		}
	}
	for _, l := range []struct {
		name    string
		entries []string
	}{{"nodeCredentialRegistries", o.NodeCredentialRegistries}, {"singlePlatformCheckSkip", o.SinglePlatformCheckSkip}} {
		for i, e := range l.entries {
			if e == "" {
				errs = append(errs, field.Required(p.Child(l.name).Index(i), "entry must not be empty"))
			}
		}
	}
	m := p.Child("mirrors")
	for _, registry := range slices.Sorted(maps.Keys(o.Mirrors)) {
		if _, err := egress.ParseRegistries([]string{registry}); err != nil {
			errs = append(errs, field.Invalid(m.Key(registry), registry, err.Error()))
		}
		for i, mirror := range o.Mirrors[registry] {
			if _, err := egress.ParseRegistries([]string{mirror.Host}); err != nil || strings.Contains(mirror.Host, "/") {
				errs = append(errs, field.Invalid(m.Key(registry).Index(i).Child("host"), mirror.Host, "a mirror must be host[:port]"))
			}
		}
	}
	errs = append(errs, o.Limits.validate(p.Child("limits"))...)
	errs = append(errs, o.Cloud.Validate(p.Child("cloud"))...)
	return append(errs, o.Egress.ValidateFields(p)...)
}

// timeoutsValue sets several durations from one flag: the dial, TLS handshake and response
// header timeouts guard the same thing (a registry that does not answer) and are tuned together.
type timeoutsValue []*time.Duration

func (v *timeoutsValue) String() string { return (*v)[0].String() }

func (v *timeoutsValue) Set(s string) error {
	d, err := time.ParseDuration(s)
	if err != nil {
		return err
	}
	for _, p := range *v {
		*p = d
	}
	return nil
}

func (v *timeoutsValue) Type() string { return "duration" }

// mirrorsValue is --registry-mirror REGISTRY=HOST, repeatable: the first one given replaces the
// mirrors of the config file, the next ones add to them, in order per registry. In the file,
// mirrors is a map of registries to lists of {host, pullOnly}.
type mirrorsValue struct {
	m   *map[string][]Mirror
	set bool
}

func (v *mirrorsValue) Set(s string) error {
	reg, host, ok := strings.Cut(s, "=")
	if !ok || reg == "" || host == "" {
		return fmt.Errorf("%q is not REGISTRY=HOST", s)
	}
	if !v.set {
		*v.m, v.set = map[string][]Mirror{}, true
	}
	(*v.m)[reg] = append((*v.m)[reg], Mirror{Host: host})
	return nil
}

// UnmarshalJSON replaces the mirrors with the file's, strictly: unknown or mis-cased keys of a
// mirror are errors, as everywhere in the file.
func (v *mirrorsValue) UnmarshalJSON(data []byte) error {
	var m map[string][]Mirror
	strictErrs, err := kjson.UnmarshalStrict(data, &m)
	if err != nil {
		return err
	}
	if len(strictErrs) > 0 {
		return errors.Join(strictErrs...)
	}
	*v.m = m
	return nil
}

func (v *mirrorsValue) String() string {
	var out []string
	for _, reg := range slices.Sorted(maps.Keys(*v.m)) {
		for _, m := range (*v.m)[reg] {
			out = append(out, reg+"="+m.Host)
		}
	}
	return strings.Join(out, ",")
}

func (v *mirrorsValue) Type() string { return "registry=host" }

// MirrorsString is the mirrors as --registry-mirror spells them, for logs.
func MirrorsString(m map[string][]Mirror) string { return (&mirrorsValue{m: &m}).String() }
