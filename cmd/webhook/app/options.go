package app

import (
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"net/url"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// Options is every setting of the webhook: server, admission policy and registry engine. Flags
// and the --config file both fill it; Validate checks it before anything starts.
type Options struct {
	// Kubeconfig is the kubeconfig path; empty means $KUBECONFIG, then the in-cluster config.
	Kubeconfig string
	// ConfigFile is the versioned WebhookConfiguration file; flags set on the command line win.
	ConfigFile string

	Port          int
	BindAddress   string
	CertDir       string
	TLSMinVersion string
	EnableHTTP2   bool

	MetricsBindAddress string
	// MetricsSecure serves /metrics over HTTPS to callers the API server authenticates and
	// authorizes (TokenReview, SubjectAccessReview), as kubebuilder's scaffold does.
	MetricsSecure          bool
	HealthProbeBindAddress string

	KubeAPIQPS   float32
	KubeAPIBurst int

	GracefulShutdownTimeout time.Duration

	LogLevel  string
	LogFormat string

	Admission admission.Config
	Registry  registry.Options
}

const (
	// apiServerMaxTimeout is the largest timeoutSeconds a ValidatingWebhookConfiguration accepts:
	// a budget at or above it could never be honoured.
	apiServerMaxTimeout = 30 * time.Second
	// maxManifestBytesLimit is go-containerregistry's own manifest limit; larger is never useful.
	maxManifestBytesLimit = 100 << 20
	// maxCABundleBytes bounds --registry-ca-file; the system CA bundle is about 200 KiB.
	maxCABundleBytes = 8 << 20
	// maxLogV bounds numeric --log-level values; nothing logs above it.
	maxLogV = 10
)

// tlsVersions maps --tls-min-version values to crypto/tls constants. Nothing below 1.2 is offered.
var tlsVersions = map[string]uint16{"1.2": 0x0303, "1.3": 0x0304}

// DefaultOptions returns the defaults every flag documents.
func DefaultOptions() Options {
	return Options{
		Port:                    9443,
		CertDir:                 "/tmp/k8s-webhook-server/serving-certs",
		TLSMinVersion:           "1.2",
		MetricsBindAddress:      ":8080",
		MetricsSecure:           true,
		HealthProbeBindAddress:  ":8081",
		KubeAPIQPS:              50,
		KubeAPIBurst:            100,
		GracefulShutdownTimeout: 30 * time.Second,
		LogLevel:                "info",
		LogFormat:               "json",
		Admission:               admission.DefaultConfig(),
		Registry:                registry.DefaultOptions(),
	}
}

// addFlags binds every option to a flag. A flag's default is the field's current value, which is
// what lets a second parse on top of a loaded --config file change only the flags given.
func (o *Options) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig,
		"Path to a kubeconfig. Empty: $KUBECONFIG if set, else the in-cluster service account.")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile,
		"Path to a WebhookConfiguration file (apiVersion "+configAPIVersion+"). Flags set on the command line override it.")

	fs.IntVar(&o.Port, "port", o.Port, "Port the HTTPS webhook server listens on.")
	fs.StringVar(&o.BindAddress, "bind-address", o.BindAddress,
		"Address the webhook server binds to. Empty: all interfaces.")
	fs.StringVar(&o.CertDir, "cert-dir", o.CertDir,
		"Directory holding the serving certificate as tls.crt and tls.key; both are reloaded when they change.")
	fs.StringVar(&o.TLSMinVersion, "tls-min-version", o.TLSMinVersion, "Minimum TLS version the webhook server accepts: 1.2 or 1.3.")
	fs.BoolVar(&o.EnableHTTP2, "enable-http2", o.EnableHTTP2,
		"Offer HTTP/2 on the webhook server. Off by default because of the HTTP/2 Rapid Reset and Stream Cancellation CVEs.")

	fs.StringVar(&o.MetricsBindAddress, "metrics-bind-address", o.MetricsBindAddress,
		`Address of the Prometheus /metrics endpoint. "0" disables it.`)
	fs.BoolVar(&o.MetricsSecure, "metrics-secure", o.MetricsSecure,
		"Serve /metrics over HTTPS, only to callers the API server authenticates and authorizes for GET /metrics (bind the ClusterRole pullguard-metrics-reader to the scraper). false: plain HTTP to anyone who can connect.")
	fs.StringVar(&o.HealthProbeBindAddress, "health-probe-bind-address", o.HealthProbeBindAddress,
		`Address of the /healthz and /readyz endpoints. "0" disables them.`)

	fs.Float32Var(&o.KubeAPIQPS, "kube-api-qps", o.KubeAPIQPS,
		"Queries per second to the Kubernetes API server. client-go's default of 5 turns secret reads during an admission burst into seconds of client-side throttling.")
	fs.IntVar(&o.KubeAPIBurst, "kube-api-burst", o.KubeAPIBurst, "Burst of queries to the Kubernetes API server.")
	fs.DurationVar(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", o.GracefulShutdownTimeout,
		"How long in-flight admissions may take to finish after a shutdown signal. Keep it above 5s: net/http waits up to 5s for connections that were opened but have not sent a request, as the API server's HTTP client opens them.")

	fs.StringVar(&o.LogLevel, "log-level", o.LogLevel, "Log level: error, info, debug, or a verbosity number 0-10 (1 = debug).")
	fs.StringVar(&o.LogFormat, "log-format", o.LogFormat, "Log format: json or console.")

	a := &o.Admission
	fs.Var(newStringValue(&a.DefaultMode), "default-mode",
		`Mode for namespaces without the pullguard.io/mode label: enforce, warn, audit or off.`)
	fs.BoolVar(&a.DenyUnverifiable, "deny-unverifiable", a.DenyUnverifiable,
		"In enforce mode, also deny images whose pullability cannot be verified (registry outage, rate limit, timeout). Default: allow them with a warning.")
	fs.StringSliceVar(&a.ExemptNamespaces, "exempt-namespaces", a.ExemptNamespaces, "Namespaces never checked (comma-separated).")
	fs.StringSliceVar(&a.ExemptImages, "exempt-images", a.ExemptImages, "Image patterns never checked, in path.Match syntax, tried against the image as written and normalised (comma-separated).")
	fs.StringSliceVar(&a.AutoscaledPlatforms, "autoscaled-platforms", a.AutoscaledPlatforms,
		"Platforms (os/arch[/variant], comma-separated) a cluster autoscaler or Karpenter may add nodes with although no node runs them now. They join the platforms of the current nodes, so an image that has one of them but not the current nodes' is a warning instead of a refusal.")
	fs.StringSliceVar(&a.ExemptUsers, "exempt-users", a.ExemptUsers, "Requesting users whose requests are never checked (comma-separated).")
	fs.StringSliceVar(&a.ExemptGroups, "exempt-groups", a.ExemptGroups, "Requesting groups whose requests are never checked (comma-separated).")
	fs.DurationVar(&a.MaxBudget, "max-budget", a.MaxBudget,
		"Longest time one admission may spend on registries, whatever timeout the API server sends. Must be below 30s.")
	fs.DurationVar(&a.TimeoutMargin, "timeout-margin", a.TimeoutMargin,
		"Time kept back from the API server's ?timeout= to answer before it gives up on the webhook.")
	fs.DurationVar(&a.SecretCacheTTL, "secret-cache-ttl", a.SecretCacheTTL,
		"How long pull secrets and service accounts read from the API server are reused (0: not cached).")
	fs.Int64Var(&a.MaxRequestBytes, "max-request-bytes", a.MaxRequestBytes, "Largest AdmissionReview body accepted, in bytes.")
	fs.IntVar(&a.MaxConcurrentImages, "max-concurrent-images", a.MaxConcurrentImages, "Images of one admission checked in parallel.")

	r := &o.Registry
	fs.StringSliceVar(&r.Egress.AllowPrivate, "allow-private-registries", r.Egress.AllowPrivate,
		"Hosts (name[:port]) and CIDRs exempt from the network guard, e.g. an in-cluster registry. Every other private, loopback or link-local address is refused.")
	fs.StringSliceVar(&r.Egress.InsecureRegistries, "insecure-registries", r.Egress.InsecureRegistries,
		"Registry hosts (host[:port]) reached over plain HTTP. Every other registry is HTTPS only.")
	fs.StringVar(&r.Egress.CAFile, "registry-ca-file", r.Egress.CAFile, "PEM bundle trusted for registries in addition to the system roots.")
	fs.StringVar(&r.Egress.Proxy, "registry-proxy", r.Egress.Proxy,
		"HTTP(S) proxy URL for registry traffic. Proxy environment variables are never used.")
	fs.StringSliceVar(&r.NodeCredentialRegistries, "node-credential-registries", r.NodeCredentialRegistries,
		"Registry patterns (kubelet matchImages syntax) the nodes hold credentials for, e.g. through a kubelet credential provider; 401/403/404 there is unverifiable, not a denial. The default lists ECR, GCR, Artifact Registry and ACR; an empty value checks them like any other registry.")
	fs.Var(&mirrorsValue{m: &r.Mirrors}, "registry-mirror",
		"A mirror the nodes' containerd tries before a registry (hosts.toml), as REGISTRY=HOST[:PORT], e.g. docker.io=mirror.example.com; repeat it for more, in the nodes' order. Checks go the same way, with ?ns=REGISTRY. Pull-only mirrors are set in the --config file.")
	fs.BoolVar(&r.SinglePlatformCheck, "single-platform-check", r.SinglePlatformCheck,
		"Read the config of single-platform images (once per digest) to warn when they are built for a platform the candidate nodes do not run: they pull, then crash with exec format error.")
	fs.StringSliceVar(&r.SinglePlatformCheckSkip, "single-platform-check-skip", r.SinglePlatformCheckSkip,
		"Registry patterns (kubelet matchImages syntax) left out of --single-platform-check because they count the manifest GET it needs as a pull. The default is Docker Hub; an empty value checks every registry.")
	fs.Var(&timeoutsValue{&r.Egress.DialTimeout, &r.Egress.TLSHandshakeTimeout, &r.Egress.ResponseHeaderTimeout},
		"registry-timeout", "Timeout for each registry dial, TLS handshake and response header.")
	fs.Int64Var(&r.Egress.MaxManifestBytes, "max-manifest-bytes", r.Egress.MaxManifestBytes,
		"Largest manifest or index accepted from a registry, in bytes.")
	fs.IntVar(&r.MaxRetries, "registry-max-retries", r.MaxRetries,
		"Retries of one registry request after a transient failure, only when it fits the deadline (0-3).")
	fs.DurationVar(&r.RetryBackoff, "registry-retry-backoff", r.RetryBackoff, "Pause before a registry retry.")
	fs.IntVar(&r.MaxConcurrentRequests, "registry-max-concurrent-requests", r.MaxConcurrentRequests,
		"Registry round trips in flight across all admissions.")
	fs.IntVar(&r.CacheSize, "cache-size", r.CacheSize, "Verdicts kept in the cache (LRU entries).")
	fs.IntVar(&r.IndexCacheSize, "cache-index-size", r.IndexCacheSize, "Image index platform lists kept in the cache (LRU entries).")
	fs.DurationVar(&r.PositiveTTL, "cache-positive-ttl", r.PositiveTTL, "How long a pullable verdict for a tag is reused.")
	fs.DurationVar(&r.DigestTTL, "cache-digest-ttl", r.DigestTTL, "How long a pullable verdict for a digest is reused.")
	fs.DurationVar(&r.NegativeTTL, "cache-negative-ttl", r.NegativeTTL, "How long a not-pullable verdict is reused.")
	fs.DurationVar(&r.UnverifiableTTL, "cache-unverifiable-ttl", r.UnverifiableTTL, "How long an unverifiable verdict is reused (0: never).")
	fs.BoolVar(&r.StaleOnError, "cache-stale-on-error", r.StaleOnError,
		"Serve an expired pullable verdict when a fresh check is unverifiable.")
	fs.DurationVar(&r.StaleTTL, "cache-stale-ttl", r.StaleTTL, "How long after expiry a pullable verdict may be served stale.")
}

// Validate reports the first invalid option, naming its flag.
func (o Options) Validate() error {
	for _, check := range []func() error{o.validateServer, o.validateLogging, o.validatePackageFields, o.validateRelations} {
		if err := check(); err != nil {
			return err
		}
	}
	// The packages' own checks on the whole config last, for any rule that spans their fields.
	if err := o.Admission.Validate(); err != nil {
		return fmt.Errorf("admission options: %w", err)
	}
	if err := o.Registry.Validate(); err != nil {
		return fmt.Errorf("registry options: %w", err)
	}
	return nil
}

func (o Options) validateServer() error {
	if o.Port < 1 || o.Port > 65535 {
		return fmt.Errorf("--port must be 1-65535, got %d", o.Port)
	}
	if o.BindAddress != "" && net.ParseIP(o.BindAddress) == nil && len(validation.IsDNS1123Subdomain(o.BindAddress)) > 0 {
		return fmt.Errorf("--bind-address %q is neither an IP address nor a host name", o.BindAddress)
	}
	if o.CertDir == "" {
		return errors.New("--cert-dir must not be empty")
	}
	if _, ok := tlsVersions[o.TLSMinVersion]; !ok {
		return fmt.Errorf("--tls-min-version must be 1.2 or 1.3, got %q", o.TLSMinVersion)
	}
	listeners := []listener{{flag: "--port", host: o.BindAddress, port: o.Port}}
	for _, a := range []struct{ flag, addr string }{
		{"--metrics-bind-address", o.MetricsBindAddress},
		{"--health-probe-bind-address", o.HealthProbeBindAddress},
	} {
		if a.addr == "0" {
			continue
		}
		l, err := parseListenAddress(a.flag, a.addr)
		if err != nil {
			return err
		}
		listeners = append(listeners, l)
	}
	if err := checkDistinctListeners(listeners); err != nil {
		return err
	}
	if o.KubeAPIQPS <= 0 {
		return fmt.Errorf("--kube-api-qps must be positive, got %v", o.KubeAPIQPS)
	}
	if o.KubeAPIBurst < 1 {
		return fmt.Errorf("--kube-api-burst must be at least 1, got %d", o.KubeAPIBurst)
	}
	if o.GracefulShutdownTimeout <= 0 {
		return fmt.Errorf("--graceful-shutdown-timeout must be positive, got %s", o.GracefulShutdownTimeout)
	}
	return nil
}

func (o Options) validateLogging() error {
	if _, err := parseLogLevel(o.LogLevel); err != nil {
		return fmt.Errorf("--log-level: %w", err)
	}
	if o.LogFormat != "json" && o.LogFormat != "console" {
		return fmt.Errorf("--log-format must be json or console, got %q", o.LogFormat)
	}
	return nil
}

// fieldFlags ties each admission and registry field to its flag: copy moves the field from one
// Options to another.
var fieldFlags = []struct {
	flag string
	copy func(dst *Options, src Options)
}{
	{"--default-mode", func(d *Options, s Options) { d.Admission.DefaultMode = s.Admission.DefaultMode }},
	{"--exempt-namespaces", func(d *Options, s Options) { d.Admission.ExemptNamespaces = s.Admission.ExemptNamespaces }},
	{"--exempt-images", func(d *Options, s Options) { d.Admission.ExemptImages = s.Admission.ExemptImages }},
	{"--autoscaled-platforms", func(d *Options, s Options) { d.Admission.AutoscaledPlatforms = s.Admission.AutoscaledPlatforms }},
	{"--exempt-users", func(d *Options, s Options) { d.Admission.ExemptUsers = s.Admission.ExemptUsers }},
	{"--exempt-groups", func(d *Options, s Options) { d.Admission.ExemptGroups = s.Admission.ExemptGroups }},
	{"--max-budget", func(d *Options, s Options) { d.Admission.MaxBudget = s.Admission.MaxBudget }},
	{"--timeout-margin", func(d *Options, s Options) { d.Admission.TimeoutMargin = s.Admission.TimeoutMargin }},
	{"--secret-cache-ttl", func(d *Options, s Options) { d.Admission.SecretCacheTTL = s.Admission.SecretCacheTTL }},
	{"--max-request-bytes", func(d *Options, s Options) { d.Admission.MaxRequestBytes = s.Admission.MaxRequestBytes }},
	{"--max-concurrent-images", func(d *Options, s Options) { d.Admission.MaxConcurrentImages = s.Admission.MaxConcurrentImages }},
	{"--allow-private-registries", func(d *Options, s Options) { d.Registry.Egress.AllowPrivate = s.Registry.Egress.AllowPrivate }},
	{"--insecure-registries", func(d *Options, s Options) {
		d.Registry.Egress.InsecureRegistries = s.Registry.Egress.InsecureRegistries
	}},
	{"--node-credential-registries", func(d *Options, s Options) {
		d.Registry.NodeCredentialRegistries = s.Registry.NodeCredentialRegistries
	}},
	{"--registry-mirror", func(d *Options, s Options) { d.Registry.Mirrors = s.Registry.Mirrors }},
	{"--single-platform-check-skip", func(d *Options, s Options) {
		d.Registry.SinglePlatformCheckSkip = s.Registry.SinglePlatformCheckSkip
	}},
	{"--registry-timeout", func(d *Options, s Options) {
		d.Registry.Egress.DialTimeout = s.Registry.Egress.DialTimeout
		d.Registry.Egress.TLSHandshakeTimeout = s.Registry.Egress.TLSHandshakeTimeout
		d.Registry.Egress.ResponseHeaderTimeout = s.Registry.Egress.ResponseHeaderTimeout
	}},
	{"--max-manifest-bytes", func(d *Options, s Options) { d.Registry.Egress.MaxManifestBytes = s.Registry.Egress.MaxManifestBytes }},
	{"--registry-max-retries", func(d *Options, s Options) { d.Registry.MaxRetries = s.Registry.MaxRetries }},
	{"--registry-retry-backoff", func(d *Options, s Options) { d.Registry.RetryBackoff = s.Registry.RetryBackoff }},
	{"--registry-max-concurrent-requests", func(d *Options, s Options) {
		d.Registry.MaxConcurrentRequests = s.Registry.MaxConcurrentRequests
	}},
	{"--cache-size", func(d *Options, s Options) { d.Registry.CacheSize = s.Registry.CacheSize }},
	{"--cache-index-size", func(d *Options, s Options) { d.Registry.IndexCacheSize = s.Registry.IndexCacheSize }},
	{"--cache-positive-ttl", func(d *Options, s Options) { d.Registry.PositiveTTL = s.Registry.PositiveTTL }},
	{"--cache-digest-ttl", func(d *Options, s Options) { d.Registry.DigestTTL = s.Registry.DigestTTL }},
	{"--cache-negative-ttl", func(d *Options, s Options) { d.Registry.NegativeTTL = s.Registry.NegativeTTL }},
	{"--cache-unverifiable-ttl", func(d *Options, s Options) { d.Registry.UnverifiableTTL = s.Registry.UnverifiableTTL }},
	{"--cache-stale-ttl", func(d *Options, s Options) { d.Registry.StaleTTL = s.Registry.StaleTTL }},
}

// validatePackageFields checks each admission and registry field with the owning package's own
// Validate, one field at a time on top of the defaults, so that the error names the flag and the
// rules are not copied here.
func (o Options) validatePackageFields() error {
	for _, f := range fieldFlags {
		d := DefaultOptions()
		f.copy(&d, o)
		if err := d.Admission.Validate(); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
		if err := d.Registry.Validate(); err != nil {
			return fmt.Errorf("%s: %w", f.flag, err)
		}
	}
	if err := noEmptyEntry("--node-credential-registries", o.Registry.NodeCredentialRegistries); err != nil {
		return err
	}
	if err := noEmptyEntry("--single-platform-check-skip", o.Registry.SinglePlatformCheckSkip); err != nil {
		return err
	}
	if o.Registry.Egress.CAFile != "" {
		if err := checkCAFile(o.Registry.Egress.CAFile); err != nil {
			return fmt.Errorf("--registry-ca-file: %w", err)
		}
	}
	if p := o.Registry.Egress.Proxy; p != "" {
		u, err := url.Parse(p)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			// The URL may carry proxy credentials: never echo it.
			return errors.New("--registry-proxy must be an http:// or https:// URL with a host")
		}
	}
	return nil
}

// validateRelations checks what spans fields, and the deadline rules this command adds: every
// registry wait must fit inside the admission budget, or one slow registry would spend it all.
func (o Options) validateRelations() error {
	a, e := o.Admission, o.Registry.Egress
	switch {
	case a.MaxBudget >= apiServerMaxTimeout:
		return fmt.Errorf("--max-budget must be below %s (the API server's longest webhook timeout), got %s", apiServerMaxTimeout, a.MaxBudget)
	case a.TimeoutMargin >= a.MaxBudget:
		return fmt.Errorf("--timeout-margin (%s) must be below --max-budget (%s)", a.TimeoutMargin, a.MaxBudget)
	case max(e.DialTimeout, e.TLSHandshakeTimeout, e.ResponseHeaderTimeout) >= a.MaxBudget:
		return fmt.Errorf("--registry-timeout must be below --max-budget (%s)", a.MaxBudget)
	case o.Registry.RetryBackoff >= a.MaxBudget:
		return fmt.Errorf("--registry-retry-backoff (%s) must be below --max-budget (%s)", o.Registry.RetryBackoff, a.MaxBudget)
	case e.MaxManifestBytes > maxManifestBytesLimit:
		return fmt.Errorf("--max-manifest-bytes must be at most %d, got %d", maxManifestBytesLimit, e.MaxManifestBytes)
	}
	return nil
}

// listener is one address the process will listen on, for the collision check.
type listener struct {
	flag string
	host string
	port int
}

func parseListenAddress(flag, addr string) (listener, error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return listener{}, fmt.Errorf(`%s must be host:port, :port or "0", got %q`, flag, addr)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return listener{}, fmt.Errorf("%s port must be 0-65535, got %q", flag, portStr)
	}
	return listener{flag: flag, host: host, port: port}, nil
}

// checkDistinctListeners rejects two servers on one port, which would otherwise surface only as
// "address already in use" from whichever server starts second.
func checkDistinctListeners(ls []listener) error {
	for i, a := range ls {
		for _, b := range ls[i+1:] {
			if a.port == 0 || a.port != b.port {
				continue
			}
			if a.host == b.host || a.host == "" || b.host == "" {
				return fmt.Errorf("%s and %s both use port %d", a.flag, b.flag, a.port)
			}
		}
	}
	return nil
}

func noEmptyEntry(flag string, entries []string) error {
	for i, e := range entries {
		if e == "" {
			return fmt.Errorf("%s: entry %d is empty", flag, i)
		}
	}
	return nil
}

func checkCAFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("reading CA bundle: %w", err)
	}
	defer f.Close()
	// Bounded: a path such as /dev/zero must fail, not hang or exhaust memory.
	pem, err := io.ReadAll(io.LimitReader(f, maxCABundleBytes+1))
	if err != nil {
		return fmt.Errorf("reading CA bundle: %w", err)
	}
	if len(pem) > maxCABundleBytes {
		return fmt.Errorf("%s is larger than %d bytes", path, maxCABundleBytes)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(pem) {
		return fmt.Errorf("%s holds no PEM certificate", path)
	}
	return nil
}

// parseLogLevel maps a --log-level value to a zap level. logr's V(n) is zap level -n, so a
// number n enables V(0)..V(n).
func parseLogLevel(s string) (zapcore.Level, error) {
	switch s {
	case "error":
		return zapcore.ErrorLevel, nil
	case "info":
		return zapcore.InfoLevel, nil
	case "debug":
		return zapcore.DebugLevel, nil
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 || v > maxLogV {
		return 0, fmt.Errorf("must be error, info, debug or 0-%d, got %q", maxLogV, s)
	}
	return zapcore.Level(-v), nil
}

// stringValue is a pflag.Value for string-based types such as admission.Mode.
type stringValue[T ~string] struct{ p *T }

func newStringValue[T ~string](p *T) *stringValue[T] { return &stringValue[T]{p: p} }

func (v *stringValue[T]) String() string     { return string(*v.p) }
func (v *stringValue[T]) Set(s string) error { *v.p = T(s); return nil }
func (v *stringValue[T]) Type() string       { return "string" }

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
// mirrors of the config file, the next ones add to them, in order per registry.
type mirrorsValue struct {
	m   *map[string][]registry.Mirror
	set bool
}

func (v *mirrorsValue) Set(s string) error {
	reg, host, ok := strings.Cut(s, "=")
	if !ok || reg == "" || host == "" {
		return fmt.Errorf("%q is not REGISTRY=HOST", s)
	}
	if !v.set {
		*v.m, v.set = map[string][]registry.Mirror{}, true
	}
	(*v.m)[reg] = append((*v.m)[reg], registry.Mirror{Host: host})
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

// errVersion is returned by parseArgs when --version was asked.
var errVersion = errors.New("version requested")

// newFlagSet binds o to a fresh flag set. Parse errors are returned, never printed.
func newFlagSet(o *Options) *pflag.FlagSet {
	fs := pflag.NewFlagSet("webhook", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	o.addFlags(fs)
	fs.Bool("version", false, "Print the version and exit.")
	fs.BoolP("help", "h", false, "Print this help and exit.")
	return fs
}

// parseArgs builds the Options from args and the --config file they name, and validates them.
// It returns pflag.ErrHelp for --help and errVersion for --version.
func parseArgs(args []string) (Options, error) {
	o := DefaultOptions()
	fs := newFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		return Options{}, err
	}
	if help, _ := fs.GetBool("help"); help {
		return Options{}, pflag.ErrHelp
	}
	if version, _ := fs.GetBool("version"); version {
		return Options{}, errVersion
	}
	if fs.NArg() > 0 {
		return Options{}, fmt.Errorf("unexpected arguments %q: every setting is a --flag", fs.Args())
	}
	if o.ConfigFile != "" {
		// Start again from the defaults with the file applied, then parse the command line on
		// top: only flags actually given change a value, so they win over the file, and list
		// flags replace the file's list rather than appending to it.
		file := o.ConfigFile
		o = DefaultOptions()
		if err := loadConfigFile(file, &o); err != nil {
			return Options{}, fmt.Errorf("--config: %w", err)
		}
		if err := newFlagSet(&o).Parse(args); err != nil {
			return Options{}, err
		}
	}
	if err := o.Validate(); err != nil {
		return Options{}, err
	}
	return o, nil
}

// usage is the --help text.
func usage() string {
	o := DefaultOptions()
	return "pullguard webhook: a validating admission webhook that predicts whether the kubelet can pull each image.\n\n" +
		"Usage:\n  webhook [flags]\n\nFlags:\n" + newFlagSet(&o).FlagUsages()
}
