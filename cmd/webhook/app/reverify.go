package app

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strings"
	"sync"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	"github.com/spf13/pflag"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/utils/ptr"
	ctrl "sigs.k8s.io/controller-runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	ctrlconfig "sigs.k8s.io/controller-runtime/pkg/config"
	"sigs.k8s.io/controller-runtime/pkg/healthz"
	ctrlmetrics "sigs.k8s.io/controller-runtime/pkg/metrics"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/config"
	"github.com/pullguard/pullguard/pkg/reverify"
)

// ReverifyCommand is the first argument that makes Main run the re-verifier (`webhook reverify`).
const ReverifyCommand = "reverify"

// ReverifyLeaseName is the Lease the re-verifier's replicas elect their leader with; only the
// leader scans.
const ReverifyLeaseName = "pullguard-reverify"

// reverifyComponent names the re-verifier in Events and logs.
const reverifyComponent = "pullguard-reverify"

// ReverifyOptions is every setting of `webhook reverify`: the webhook's (API client, metrics,
// probes, logging, admission policy, registry engine, and the same --config file), leader
// election, and the re-verifier's own (reverify.Config). The webhook server's settings are
// accepted, so one config file serves both, and unused.
type ReverifyOptions struct {
	Options
	// LeaderElect makes the replicas elect a leader with the Lease ReverifyLeaseName; only the
	// leader scans.
	LeaderElect bool
	// LeaderElectionNamespace holds the Lease; empty: the pod's own namespace.
	LeaderElectionNamespace string
	Reverify                reverify.Config
}

// DefaultReverifyOptions are the webhook's defaults, leader election on, and reverify's.
func DefaultReverifyOptions() ReverifyOptions {
	return ReverifyOptions{Options: DefaultOptions(), LeaderElect: true, Reverify: reverify.DefaultConfig()}
}

// addReverifyFlags binds what only the re-verifier has, under the config file's reverify section.
func (o *ReverifyOptions) addReverifyFlags(fs *pflag.FlagSet) {
	b := config.NewBinder(fs, reverify.ConfigSection)
	b.Bool(&o.LeaderElect, "leader-elect", "leaderElect",
		"Elect a leader among the re-verifier's replicas (Lease "+ReverifyLeaseName+"): only the leader scans, so two replicas never ask the registries twice. false: every replica scans.")
	b.String(&o.LeaderElectionNamespace, "leader-election-namespace", "leaderElectionNamespace",
		"Namespace of the leader election Lease. Empty: the pod's own namespace (only known in a cluster).")
	o.Reverify.AddFlags(fs)
}

// newReverifyFlagSet is the webhook's flag set plus the re-verifier's flags: every shared
// setting is the webhook's own definition.
func newReverifyFlagSet(o *ReverifyOptions) *pflag.FlagSet {
	fs := newFlagSet(&o.Options)
	o.addReverifyFlags(fs)
	return fs
}

var reverifyFlagsByKey = sync.OnceValue(func() map[string]string {
	o := DefaultReverifyOptions()
	return config.FlagsByKey(newReverifyFlagSet(&o))
})

// Validate reports every invalid option, each named by its flag and its config-file key.
func (o ReverifyOptions) Validate() error {
	errs := o.Options.validate()
	errs = append(errs, o.Reverify.Validate()...)
	if ns := o.LeaderElectionNamespace; ns != "" {
		// An unset POD_NAMESPACE leaves the chart's "$(POD_NAMESPACE)" unexpanded: caught here.
		if msgs := validation.IsDNS1123Label(ns); len(msgs) > 0 {
			errs = append(errs, field.Invalid(field.NewPath(reverify.ConfigSection, "leaderElectionNamespace"), ns, strings.Join(msgs, "; ")))
		}
	}
	return config.ExplainWith(errs, reverifyFlagsByKey())
}

// parseReverifyArgs is parseArgs for `webhook reverify` (args without the command word).
func parseReverifyArgs(args []string) (ReverifyOptions, error) {
	return parseCommand(args, DefaultReverifyOptions, newReverifyFlagSet, newReverifyFlagSet,
		func(o *ReverifyOptions) string { return o.ConfigFile }, ReverifyOptions.Validate)
}

// reverifyUsage is the --help text of `webhook reverify`.
func reverifyUsage() string {
	o := DefaultReverifyOptions()
	return "pullguard webhook reverify: checks running workloads again, on the leader only, and writes an OpenReports Report per workload, Events when a result changes, and metrics.\n\n" +
		"Usage:\n  webhook reverify [flags]\n\nThe webhook server's flags are accepted (one --config file serves both) and unused.\n\nFlags:\n" +
		newReverifyFlagSet(&o).FlagUsages()
}

// mainReverify is Main for `webhook reverify`.
func mainReverify(ctx context.Context, args []string, stdout io.Writer, stderr io.Writer) error {
	opts, err := parseReverifyArgs(args)
	if done, err := parsed(err, stdout, reverifyUsage); done {
		return err
	}
	log, err := commandLogger(stderr, opts.Options, "reverify")
	if err != nil {
		return err
	}
	log.Info("Starting pullguard re-verifier", append(startupKeys(opts.Options),
		"leaderElect", opts.LeaderElect,
		"leaderElectionNamespace", opts.LeaderElectionNamespace,
		"scanInterval", opts.Reverify.ScanInterval.String(),
		"checkTimeout", opts.Reverify.CheckTimeout.String(),
		"hostQPS", opts.Reverify.HostQPS, "hostBurst", opts.Reverify.HostBurst,
		"dockerHubQPS", opts.Reverify.DockerHubQPS, "dockerHubBurst", opts.Reverify.DockerHubBurst,
		// The registry cache settings are the webhook's; the re-verifier keeps no verdicts.
		"verdictCache", "off",
	)...)
	return RunReverify(ctx, opts)
}

// RunReverify runs the re-verifier with opts until ctx is cancelled: the webhook's engine and
// admission decision, asked again about every running workload, on the elected leader only.
func RunReverify(ctx context.Context, opts ReverifyOptions) error {
	if err := opts.Validate(); err != nil {
		return err
	}
	restCfg, err := kubeRESTConfig(opts.Options)
	if err != nil {
		return err
	}
	engine, err := newEngine(scanEngineOptions(opts.Options))
	if err != nil {
		return err
	}
	scheme, err := newScheme(openreports.AddToScheme)
	if err != nil {
		return err
	}
	mgrOpts := reverifyManagerOptions(opts, scheme)
	mgrOpts.NewCache = newStopAwareCache(ctx.Done())
	mgr, err := ctrl.NewManager(restCfg, mgrOpts)
	if err != nil {
		return fmt.Errorf("creating the manager: %w", err)
	}
	metrics, err := reverify.NewMetrics(ctrlmetrics.Registry)
	if err != nil {
		return fmt.Errorf("registering the re-verifier's metrics: %w", err)
	}
	checker, err := reverify.NewChecker(opts.Reverify, engine, nil, metrics)
	if err != nil {
		return err
	}
	acfg := opts.Admission
	// The re-verifier reads the pull secrets itself and is nobody's caller: the credential
	// notes an admission keeps for authenticated callers are its own to report.
	acfg.TrustUnauthenticatedCallers = true
	handler, err := admission.NewHandler(acfg, checker, mgr.GetAPIReader(), mgr.GetCache(), nil)
	if err != nil {
		return err
	}
	if err := admission.RegisterInformers(mgr.GetCache(), reverifyInformerObjects()...); err != nil {
		return err
	}
	scanner, err := reverify.NewScanner(opts.Reverify, handler, checker, mgr.GetCache(), mgr.GetClient(),
		mgr.GetEventRecorder(reverifyComponent), metrics, nil)
	if err != nil {
		return err
	}
	if err := scanner.SetupWithManager(mgr); err != nil {
		return fmt.Errorf("setting up the scanner: %w", err)
	}
	if err := mgr.AddHealthzCheck("ping", healthz.Ping); err != nil {
		return fmt.Errorf("adding the liveness check: %w", err)
	}
	if err := mgr.AddReadyzCheck("informers", cachesSynced(mgr.GetCache(), cacheSyncProbeTimeout)); err != nil {
		return fmt.Errorf("adding the informer readiness check: %w", err)
	}
	if err := mgr.Start(ctx); err != nil {
		return fmt.Errorf("running the manager: %w", err)
	}
	return nil
}

// scanEngineOptions are the webhook's engine options with the verdict cache off: every scan must
// ask the registries again. A verdict kept across scans (5 min for a tag, 24 h for a digest by
// default) would hide exactly the deleted tags and manifests the re-verifier is there to find,
// and a stale-on-error verdict would report a registry outage as pass. Within a scan the
// scanner's own de-duplication shares one answer among every workload naming the image.
func scanEngineOptions(o Options) Options {
	r := &o.Registry
	r.PositiveTTL, r.DigestTTL, r.NegativeTTL, r.UnverifiableTTL = 0, 0, 0, 0
	r.StaleOnError = false
	return o
}

// reverifyInformerObjects are the informers the re-verifier reads: the handler's (Namespace
// metadata, Nodes) and the checked kinds. Never Secrets.
func reverifyInformerObjects() []client.Object {
	objs := admission.InformerObjects()
	for _, k := range reverify.Kinds {
		objs = append(objs, k.New())
	}
	return objs
}

// reverifyManagerOptions maps opts onto the manager: leader election on the Lease
// ReverifyLeaseName, the checked kinds and the handler's Nodes cached slimmed, Secrets and
// ServiceAccounts read one by one as the webhook reads them, Reports read and written without a
// cache (a cluster running Kyverno holds many Reports that are not pullguard's), and /metrics as
// the webhook serves it.
func reverifyManagerOptions(opts ReverifyOptions, scheme *k8sruntime.Scheme) ctrl.Options {
	byObject := admission.InformerOptions()
	maps.Copy(byObject, reverify.InformerOptions())
	o := baseManagerOptions(opts.Options, scheme, byObject, append(admission.UncachedObjects(), &openreports.Report{}))
	o.LeaderElection = opts.LeaderElect
	o.LeaderElectionID = ReverifyLeaseName
	o.LeaderElectionNamespace = opts.LeaderElectionNamespace
	// A replica that stops hands the Lease over at once rather than after its duration.
	o.LeaderElectionReleaseOnCancel = true
	// controller-runtime refuses a second controller of a name in one process, for the sake of
	// its metrics; the binary runs one manager, but Main runs again in the same process in tests
	// and `make demo`, after the first one stopped.
	o.Controller = ctrlconfig.Controller{SkipNameValidation: ptr.To(true)}
	return o
}
