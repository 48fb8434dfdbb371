// Package app is the pullguard webhook command: options, logging, and the controller-runtime
// manager that serves pkg/admission. main only calls Main; tests and `make demo` call it too, in
// process, with their own arguments.
package app

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"
	"sigs.k8s.io/controller-runtime/pkg/metrics/filters"
	metricsserver "sigs.k8s.io/controller-runtime/pkg/metrics/server"
	"sigs.k8s.io/controller-runtime/pkg/webhook"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
)

// version is set at build time: -ldflags "-X github.com/pullguard/pullguard/cmd/webhook/app.version=...".
var version = "dev"

// cacheSyncProbeTimeout bounds the informer check of /readyz, well inside the kubelet's default
// 1 s probe timeout.
const cacheSyncProbeTimeout = 500 * time.Millisecond

// Main runs the webhook with command-line args until ctx is cancelled; with "reverify" as the
// first argument, the re-verifier (RunReverify) instead. Output for --help and
// --version goes to stdout, logs to stderr. It returns every error instead of logging it, so the
// caller logs it once; --help and --version return nil.
func Main(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	// Until the options are known, log at info level as JSON, so even a flag error is logged
	// in the format a log pipeline expects.
	setLogOutput(stderr, zapcore.InfoLevel, "json")
	if len(args) > 0 && args[0] == ReverifyCommand {
		return mainReverify(ctx, args[1:], stdout, stderr)
	}

	opts, err := parseArgs(args)
	if done, err := parsed(err, stdout, usage); done {
		return err
	}
	log, err := commandLogger(stderr, opts, "webhook")
	if err != nil {
		return err
	}
	log.Info("Starting pullguard webhook", startupKeys(opts)...)
	return Run(ctx, opts)
}

// parsed is what every command does with its flags' parse error: --help prints usage and
// --version the version, and then, as on any other error, nothing is left to run (done).
func parsed(err error, stdout io.Writer, usage func() string) (done bool, _ error) {
	switch {
	case errors.Is(err, pflag.ErrHelp):
		_, err := io.WriteString(stdout, usage())
		return true, err
	case errors.Is(err, errVersion):
		return true, printVersion(stdout)
	}
	return err != nil, err
}

// commandLogger installs the logger opts ask for (level and format) and returns it named after
// the command.
func commandLogger(stderr io.Writer, opts Options, name string) (logr.Logger, error) {
	level, err := parseLogLevel(opts.LogLevel)
	if err != nil {
		return logr.Logger{}, fmt.Errorf("--log-level: %w", err)
	}
	return setLogOutput(stderr, level, opts.LogFormat).WithName(name), nil
}

// Run serves the webhook with opts until ctx is cancelled, then shuts down gracefully.
func Run(ctx context.Context, opts Options) error {
	// Main has validated already; Run is exported, and a zero field (say, the TLS version)
	// must not quietly become a weaker default.
	if err := opts.Validate(); err != nil {
		return err
	}
	restCfg, err := kubeRESTConfig(opts)
	if err != nil {
		return err
	}
	checker, err := newEngine(opts)
	if err != nil {
		return err
	}
	scheme, err := newScheme()
	if err != nil {
		return err
	}
	var certs *selfManagedCerts
	if opts.Certificates.Enabled {
		certs = newSelfManagedCerts(opts)
	}
	mgrOpts := managerOptions(opts, scheme, certs)
	mgrOpts.NewCache = newStopAwareCache(ctx.Done())
	mgr, err := ctrl.NewManager(restCfg, mgrOpts)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	if err := admission.Setup(mgr, opts.Admission, checker); err != nil {
		return fmt.Errorf("setting up admission: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding the liveness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("webhook", mgr.GetWebhookServer().StartedChecker()); err != nil {
		return fmt.Errorf("adding the webhook readiness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", cachesSynced(mgr.GetCache(), cacheSyncProbeTimeout)); err != nil {
		return fmt.Errorf("adding the informer readiness check: %w", err)
	}
	if certs != nil {
		if err := certs.setup(mgr); err != nil {
			return err
		}
		if err := mgr.AddReadyzCheck("certificate", certs.readyCheck); err != nil {
			return fmt.Errorf("adding the certificate readiness check: %w", err)
		}
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// kubeRESTConfig is the API client configuration of every program of this binary, with the
// client-side rate limit raised from client-go's 5 QPS (burst 10): at that default, the Secret and
// ServiceAccount GETs of an admission burst, or of a scan, wait seconds on the client itself.
func kubeRESTConfig(opts Options) (*rest.Config, error) {
	restCfg, err := restConfig(opts.Kubeconfig, os.Getenv("KUBECONFIG"))
	if err != nil {
		return nil, fmt.Errorf("loading the Kubernetes client configuration: %w", err)
	}
	restCfg.QPS = opts.KubeAPIQPS
	restCfg.Burst = opts.KubeAPIBurst
	restCfg.UserAgent = userAgent()
	return restCfg, nil
}

// newEngine builds the registry engine from opts, its metrics on controller-runtime's registry
// (the one its metrics server serves). registry.New reuses collectors already registered there,
// so Main may run again in the same process (tests, `make demo`) without a duplicate-registration
// panic.
func newEngine(opts Options) (*registry.Checker, error) {
	regOpts := opts.Registry
	regOpts.Registerer = ctrlmetrics.Registry
	regOpts.UserAgent = userAgent()
	checker, err := registry.New(regOpts)
	if err != nil {
		return nil, fmt.Errorf("creating the registry checker: %w", err)
	}
	return checker, nil
}

// newScheme is client-go's scheme plus the API groups of add.
func newScheme(add ...func(*k8sruntime.Scheme) error) (*k8sruntime.Scheme, error) {
	scheme := k8sruntime.NewScheme()
	for _, f := range append([]func(*k8sruntime.Scheme) error{clientgoscheme.AddToScheme}, add...) {
		if err := f(scheme); err != nil {
			return nil, fmt.Errorf("building the scheme: %w", err)
		}
	}
	return scheme, nil
}

// managerOptions maps opts onto the manager: no leader election (every replica serves
// admissions), no cached reads of Secrets or ServiceAccounts (they are read one by one, so the
// webhook never holds every secret of the cluster in memory), and the hardened webhook server,
// serving certs' certificate when it is not nil (--self-managed-certs).
func managerOptions(opts Options, scheme *k8sruntime.Scheme, certs *selfManagedCerts) ctrl.Options {
	o := baseManagerOptions(opts, scheme, admission.InformerOptions(), admission.UncachedObjects())
	o.WebhookServer = webhook.NewServer(webhook.Options{
		Host:    opts.BindAddress,
		Port:    opts.Port,
		CertDir: opts.CertDir,
		TLSOpts: webhookTLSOptions(opts, certs),
	})
	return o
}

// baseManagerOptions is what the webhook's and the re-verifier's managers share: managed fields
// stripped from cached objects, only the informers byObject names (the programs register every
// informer they read at setup; any other cached read fails instead of silently starting a
// cluster-wide watch), uncached read one by one, /metrics, the health probes and the shutdown
// timeout. No leader election.
func baseManagerOptions(opts Options, scheme *k8sruntime.Scheme, byObject map[client.Object]cache.ByObject, uncached []client.Object) ctrl.Options {
	shutdown := opts.GracefulShutdownTimeout
	return ctrl.Options{
		Scheme: scheme,
		Cache: cache.Options{
			DefaultTransform:            cache.TransformStripManagedFields(),
			ByObject:                    byObject,
			ReaderFailOnMissingInformer: true,
		},
		Client: client.Options{
			Cache: &client.CacheOptions{DisableFor: uncached},
		},
		Metrics:                 metricsServerOptions(opts),
		HealthProbeBindAddress:  opts.HealthProbeBindAddress,
		GracefulShutdownTimeout: &shutdown,
	}
}

// metricsServerOptions serves /metrics, by default over HTTPS (a self-signed certificate the
// server makes at start) to callers the API server authenticates and authorizes for GET /metrics.
// The metrics carry no secrets, but who calls the API server how often, and how the registries
// answer, is nobody else's business.
func metricsServerOptions(opts Options) metricsserver.Options {
	o := metricsserver.Options{BindAddress: opts.MetricsBindAddress}
	if opts.MetricsSecure {
		o.SecureServing = true
		o.FilterProvider = filters.WithAuthenticationAndAuthorization
		o.TLSOpts = tlsOptions(opts)
	}
	return o
}

// tlsOptions hardens the TLS config of the webhook server (and of the metrics server when it is
// secure). The webhook's certificate comes from
// controller-runtime's certwatcher, which reloads tls.crt and tls.key when they are rotated.
func tlsOptions(opts Options) []func(*tls.Config) {
	minVersion := tlsVersions[opts.TLSMinVersion]
	return []func(*tls.Config){func(c *tls.Config) {
		c.MinVersion = minVersion
		if !opts.EnableHTTP2 {
			// HTTP/2 Rapid Reset (CVE-2023-44487) and Stream Cancellation (CVE-2023-39325):
			// the API server speaks HTTP/1.1 to webhooks fine, so do not offer h2 at all.
			c.NextProtos = []string{"http/1.1"}
		}
	}}
}

// webhookTLSOptions is tlsOptions plus, with --self-managed-certs, the rotator's certificate
// and, with --client-ca-file, client certificate verification: only the webhook server
// authenticates callers by certificate (the metrics server does by token).
func webhookTLSOptions(opts Options, certs *selfManagedCerts) []func(*tls.Config) {
	base := tlsOptions(opts)
	if certs != nil {
		base = append(base, certs.tlsOption)
	}
	if opts.ClientCAFile == "" {
		return base
	}
	cas := newClientCAs(opts.ClientCAFile, ctrl.Log.WithName("webhook"))
	return []func(*tls.Config){func(c *tls.Config) {
		for _, o := range base {
			o(c)
		}
		cas.configure(c)
	}}
}

// cachesSynced is a readiness check that passes once every informer the manager started has
// synced: until then admission decisions would be made on missing Namespaces or Nodes.
func cachesSynced(c cache.Cache, timeout time.Duration) healthz.Checker {
	return func(req *http.Request) error {
		ctx, cancel := context.WithTimeout(req.Context(), timeout)
		defer cancel()
		if !c.WaitForCacheSync(ctx) {
			return errors.New("informer caches have not synced")
		}
		return nil
	}
}

// newStopAwareCache builds the manager's cache so that its WaitForCacheSync also ends when
// stopping is closed, reporting success. controller-runtime v0.25's manager waits for its caches
// at startup with a context that shutdown does not cancel (runnableGroup.Start spins on the
// cancelled manager context until the caches report synced), so a webhook told to stop while the
// API server is unreachable, or while RBAC forbids a list, would never return and burn a CPU
// until killed. Reporting "synced" once stopping only lets the manager reach its stop procedure.
func newStopAwareCache(stopping <-chan struct{}) cache.NewCacheFunc {
	return func(cfg *rest.Config, opts cache.Options) (cache.Cache, error) {
		c, err := cache.New(cfg, opts)
		if err != nil {
			return nil, err
		}
		return stopAwareCache{Cache: c, stopping: stopping}, nil
	}
}

type stopAwareCache struct {
	cache.Cache
	stopping <-chan struct{}
}

func (c stopAwareCache) WaitForCacheSync(ctx context.Context) bool {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-c.stopping:
			cancel()
		case <-ctx.Done():
		}
	}()
	if c.Cache.WaitForCacheSync(ctx) {
		return true
	}
	select {
	case <-c.stopping:
		return true
	default:
		return false
	}
}

// restConfig loads the client configuration from --kubeconfig, else $KUBECONFIG (a path list),
// else the in-cluster service account. Unlike controller-runtime's GetConfig it never falls
// back to ~/.kube/config, so a pod never talks to a cluster it was not pointed at.
func restConfig(kubeconfig, kubeconfigEnv string) (*rest.Config, error) {
	var rules clientcmd.ClientConfigLoadingRules
	switch {
	case kubeconfig != "":
		rules.ExplicitPath = kubeconfig
	case kubeconfigEnv != "":
		rules.Precedence = filepath.SplitList(kubeconfigEnv)
	default:
		return rest.InClusterConfig()
	}
	return clientcmd.NewNonInteractiveDeferredLoadingClientConfig(&rules, &clientcmd.ConfigOverrides{}).ClientConfig()
}

func printVersion(w io.Writer) error {
	_, err := fmt.Fprintf(w, "pullguard webhook %s (%s, %s/%s)\n", version, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}

func userAgent() string { return "pullguard/" + version }

// startupKeys are the options logged once at startup: enough to tell how a replica is
// configured, and nothing secret (a proxy URL may carry credentials, so only its host is kept).
func startupKeys(o Options) []any {
	return []any{
		"version", version,
		"goVersion", runtime.Version(),
		"port", o.Port,
		"bindAddress", o.BindAddress,
		"certDir", o.CertDir,
		"tlsMinVersion", o.TLSMinVersion,
		"http2", o.EnableHTTP2,
		"clientCAFile", o.ClientCAFile,
		"selfManagedCerts", o.Certificates.Enabled,
		"certSecret", o.Certificates.SecretNamespace + "/" + o.Certificates.SecretName,
		"certWebhookConfiguration", o.Certificates.WebhookConfiguration,
		"certDNSNames", o.Certificates.DNSNames,
		"certDuration", o.Certificates.Duration.String(),
		"certRenewBefore", o.Certificates.RenewBefore.String(),
		"metricsBindAddress", o.MetricsBindAddress,
		"metricsSecure", o.MetricsSecure,
		"healthProbeBindAddress", o.HealthProbeBindAddress,
		"configFile", o.ConfigFile,
		"defaultMode", o.Admission.DefaultMode,
		"denyUnverifiable", o.Admission.DenyUnverifiable,
		"exemptNamespaces", o.Admission.ExemptNamespaces,
		"maxBudget", o.Admission.MaxBudget.String(),
		"timeoutMargin", o.Admission.TimeoutMargin.String(),
		"allowPrivateRegistries", o.Registry.Egress.AllowPrivate,
		"insecureRegistries", o.Registry.Egress.InsecureRegistries,
		"registryCAFile", o.Registry.Egress.CAFile,
		"registryProxy", proxyHost(o.Registry.Egress.Proxy),
		"nodeCredentialRegistries", o.Registry.NodeCredentialRegistries,
		"registryMirrors", registry.MirrorsString(o.Registry.Mirrors),
		"singlePlatformCheck", o.Registry.SinglePlatformCheck,
		"singlePlatformCheckSkip", o.Registry.SinglePlatformCheckSkip,
		"autoscaledPlatforms", o.Admission.AutoscaledPlatforms,
		"kubeAPIQPS", o.KubeAPIQPS,
		"kubeAPIBurst", o.KubeAPIBurst,
	}
}

// proxyHost keeps the scheme and host of a proxy URL and drops user info, path and query.
func proxyHost(proxy string) string {
	if proxy == "" {
		return ""
	}
	u, err := url.Parse(proxy)
	if err != nil {
		return "<unparsable>"
	}
	return u.Scheme + "://" + u.Host
}
