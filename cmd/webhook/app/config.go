package app

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	kjson "sigs.k8s.io/json"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

const (
	configAPIVersion = "config.pullguard.io/v1alpha1"
	configKind       = "WebhookConfiguration"
	// maxConfigBytes bounds the --config file; a real one is a few KiB.
	maxConfigBytes = 1 << 20
)

// WebhookConfiguration is the --config file, apiVersion config.pullguard.io/v1alpha1. Every field
// is optional: a field left out keeps its default, and a flag given on the command line wins
// over the field. Durations are Go duration strings ("8s", "500ms"). Unknown fields are errors.
type WebhookConfiguration struct {
	metav1.TypeMeta `json:",inline"`

	Kubeconfig              *string          `json:"kubeconfig,omitempty"`
	Port                    *int             `json:"port,omitempty"`
	BindAddress             *string          `json:"bindAddress,omitempty"`
	CertDir                 *string          `json:"certDir,omitempty"`
	TLSMinVersion           *string          `json:"tlsMinVersion,omitempty"`
	EnableHTTP2             *bool            `json:"enableHTTP2,omitempty"`
	MetricsBindAddress      *string          `json:"metricsBindAddress,omitempty"`
	MetricsSecure           *bool            `json:"metricsSecure,omitempty"`
	HealthProbeBindAddress  *string          `json:"healthProbeBindAddress,omitempty"`
	KubeAPIQPS              *float32         `json:"kubeAPIQPS,omitempty"`
	KubeAPIBurst            *int             `json:"kubeAPIBurst,omitempty"`
	GracefulShutdownTimeout *metav1.Duration `json:"gracefulShutdownTimeout,omitempty"`

	Logging   *LoggingConfiguration   `json:"logging,omitempty"`
	Admission *AdmissionConfiguration `json:"admission,omitempty"`
	Registry  *RegistryConfiguration  `json:"registry,omitempty"`
}

// LoggingConfiguration mirrors --log-level and --log-format.
type LoggingConfiguration struct {
	Level  *string `json:"level,omitempty"`
	Format *string `json:"format,omitempty"`
}

// AdmissionConfiguration mirrors the admission flags. A list given in the file, even empty,
// replaces the default list.
type AdmissionConfiguration struct {
	DefaultMode         *string          `json:"defaultMode,omitempty"`
	DenyUnverifiable    *bool            `json:"denyUnverifiable,omitempty"`
	ExemptNamespaces    []string         `json:"exemptNamespaces,omitempty"`
	ExemptImages        []string         `json:"exemptImages,omitempty"`
	AutoscaledPlatforms []string         `json:"autoscaledPlatforms,omitempty"`
	ExemptUsers         []string         `json:"exemptUsers,omitempty"`
	ExemptGroups        []string         `json:"exemptGroups,omitempty"`
	MaxBudget           *metav1.Duration `json:"maxBudget,omitempty"`
	TimeoutMargin       *metav1.Duration `json:"timeoutMargin,omitempty"`
	SecretCacheTTL      *metav1.Duration `json:"secretCacheTTL,omitempty"`
	MaxRequestBytes     *int64           `json:"maxRequestBytes,omitempty"`
	MaxConcurrentImages *int             `json:"maxConcurrentImages,omitempty"`
}

// RegistryConfiguration mirrors the registry flags.
type RegistryConfiguration struct {
	AllowPrivateRegistries   []string                         `json:"allowPrivateRegistries,omitempty"`
	InsecureRegistries       []string                         `json:"insecureRegistries,omitempty"`
	CAFile                   *string                          `json:"caFile,omitempty"`
	Proxy                    *string                          `json:"proxy,omitempty"`
	NodeCredentialRegistries []string                         `json:"nodeCredentialRegistries,omitempty"`
	Mirrors                  map[string][]MirrorConfiguration `json:"mirrors,omitempty"`
	SinglePlatformCheck      *bool                            `json:"singlePlatformCheck,omitempty"`
	SinglePlatformCheckSkip  []string                         `json:"singlePlatformCheckSkip,omitempty"`
	Timeout                  *metav1.Duration                 `json:"timeout,omitempty"`
	MaxManifestBytes         *int64                           `json:"maxManifestBytes,omitempty"`
	MaxRetries               *int                             `json:"maxRetries,omitempty"`
	RetryBackoff             *metav1.Duration                 `json:"retryBackoff,omitempty"`
	MaxConcurrentRequests    *int                             `json:"maxConcurrentRequests,omitempty"`
	Cache                    *CacheConfiguration              `json:"cache,omitempty"`
}

// MirrorConfiguration is one mirror of a registry, as a [host."..."] entry of the nodes'
// hosts.toml: host[:port], and pullOnly when it lacks the "resolve" capability.
type MirrorConfiguration struct {
	Host     string `json:"host"`
	PullOnly bool   `json:"pullOnly,omitempty"`
}

// CacheConfiguration mirrors the --cache-* flags.
type CacheConfiguration struct {
	Size            *int             `json:"size,omitempty"`
	IndexSize       *int             `json:"indexSize,omitempty"`
	PositiveTTL     *metav1.Duration `json:"positiveTTL,omitempty"`
	DigestTTL       *metav1.Duration `json:"digestTTL,omitempty"`
	NegativeTTL     *metav1.Duration `json:"negativeTTL,omitempty"`
	UnverifiableTTL *metav1.Duration `json:"unverifiableTTL,omitempty"`
	StaleOnError    *bool            `json:"staleOnError,omitempty"`
	StaleTTL        *metav1.Duration `json:"staleTTL,omitempty"`
}

// loadConfigFile reads path strictly (unknown or duplicate fields, a wrong apiVersion or kind
// are errors) and applies what it sets onto o.
func loadConfigFile(path string, o *Options) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("opening config file: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxConfigBytes+1))
	if err != nil {
		return fmt.Errorf("reading config file: %w", err)
	}
	if len(data) > maxConfigBytes {
		return fmt.Errorf("config file %s is larger than %d bytes", path, maxConfigBytes)
	}
	cfg, err := decodeConfig(data)
	if err != nil {
		return fmt.Errorf("config file %s: %w", path, err)
	}
	cfg.applyTo(o)
	return nil
}

func decodeConfig(data []byte) (*WebhookConfiguration, error) {
	// YAMLToJSONStrict rejects duplicate keys; kjson matches keys case-sensitively (encoding/json
	// would take "PORT" for "port") and reports every unknown field, as Kubernetes' own config
	// loaders do.
	js, err := yaml.YAMLToJSONStrict(data)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	var cfg WebhookConfiguration
	strictErrs, err := kjson.UnmarshalStrict(js, &cfg)
	if err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if len(strictErrs) > 0 {
		return nil, fmt.Errorf("decoding: %w", errors.Join(strictErrs...))
	}
	switch {
	case cfg.APIVersion == "" || cfg.Kind == "":
		return nil, errors.New("apiVersion and kind are required")
	case cfg.APIVersion != configAPIVersion:
		return nil, fmt.Errorf("apiVersion %q is not supported, want %q", cfg.APIVersion, configAPIVersion)
	case cfg.Kind != configKind:
		return nil, fmt.Errorf("kind %q is not supported, want %q", cfg.Kind, configKind)
	}
	return &cfg, nil
}

func (c *WebhookConfiguration) applyTo(o *Options) {
	set(&o.Kubeconfig, c.Kubeconfig)
	set(&o.Port, c.Port)
	set(&o.BindAddress, c.BindAddress)
	set(&o.CertDir, c.CertDir)
	set(&o.TLSMinVersion, c.TLSMinVersion)
	set(&o.EnableHTTP2, c.EnableHTTP2)
	set(&o.MetricsBindAddress, c.MetricsBindAddress)
	set(&o.MetricsSecure, c.MetricsSecure)
	set(&o.HealthProbeBindAddress, c.HealthProbeBindAddress)
	set(&o.KubeAPIQPS, c.KubeAPIQPS)
	set(&o.KubeAPIBurst, c.KubeAPIBurst)
	setDuration(&o.GracefulShutdownTimeout, c.GracefulShutdownTimeout)

	if l := c.Logging; l != nil {
		set(&o.LogLevel, l.Level)
		set(&o.LogFormat, l.Format)
	}

	if a := c.Admission; a != nil {
		d := &o.Admission
		if a.DefaultMode != nil {
			d.DefaultMode = admission.Mode(*a.DefaultMode)
		}
		set(&d.DenyUnverifiable, a.DenyUnverifiable)
		setList(&d.ExemptNamespaces, a.ExemptNamespaces)
		setList(&d.ExemptImages, a.ExemptImages)
		setList(&d.AutoscaledPlatforms, a.AutoscaledPlatforms)
		setList(&d.ExemptUsers, a.ExemptUsers)
		setList(&d.ExemptGroups, a.ExemptGroups)
		setDuration(&d.MaxBudget, a.MaxBudget)
		setDuration(&d.TimeoutMargin, a.TimeoutMargin)
		setDuration(&d.SecretCacheTTL, a.SecretCacheTTL)
		set(&d.MaxRequestBytes, a.MaxRequestBytes)
		set(&d.MaxConcurrentImages, a.MaxConcurrentImages)
	}

	if r := c.Registry; r != nil {
		d := &o.Registry
		setList(&d.Egress.AllowPrivate, r.AllowPrivateRegistries)
		setList(&d.Egress.InsecureRegistries, r.InsecureRegistries)
		set(&d.Egress.CAFile, r.CAFile)
		set(&d.Egress.Proxy, r.Proxy)
		setList(&d.NodeCredentialRegistries, r.NodeCredentialRegistries)
		if r.Mirrors != nil {
			d.Mirrors = map[string][]registry.Mirror{}
			for reg, mirrors := range r.Mirrors {
				for _, m := range mirrors {
					d.Mirrors[reg] = append(d.Mirrors[reg], registry.Mirror{Host: m.Host, PullOnly: m.PullOnly})
				}
			}
		}
		set(&d.SinglePlatformCheck, r.SinglePlatformCheck)
		setList(&d.SinglePlatformCheckSkip, r.SinglePlatformCheckSkip)
		setDuration(&d.Egress.DialTimeout, r.Timeout)
		setDuration(&d.Egress.TLSHandshakeTimeout, r.Timeout)
		setDuration(&d.Egress.ResponseHeaderTimeout, r.Timeout)
		set(&d.Egress.MaxManifestBytes, r.MaxManifestBytes)
		set(&d.MaxRetries, r.MaxRetries)
		setDuration(&d.RetryBackoff, r.RetryBackoff)
		set(&d.MaxConcurrentRequests, r.MaxConcurrentRequests)
		if k := r.Cache; k != nil {
			set(&d.CacheSize, k.Size)
			set(&d.IndexCacheSize, k.IndexSize)
			setDuration(&d.PositiveTTL, k.PositiveTTL)
			setDuration(&d.DigestTTL, k.DigestTTL)
			setDuration(&d.NegativeTTL, k.NegativeTTL)
			setDuration(&d.UnverifiableTTL, k.UnverifiableTTL)
			set(&d.StaleOnError, k.StaleOnError)
			setDuration(&d.StaleTTL, k.StaleTTL)
		}
	}
}

func set[T any](dst *T, src *T) {
	if src != nil {
		*dst = *src
	}
}

func setDuration(dst *time.Duration, src *metav1.Duration) {
	if src != nil {
		*dst = src.Duration
	}
}

// setList replaces dst when the file lists the field at all; `[]` clears a default list.
func setList(dst *[]string, src []string) {
	if src != nil {
		*dst = src
	}
}
