package reverify

import (
	"time"

	"github.com/spf13/pflag"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/pullguard/pullguard/pkg/config"
)

// ConfigSection is the key of the re-verifier's section of the config file.
const ConfigSection = "reverify"

// dockerHub is the registry host Docker Hub images name; it gets its own, stricter budget
// (anonymous pulls are rate-limited per IP, and a whole cluster shares few IPs).
const dockerHub = "docker.io"

// Config is the re-verifier's own settings; the registry engine's and the admission
// decision's come from registry.Options and admission.Config, bound by the same flags and keys.
type Config struct {
	// ScanInterval is how often every workload is checked, spread over the interval.
	ScanInterval time.Duration
	// CheckTimeout bounds the registry work of one workload (waits for the host budget included).
	CheckTimeout time.Duration
	// HostQPS and HostBurst are each registry host's request budget; DockerHubQPS and
	// DockerHubBurst Docker Hub's.
	HostQPS        float32
	HostBurst      int
	DockerHubQPS   float32
	DockerHubBurst int
	// SecretPollInterval is how often each pull Secret and ServiceAccount a checked workload
	// read is read again by name (never watched); SecretPollQPS bounds those reads.
	SecretPollInterval time.Duration
	SecretPollQPS      float32
	// PlatformRescanSpread is what the re-check of every workload is spread over when the set
	// of node platforms changes.
	PlatformRescanSpread time.Duration
	// TriggerWorkers is how many workloads the event-driven checks check at a time.
	TriggerWorkers int
	// TriggerFreshness is how old a verdict of the current scan an event-driven check may
	// reuse; older ones are asked again.
	TriggerFreshness time.Duration
}

// DefaultConfig is the safe default: an hourly scan, 5 requests/s (burst 10) per host, 1/s
// (burst 5) to Docker Hub; pull secrets polled every minute at 10 reads/s at most; a platform
// change re-checked over 5 minutes by 2 workers, which reuse the scan's verdicts of the last
// minute only.
func DefaultConfig() Config {
	return Config{ScanInterval: time.Hour, CheckTimeout: 2 * time.Minute, HostQPS: 5, HostBurst: 10, DockerHubQPS: 1, DockerHubBurst: 5,
		SecretPollInterval: time.Minute, SecretPollQPS: 10, PlatformRescanSpread: 5 * time.Minute, TriggerWorkers: 2,
		TriggerFreshness: time.Minute}
}

// AddFlags binds c to flags of fs and keys of the config file's "reverify" section.
func (c *Config) AddFlags(fs *pflag.FlagSet) {
	b := config.NewBinder(fs, ConfigSection)
	b.Duration(&c.ScanInterval, "scan-interval", "scanInterval", "How often every workload is re-verified; each scan is spread over the interval, jittered.")
	b.Duration(&c.CheckTimeout, "reverify-check-timeout", "checkTimeout", "Bound on the registry work of one workload, waits for the per-host budget included; unanswered images are unverifiable (warn).")
	b.Float32(&c.HostQPS, "reverify-host-qps", "hostQPS", "Registry requests per second the re-verifier sends to one registry host.")
	b.Int(&c.HostBurst, "reverify-host-burst", "hostBurst", "Burst of registry requests the re-verifier sends to one registry host.")
	b.Float32(&c.DockerHubQPS, "reverify-dockerhub-qps", "dockerHubQPS", "Registry requests per second the re-verifier sends to Docker Hub.")
	b.Int(&c.DockerHubBurst, "reverify-dockerhub-burst", "dockerHubBurst", "Burst of registry requests the re-verifier sends to Docker Hub.")
	b.Duration(&c.SecretPollInterval, "reverify-secret-poll-interval", "secretPollInterval", "How often each pull Secret and ServiceAccount a checked workload uses is read again by name; a change re-checks the workloads using it.")
	b.Float32(&c.SecretPollQPS, "reverify-secret-poll-qps", "secretPollQPS", "Reads per second of the pull Secret and ServiceAccount poll, at most.")
	b.Duration(&c.PlatformRescanSpread, "reverify-platform-rescan-spread", "platformRescanSpread", "When the set of node platforms changes, every workload is re-checked, spread over this long.")
	b.Int(&c.TriggerWorkers, "reverify-trigger-workers", "triggerWorkers", "Workloads checked at a time on a change (created, images or credentials changed, platforms changed).")
	b.Duration(&c.TriggerFreshness, "reverify-trigger-freshness", "triggerFreshness", "How old a verdict of the current scan a check triggered by a change may reuse; older ones are asked again (0: always ask).")
}

// Validate checks c; the paths are the config file's keys.
func (c Config) Validate() field.ErrorList {
	var errs field.ErrorList
	p := field.NewPath(ConfigSection)
	// Below a second a scan would start before the last one's writes settle. Short intervals
	// are for tests and demos; the per-host budget, not the interval, is what bounds the load
	// on a registry.
	if c.ScanInterval < time.Second {
		errs = append(errs, field.Invalid(p.Child("scanInterval"), c.ScanInterval.String(), "must be at least 1s"))
	}
	if c.CheckTimeout <= 0 {
		errs = append(errs, field.Invalid(p.Child("checkTimeout"), c.CheckTimeout.String(), "must be positive"))
	}
	for _, r := range []struct {
		key   string
		qps   float32
		burst int
	}{{"host", c.HostQPS, c.HostBurst}, {"dockerHub", c.DockerHubQPS, c.DockerHubBurst}} {
		if r.qps <= 0 {
			errs = append(errs, field.Invalid(p.Child(r.key+"QPS"), r.qps, "must be positive"))
		}
		if r.burst < 1 {
			errs = append(errs, field.Invalid(p.Child(r.key+"Burst"), r.burst, "must be at least 1"))
		}
	}
	if c.SecretPollInterval < time.Second {
		errs = append(errs, field.Invalid(p.Child("secretPollInterval"), c.SecretPollInterval.String(), "must be at least 1s"))
	}
	if c.SecretPollQPS <= 0 {
		errs = append(errs, field.Invalid(p.Child("secretPollQPS"), c.SecretPollQPS, "must be positive"))
	}
	if c.PlatformRescanSpread < 0 {
		errs = append(errs, field.Invalid(p.Child("platformRescanSpread"), c.PlatformRescanSpread.String(), "must not be negative"))
	}
	if c.TriggerWorkers < 1 {
		errs = append(errs, field.Invalid(p.Child("triggerWorkers"), c.TriggerWorkers, "must be at least 1"))
	}
	if c.TriggerFreshness < 0 {
		errs = append(errs, field.Invalid(p.Child("triggerFreshness"), c.TriggerFreshness.String(), "must not be negative"))
	}
	return errs
}

func (c Config) hostRate() Rate { return Rate{QPS: float64(c.HostQPS), Burst: c.HostBurst} }

func (c Config) hostOverrides() map[string]Rate {
	return map[string]Rate{dockerHub: {QPS: float64(c.DockerHubQPS), Burst: c.DockerHubBurst}}
}
