package app

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/spf13/pflag"
	"go.uber.org/zap/zapcore"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/config"
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
	// ClientCAFile, when set, makes the webhook server require a client certificate signed by
	// one of its CAs: the API server's, configured in its admission configuration (README.md).
	ClientCAFile string
	// Certificates, when enabled, make the serving certificate in CertDir the webhook's own.
	Certificates SelfManagedCerts

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
		Certificates:            defaultSelfManagedCerts(),
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

// addFlags binds every option to a flag and, but for --config, to its key in the config file:
// the server's at the top level, the admission policy's and the registry engine's in their
// packages' sections (package config).
func (o *Options) addFlags(fs *pflag.FlagSet) {
	b := config.NewBinder(fs, "")
	b.String(&o.Kubeconfig, "kubeconfig", "kubeconfig",
		"Path to a kubeconfig. Empty: $KUBECONFIG if set, else the in-cluster service account.")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile,
		"Path to a "+configKind+" file (apiVersion "+config.APIVersion+"). Flags set on the command line override it.")

	b.Int(&o.Port, "port", "port", "Port the HTTPS webhook server listens on.")
	b.String(&o.BindAddress, "bind-address", "bindAddress",
		"Address the webhook server binds to. Empty: all interfaces.")
	b.String(&o.CertDir, "cert-dir", "certDir",
		"Directory holding the serving certificate as tls.crt and tls.key; both are reloaded when they change.")
	b.String(&o.TLSMinVersion, "tls-min-version", "tlsMinVersion", "Minimum TLS version the webhook server accepts: 1.2 or 1.3.")
	b.Bool(&o.EnableHTTP2, "enable-http2", "enableHTTP2",
		"Offer HTTP/2 on the webhook server. Off by default because of the HTTP/2 Rapid Reset and Stream Cancellation CVEs.")
	b.String(&o.ClientCAFile, "client-ca-file", "clientCAFile",
		"PEM bundle of the CA that signs the API server's client certificate. Set: the webhook server requires and verifies a client certificate on every connection (reloaded when the file changes). Empty: any client may connect.")

	o.Certificates.addFlags(fs)

	b.String(&o.MetricsBindAddress, "metrics-bind-address", "metricsBindAddress",
		`Address of the Prometheus /metrics endpoint. "0" disables it.`)
	b.Bool(&o.MetricsSecure, "metrics-secure", "metricsSecure",
		"Serve /metrics over HTTPS, only to callers the API server authenticates and authorizes for GET /metrics (bind the ClusterRole pullguard-metrics-reader to the scraper). false: plain HTTP to anyone who can connect.")
	b.String(&o.HealthProbeBindAddress, "health-probe-bind-address", "healthProbeBindAddress",
		`Address of the /healthz and /readyz endpoints. "0" disables them.`)

	b.Float32(&o.KubeAPIQPS, "kube-api-qps", "kubeAPIQPS",
		"Queries per second to the Kubernetes API server. client-go's default of 5 turns secret reads during an admission burst into seconds of client-side throttling.")
	b.Int(&o.KubeAPIBurst, "kube-api-burst", "kubeAPIBurst", "Burst of queries to the Kubernetes API server.")
	b.Duration(&o.GracefulShutdownTimeout, "graceful-shutdown-timeout", "gracefulShutdownTimeout",
		"How long in-flight admissions may take to finish after a shutdown signal. Keep it above 5s: net/http waits up to 5s for connections that were opened but have not sent a request, as the API server's HTTP client opens them.")

	b.String(&o.LogLevel, "log-level", "logging.level", "Log level: error, info, debug, or a verbosity number 0-10 (1 = debug).")
	b.String(&o.LogFormat, "log-format", "logging.format", "Log format: json or console.")

	o.Admission.AddFlags(fs)
	o.Registry.AddFlags(fs)
}

// flagsByKey is the one table from a config-file key to its flag, for messages.
var flagsByKey = sync.OnceValue(func() map[string]string {
	o := DefaultOptions()
	return config.FlagsByKey(newFlagSet(&o))
})

// flagOf names the setting at path for a message: its flag and key.
func flagOf(path *field.Path) string { return config.Label(flagsByKey(), path.String()) }

// Validate reports every invalid option, each named by its flag and its config-file key.
func (o Options) Validate() error {
	return config.ExplainWith(o.validate(), flagsByKey())
}

func (o Options) validate() field.ErrorList {
	errs := o.validateServer()
	errs = append(errs, o.validateLogging()...)
	errs = append(errs, o.Certificates.validate()...)
	errs = append(errs, o.Admission.Validate()...)
	errs = append(errs, o.Registry.Validate()...)
	if o.Registry.Egress.CAFile != "" {
		errs = append(errs, checkCAFile(field.NewPath(registry.ConfigSection, "caFile"), o.Registry.Egress.CAFile)...)
	}
	if o.ClientCAFile != "" {
		errs = append(errs, checkCAFile(field.NewPath("clientCAFile"), o.ClientCAFile)...)
	}
	// A rule across fields is reported only for a field that is valid on its own.
	for _, e := range o.validateRelations() {
		if !slices.ContainsFunc(errs, func(x *field.Error) bool { return x.Field == e.Field }) {
			errs = append(errs, e)
		}
	}
	return errs
}

var (
	pathPort    = field.NewPath("port")
	pathMetrics = field.NewPath("metricsBindAddress")
	pathHealth  = field.NewPath("healthProbeBindAddress")
)

func (o Options) validateServer() field.ErrorList {
	var errs field.ErrorList
	if o.Port < 1 || o.Port > 65535 {
		errs = append(errs, field.Invalid(pathPort, o.Port, "must be 1-65535"))
	}
	if o.BindAddress != "" && net.ParseIP(o.BindAddress) == nil && len(validation.IsDNS1123Subdomain(o.BindAddress)) > 0 {
		errs = append(errs, field.Invalid(field.NewPath("bindAddress"), o.BindAddress, "neither an IP address nor a host name"))
	}
	if o.CertDir == "" {
		errs = append(errs, field.Required(field.NewPath("certDir"), "must not be empty"))
	}
	if _, ok := tlsVersions[o.TLSMinVersion]; !ok {
		errs = append(errs, field.NotSupported(field.NewPath("tlsMinVersion"), o.TLSMinVersion, slices.Sorted(maps.Keys(tlsVersions))))
	}
	listeners := []listener{{path: pathPort, host: o.BindAddress, port: o.Port}}
	for _, a := range []struct {
		path *field.Path
		addr string
	}{{pathMetrics, o.MetricsBindAddress}, {pathHealth, o.HealthProbeBindAddress}} {
		if a.addr == "0" {
			continue
		}
		l, err := parseListenAddress(a.path, a.addr)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		listeners = append(listeners, l)
	}
	errs = append(errs, checkDistinctListeners(listeners)...)
	if o.KubeAPIQPS <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("kubeAPIQPS"), o.KubeAPIQPS, "must be positive"))
	}
	if o.KubeAPIBurst < 1 {
		errs = append(errs, field.Invalid(field.NewPath("kubeAPIBurst"), o.KubeAPIBurst, "must be at least 1"))
	}
	if o.GracefulShutdownTimeout <= 0 {
		errs = append(errs, field.Invalid(field.NewPath("gracefulShutdownTimeout"), o.GracefulShutdownTimeout.String(), "must be positive"))
	}
	return errs
}

func (o Options) validateLogging() field.ErrorList {
	var errs field.ErrorList
	if _, err := parseLogLevel(o.LogLevel); err != nil {
		errs = append(errs, field.Invalid(field.NewPath("logging", "level"), o.LogLevel, err.Error()))
	}
	if o.LogFormat != "json" && o.LogFormat != "console" {
		errs = append(errs, field.NotSupported(field.NewPath("logging", "format"), o.LogFormat, []string{"json", "console"}))
	}
	return errs
}

// validateRelations checks the deadline rules this command adds: every registry wait must fit
// inside the admission budget, or one slow registry would spend it all.
func (o Options) validateRelations() field.ErrorList {
	a, r := o.Admission, o.Registry
	budget := field.NewPath(admission.ConfigSection, "maxBudget")
	below := fmt.Sprintf("must be below %s (%s)", flagOf(budget), a.MaxBudget)
	var errs field.ErrorList
	if a.MaxBudget >= apiServerMaxTimeout {
		errs = append(errs, field.Invalid(budget, a.MaxBudget.String(),
			fmt.Sprintf("must be below %s (the API server's longest webhook timeout)", apiServerMaxTimeout)))
	}
	if a.TimeoutMargin >= a.MaxBudget {
		errs = append(errs, field.Invalid(field.NewPath(admission.ConfigSection, "timeoutMargin"), a.TimeoutMargin.String(), below))
	}
	if t := max(r.Egress.DialTimeout, r.Egress.TLSHandshakeTimeout, r.Egress.ResponseHeaderTimeout); t >= a.MaxBudget {
		errs = append(errs, field.Invalid(field.NewPath(registry.ConfigSection, "timeout"), t.String(), below))
	}
	if r.RetryBackoff >= a.MaxBudget {
		errs = append(errs, field.Invalid(field.NewPath(registry.ConfigSection, "retryBackoff"), r.RetryBackoff.String(), below))
	}
	return errs
}

// listener is one address the process will listen on, for the collision check.
type listener struct {
	path *field.Path
	host string
	port int
}

func parseListenAddress(path *field.Path, addr string) (listener, *field.Error) {
	host, portStr, err := net.SplitHostPort(addr)
	if err != nil {
		return listener{}, field.Invalid(path, addr, `must be host:port, :port or "0"`)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return listener{}, field.Invalid(path, addr, "port must be 0-65535")
	}
	return listener{path: path, host: host, port: port}, nil
}

// checkDistinctListeners rejects two servers on one port, which would otherwise surface only as
// "address already in use" from whichever server starts second.
func checkDistinctListeners(ls []listener) field.ErrorList {
	var errs field.ErrorList
	for i, a := range ls {
		for _, b := range ls[i+1:] {
			if a.port == 0 || a.port != b.port {
				continue
			}
			if a.host == b.host || a.host == "" || b.host == "" {
				errs = append(errs, field.Invalid(b.path, net.JoinHostPort(b.host, strconv.Itoa(b.port)),
					fmt.Sprintf("port %d is also used by %s", b.port, flagOf(a.path))))
			}
		}
	}
	return errs
}

// checkCAFile checks that file is a readable PEM bundle (readCABundle).
func checkCAFile(path *field.Path, file string) field.ErrorList {
	if _, err := readCABundle(file); err != nil {
		return field.ErrorList{field.Invalid(path, file, err.Error())}
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
	return parseCommand(args, DefaultOptions, newFlagSet, fileFlagSet, func(o *Options) string { return o.ConfigFile }, Options.Validate)
}

// parseCommand is the one way a command of this binary reads its settings: args parsed over
// defaults, then, when they name a --config file, the file applied (through fileFlags) over fresh
// defaults and args parsed again on top; last validate. It returns pflag.ErrHelp for --help and
// errVersion for --version.
func parseCommand[T any](args []string, defaults func() T, flags, fileFlags func(*T) *pflag.FlagSet,
	configFile func(*T) string, validate func(T) error) (T, error) {
	var none T
	o := defaults()
	fs := flags(&o)
	if err := fs.Parse(args); err != nil {
		return none, err
	}
	if help, _ := fs.GetBool("help"); help {
		return none, pflag.ErrHelp
	}
	if version, _ := fs.GetBool("version"); version {
		return none, errVersion
	}
	if fs.NArg() > 0 {
		return none, fmt.Errorf("unexpected arguments %q: every setting is a --flag", fs.Args())
	}
	if file := configFile(&o); file != "" {
		// Start again from the defaults with the file applied, then parse the command line on
		// top: only flags actually given change a value, so they win over the file, and list
		// flags replace the file's list rather than appending to it.
		o = defaults()
		if err := config.LoadFile(file, configKind, fileFlags(&o)); err != nil {
			return none, fmt.Errorf("--config: %w", err)
		}
		if err := flags(&o).Parse(args); err != nil {
			return none, err
		}
	}
	if err := validate(o); err != nil {
		return none, err
	}
	return o, nil
}

// usage is the --help text.
func usage() string {
	o := DefaultOptions()
	return "pullguard webhook: a validating admission webhook that predicts whether the kubelet can pull each image.\n\n" +
		"Usage:\n  webhook [flags]\n  webhook reverify [flags]   (the re-verifier; webhook reverify --help)\n\nFlags:\n" + newFlagSet(&o).FlagUsages()
}
