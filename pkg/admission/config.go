package admission

import (
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/config"
)

// Mode is what the webhook does with its findings in a namespace. The names follow Pod Security
// Admission and ValidatingAdmissionPolicy so that operators meet a familiar vocabulary.
type Mode string

const (
	// ModeEnforce denies objects with an image that will not pull.
	ModeEnforce Mode = "enforce"
	// ModeWarn allows and returns one warning per finding.
	ModeWarn Mode = "warn"
	// ModeAudit allows silently; findings only reach the audit log and the metrics.
	ModeAudit Mode = "audit"
	// ModeOff checks nothing.
	ModeOff Mode = "off"
)

// Modes lists every valid Mode.
var Modes = []Mode{ModeEnforce, ModeWarn, ModeAudit, ModeOff}

// Valid reports whether m is one of Modes.
func (m Mode) Valid() bool {
	switch m {
	case ModeEnforce, ModeWarn, ModeAudit, ModeOff:
		return true
	}
	return false
}

const (
	// ModeLabel on a Namespace selects its Mode; absent, Config.DefaultMode applies.
	ModeLabel = "pullguard.io/mode"
	// Path is where the webhook server serves AdmissionReviews.
	Path = "/validate"
)

// maxRequestBytesLimit is controller-runtime's own hard cap on an AdmissionReview body
// (pkg/webhook/admission/http.go): a larger Config.MaxRequestBytes could never take effect.
const maxRequestBytesLimit = 7 << 20

// minCacheBytes is the least a cache may weigh: below it, one ordinary pull secret of a few
// hundred keys could not be kept.
const minCacheBytes = 1 << 20

// maxConcurrentImagesLimit keeps one admission from fanning out without bound; the registry
// engine has its own global cap on round trips.
const maxConcurrentImagesLimit = 256

// Config holds every knob of the admission handler. DefaultConfig documents the defaults.
type Config struct {
	// DefaultMode applies to namespaces without a valid ModeLabel.
	DefaultMode Mode
	// DenyUnverifiable makes enforce mode also deny Unverifiable verdicts (rate limit, outage,
	// timeout...). Off by default: an outage of a registry must not block a cluster.
	DenyUnverifiable bool
	// ExemptNamespaces are never checked.
	ExemptNamespaces []string
	// ExemptImages are path.Match patterns, tried against the image as written and against its
	// normalised form (docker.io/library/nginx:1.25); a matching image is never sent to the
	// registry. As in path.Match, '*' does not cross a '/': "registry.k8s.io/*/*" is needed
	// for registry.k8s.io/sig-storage/csi-provisioner:v5.
	ExemptImages []string
	// ExemptUsers and ExemptGroups skip every check for requests made by them.
	ExemptUsers  []string
	ExemptGroups []string
	// AutoscaledPlatforms are os/arch[/variant] platforms that a cluster autoscaler or Karpenter
	// may add nodes with although no current node runs them. They join the candidate platforms
	// the Nodes give, so an image that lacks the current nodes' platform but has one of these is
	// a warning, not a refusal. They never make a refusal: with no candidate Node, the platforms
	// stay unknown, and platforms the pod pins itself do not look at Nodes at all.
	AutoscaledPlatforms []string
	// Limits bound what one object may cost.
	Limits Limits
	// MaxBudget bounds the registry work of one admission.
	MaxBudget time.Duration
	// TimeoutMargin is kept back from the API server's ?timeout= so that the webhook answers
	// before the API server gives up on it: budget = min(MaxBudget, timeout-TimeoutMargin).
	TimeoutMargin time.Duration
	// SecretCacheTTL is how long Secret and ServiceAccount GETs are reused (0 disables the cache).
	SecretCacheTTL time.Duration
	// SecretCacheSize bounds the Secret/ServiceAccount cache and the keyring cache in entries;
	// SecretCacheBytes and KeyringCacheBytes bound them in what they weigh (at least 1 MiB).
	SecretCacheSize   int
	SecretCacheBytes  int64
	KeyringCacheBytes int64
	// MaxRequestBytes caps an AdmissionReview body (at most 7 MiB, controller-runtime's own cap).
	MaxRequestBytes int64
	// MaxConcurrentImages is how many images of one admission are checked in parallel.
	MaxConcurrentImages int
	// TrustUnauthenticatedCallers tells every caller, not only one with a verified client
	// certificate, which pull secrets and ServiceAccount exist, what they hold and which failed
	// (caller.go). For clusters whose API server cannot present a client certificate and whose
	// network admits only the API server to the webhook; the CLI sets it, its user holds the
	// credentials.
	TrustUnauthenticatedCallers bool
}

// DefaultConfig returns the defaults: warn mode, Unverifiable allowed, 8 s budget with a 1 s
// margin, 10 s secret cache of 4,096 entries, 64 MiB of objects and 32 MiB of keyrings, 7 MiB bodies, 16 images in parallel, no exemptions.
func DefaultConfig() Config {
	return Config{
		DefaultMode:         ModeWarn,
		MaxBudget:           8 * time.Second,
		TimeoutMargin:       time.Second,
		SecretCacheTTL:      10 * time.Second,
		SecretCacheSize:     4096,
		SecretCacheBytes:    64 << 20,
		KeyringCacheBytes:   32 << 20,
		MaxRequestBytes:     maxRequestBytesLimit,
		MaxConcurrentImages: 16,
		Limits:              DefaultLimits(),
	}
}

// ConfigSection is the key of the admission policy's section in every pullguard config file;
// the paths of Validate's errors start with it.
const ConfigSection = "admission"

// AddFlags binds every field of c to a flag of fs and to its key in the "admission" section of
// the config file (see package config). Defaults are c's current values.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	b := config.NewBinder(fs, ConfigSection)
	b.String((*string)(&c.DefaultMode), "default-mode", "defaultMode",
		`Mode for namespaces without the pullguard.io/mode label: enforce, warn, audit or off.`)
	b.Bool(&c.DenyUnverifiable, "deny-unverifiable", "denyUnverifiable",
		"In enforce mode, also deny images whose pullability cannot be verified (registry outage, rate limit, timeout). Default: allow them with a warning.")
	b.StringSlice(&c.ExemptNamespaces, "exempt-namespaces", "exemptNamespaces", "Namespaces never checked (comma-separated).")
	b.StringSlice(&c.ExemptImages, "exempt-images", "exemptImages", "Image patterns never checked, in path.Match syntax, tried against the image as written and normalised (comma-separated).")
	b.StringSlice(&c.AutoscaledPlatforms, "autoscaled-platforms", "autoscaledPlatforms",
		"Platforms (os/arch[/variant], comma-separated) a cluster autoscaler or Karpenter may add nodes with although no node runs them now. They join the platforms of the current nodes, so an image that has one of them but not the current nodes' is a warning instead of a refusal.")
	b.StringSlice(&c.ExemptUsers, "exempt-users", "exemptUsers", "Requesting users whose requests are never checked (comma-separated).")
	b.StringSlice(&c.ExemptGroups, "exempt-groups", "exemptGroups", "Requesting groups whose requests are never checked (comma-separated).")
	b.Duration(&c.MaxBudget, "max-budget", "maxBudget",
		"Longest time one admission may spend on registries, whatever timeout the API server sends. Must be below 30s.")
	b.Duration(&c.TimeoutMargin, "timeout-margin", "timeoutMargin",
		"Time kept back from the API server's ?timeout= to answer before it gives up on the webhook.")
	b.Duration(&c.SecretCacheTTL, "secret-cache-ttl", "secretCacheTTL",
		"How long pull secrets and service accounts read from the API server are reused (0: not cached).")
	b.Int(&c.SecretCacheSize, "secret-cache-size", "secretCacheSize",
		"Pull secrets and service accounts kept in the cache, and keyrings built from them (LRU entries each).")
	b.Int64(&c.SecretCacheBytes, "secret-cache-bytes", "secretCacheBytes",
		"What the cached pull secrets and service accounts may weigh in all, in bytes (at least 1 MiB).")
	b.Int64(&c.KeyringCacheBytes, "keyring-cache-bytes", "keyringCacheBytes",
		"What the keyrings parsed from cached pull secrets may weigh in all, in bytes (at least 1 MiB); a parsed keyring weighs about 12 times its secrets.")
	b.Int64(&c.MaxRequestBytes, "max-request-bytes", "maxRequestBytes", "Largest AdmissionReview body accepted, in bytes.")
	b.Int(&c.MaxConcurrentImages, "max-concurrent-images", "maxConcurrentImages", "Images of one admission checked in parallel.")
	b.Bool(&c.TrustUnauthenticatedCallers, "trust-unauthenticated-callers", "trustUnauthenticatedCallers",
		"Tell callers without a verified client certificate (--client-ca-file) which pull secrets and ServiceAccount exist and what they hold. Only where nothing but the API server can reach the webhook.")
	c.Limits.addFlags(b)
}

// Validate reports every invalid field at once, each at its path in the config file
// ("admission.maxBudget"), so an operator fixes a config in one pass.
func (c Config) Validate() field.ErrorList {
	p := field.NewPath(ConfigSection)
	var errs field.ErrorList
	if !c.DefaultMode.Valid() {
		errs = append(errs, field.Invalid(p.Child("defaultMode"), c.DefaultMode, fmt.Sprintf("default mode %q is not one of %v", c.DefaultMode, Modes)))
	}
	if c.MaxBudget <= 0 || c.MaxBudget > 30*time.Second {
		// 30 s is the largest timeoutSeconds the API server accepts for a webhook.
		errs = append(errs, field.Invalid(p.Child("maxBudget"), c.MaxBudget.String(), "max budget must be in (0, 30s]"))
	}
	if c.TimeoutMargin < 0 {
		errs = append(errs, field.Invalid(p.Child("timeoutMargin"), c.TimeoutMargin.String(), "timeout margin must not be negative"))
	}
	if c.SecretCacheTTL < 0 {
		errs = append(errs, field.Invalid(p.Child("secretCacheTTL"), c.SecretCacheTTL.String(), "secret cache TTL must not be negative"))
	}
	if c.SecretCacheSize < 1 {
		errs = append(errs, field.Invalid(p.Child("secretCacheSize"), c.SecretCacheSize, "secret cache size must be positive"))
	}
	for _, n := range []struct {
		key string
		v   int64
	}{{"secretCacheBytes", c.SecretCacheBytes}, {"keyringCacheBytes", c.KeyringCacheBytes}} {
		if n.v < minCacheBytes {
			errs = append(errs, field.Invalid(p.Child(n.key), n.v, fmt.Sprintf("cache bytes must be at least %d (1 MiB)", minCacheBytes)))
		}
	}
	if c.MaxRequestBytes <= 0 || c.MaxRequestBytes > maxRequestBytesLimit {
		errs = append(errs, field.Invalid(p.Child("maxRequestBytes"), c.MaxRequestBytes, fmt.Sprintf("max request bytes must be in (0, %d]", maxRequestBytesLimit)))
	}
	if c.MaxConcurrentImages < 1 || c.MaxConcurrentImages > maxConcurrentImagesLimit {
		errs = append(errs, field.Invalid(p.Child("maxConcurrentImages"), c.MaxConcurrentImages, fmt.Sprintf("max concurrent images must be in [1, %d]", maxConcurrentImagesLimit)))
	}
	for i, pattern := range c.ExemptImages {
		if _, err := path.Match(pattern, ""); err != nil {
			errs = append(errs, field.Invalid(p.Child("exemptImages").Index(i), pattern, fmt.Sprintf("exempt image pattern %q: %v", pattern, err)))
		}
	}
	for i, platform := range c.AutoscaledPlatforms {
		if _, err := parsePlatform(platform); err != nil {
			errs = append(errs, field.Invalid(p.Child("autoscaledPlatforms").Index(i), platform, "autoscaled platform: "+err.Error()))
		}
	}
	for _, l := range []struct {
		key, name string
		values    []string
	}{
		{"exemptNamespaces", "exempt namespace", c.ExemptNamespaces},
		{"exemptUsers", "exempt user", c.ExemptUsers},
		{"exemptGroups", "exempt group", c.ExemptGroups},
	} {
		for i, v := range l.values {
			if v == "" {
				errs = append(errs, field.Required(p.Child(l.key).Index(i), l.name+" must not be empty"))
			}
		}
	}
	return append(errs, c.Limits.validate(p.Child("limits"))...)
}

// parsePlatform accepts os/arch or os/arch/variant only: containerd's parser would fill in this
// process's OS or architecture where one is missing, which says nothing about the nodes.
func parsePlatform(s string) (ocispec.Platform, error) {
	if n := strings.Count(s, "/"); n < 1 || n > 2 {
		return ocispec.Platform{}, fmt.Errorf("%q is not os/arch or os/arch/variant", s)
	}
	p, err := platforms.Parse(s)
	if err != nil {
		return ocispec.Platform{}, fmt.Errorf("%q: %w", s, err)
	}
	return platforms.Normalize(p), nil
}
