package app

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	webhookapp "github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/pkg/registry"
)

// Output formats of check.
const (
	outputText  = "text"
	outputJSON  = "json"
	outputSARIF = "sarif"
)

// --fail-on values.
const (
	failOnNotPullable  = "not-pullable"
	failOnUnverifiable = "unverifiable"
)

// maxConcurrentChecksLimit bounds --max-concurrent-checks; the engine has its own cap on
// registry round trips (--registry-max-concurrent-requests).
const maxConcurrentChecksLimit = 256

// checkOptions is every setting of `pullguard check`.
type checkOptions struct {
	Filenames      []string
	Kustomizations []string
	Recursive      bool
	Namespace      string
	DockerConfig   string
	Platforms      []string
	Output         string
	FailOn         string
	Verbose        bool
	Timeout        time.Duration
	// MaxConcurrentChecks bounds the images checked at once.
	MaxConcurrentChecks int
	MaxFileBytes        int64
	ConfigFile          string

	Registry registry.Options
}

func defaultCheckOptions() checkOptions {
	r := registry.DefaultOptions()
	// One run checks each image once: the verdict cache only has to outlive the run.
	r.CacheSize, r.IndexCacheSize = 10_000, 1_000
	return checkOptions{
		Namespace:           "default",
		Output:              outputText,
		FailOn:              failOnNotPullable,
		Timeout:             2 * time.Minute,
		MaxConcurrentChecks: 16,
		MaxFileBytes:        64 << 20,
		Registry:            r,
	}
}

func (o *checkOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringArrayVarP(&o.Filenames, "filename", "f", o.Filenames,
		`File, directory or "-" (standard input) of YAML or JSON manifests; repeatable. Directories give their .yaml, .yml and .json files.`)
	fs.StringArrayVarP(&o.Kustomizations, "kustomize", "k", o.Kustomizations, "Kustomization directory, rendered as kubectl apply -k does; repeatable.")
	fs.BoolVarP(&o.Recursive, "recursive", "R", o.Recursive, "Read the directories of -f recursively.")
	fs.StringVarP(&o.Namespace, "namespace", "n", o.Namespace, "Namespace of the objects that name none.")
	fs.StringVar(&o.DockerConfig, "docker-config", o.DockerConfig,
		"A Docker config.json whose auths are the nodes' credentials, and stand in for pull secrets the manifests name but do not contain (as when CI creates them from the same login). Never printed.")
	fs.StringSliceVar(&o.Platforms, "platform", o.Platforms,
		"Platforms of the cluster's nodes, os/arch[/variant], comma-separated (linux/amd64,linux/arm64). Without it, platforms are not checked.")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text, json or sarif.")
	fs.StringVar(&o.FailOn, "fail-on", o.FailOn, "not-pullable: exit 1 only when an image will not pull; unverifiable: also exit 3 when some could not be verified.")
	fs.BoolVarP(&o.Verbose, "verbose", "v", o.Verbose, "Also list pullable images and the objects that were skipped.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Longest the whole check may take; images not verified by then are unverifiable.")
	fs.IntVar(&o.MaxConcurrentChecks, "max-concurrent-checks", o.MaxConcurrentChecks, "Images checked at once.")
	fs.Int64Var(&o.MaxFileBytes, "max-file-bytes", o.MaxFileBytes, "Largest input file read, in bytes.")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile,
		"A webhook configuration file (apiVersion config.pullguard.io/v1alpha1): its registry section applies. Flags given on the command line win.")
	addRegistryFlags(fs, &o.Registry)
}

// addRegistryFlags binds the webhook's registry engine flags, with the same names and meaning.
//
// Temporary: replaced by the registry package's shared flag binding once it lands.
func addRegistryFlags(fs *pflag.FlagSet, r *registry.Options) {
	fs.StringSliceVar(&r.Egress.AllowPrivate, "allow-private-registries", r.Egress.AllowPrivate,
		"Hosts (name[:port]) and CIDRs exempt from the network guard, e.g. an in-cluster registry. Every other private, loopback or link-local address is refused.")
	fs.StringSliceVar(&r.Egress.InsecureRegistries, "insecure-registries", r.Egress.InsecureRegistries,
		"Registry hosts (host[:port]) reached over plain HTTP. Every other registry is HTTPS only.")
	fs.StringVar(&r.Egress.CAFile, "registry-ca-file", r.Egress.CAFile, "PEM bundle trusted for registries in addition to the system roots.")
	fs.StringVar(&r.Egress.Proxy, "registry-proxy", r.Egress.Proxy, "HTTP(S) proxy URL for registry traffic. Proxy environment variables are never used.")
	fs.StringSliceVar(&r.NodeCredentialRegistries, "node-credential-registries", r.NodeCredentialRegistries,
		"Registry patterns (kubelet matchImages syntax) the nodes hold credentials for; 401/403/404 there is unverifiable. The default lists ECR, GCR, Artifact Registry and ACR.")
	fs.Var(&mirrorsValue{m: &r.Mirrors}, "registry-mirror",
		"A mirror the nodes' containerd tries before a registry, as REGISTRY=HOST[:PORT]; repeatable, in the nodes' order.")
	fs.BoolVar(&r.SinglePlatformCheck, "single-platform-check", r.SinglePlatformCheck,
		"Read the config of single-platform images to warn when they are built for a platform the nodes do not run.")
	fs.StringSliceVar(&r.SinglePlatformCheckSkip, "single-platform-check-skip", r.SinglePlatformCheckSkip,
		"Registry patterns left out of --single-platform-check because they count its manifest GET as a pull. The default is Docker Hub.")
	fs.Var(&timeoutsValue{&r.Egress.DialTimeout, &r.Egress.TLSHandshakeTimeout, &r.Egress.ResponseHeaderTimeout},
		"registry-timeout", "Timeout for each registry dial, TLS handshake and response header.")
	fs.Int64Var(&r.Egress.MaxManifestBytes, "max-manifest-bytes", r.Egress.MaxManifestBytes, "Largest manifest or index accepted from a registry, in bytes.")
	fs.IntVar(&r.MaxRetries, "registry-max-retries", r.MaxRetries, "Retries of one registry request after a transient failure (0-3).")
	fs.IntVar(&r.MaxConcurrentRequests, "registry-max-concurrent-requests", r.MaxConcurrentRequests, "Registry round trips in flight.")
}

// loadRegistryConfig applies the registry section of a webhook configuration file.
//
// Temporary: replaced by the shared registry configuration section once it lands.
func loadRegistryConfig(path string, r *registry.Options) error {
	o := webhookapp.DefaultOptions()
	o.Registry = *r
	if err := webhookapp.LoadConfigFile(path, &o); err != nil {
		return fmt.Errorf("--config: %w", err)
	}
	*r = o.Registry
	return nil
}

func newCheckFlagSet(o *checkOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("check", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	o.addFlags(fs)
	fs.BoolP("help", "h", false, "Print this help and exit.")
	return fs
}

// parseCheckArgs builds the options from args and the --config file they name: the file on
// top of the defaults, then the command line on top of the file, as the webhook does.
func parseCheckArgs(args []string) (checkOptions, error) {
	o := defaultCheckOptions()
	fs := newCheckFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if help, _ := fs.GetBool("help"); help {
		return o, pflag.ErrHelp
	}
	// Positional arguments are files, as in `pullguard check examples/`.
	o.Filenames = append(o.Filenames, fs.Args()...)
	if o.ConfigFile != "" {
		file, positional := o.ConfigFile, fs.Args()
		o = defaultCheckOptions()
		if err := loadRegistryConfig(file, &o.Registry); err != nil {
			return o, err
		}
		if err := newCheckFlagSet(&o).Parse(args); err != nil {
			return o, err
		}
		o.Filenames = append(o.Filenames, positional...)
	}
	return o, o.validate()
}

func (o checkOptions) validate() error {
	switch {
	case len(o.Filenames) == 0 && len(o.Kustomizations) == 0:
		return errors.New("nothing to check: give manifests with -f FILE|DIR|- or -k DIR")
	case o.Output != outputText && o.Output != outputJSON && o.Output != outputSARIF:
		return fmt.Errorf("--output must be text, json or sarif, got %q", o.Output)
	case o.FailOn != failOnNotPullable && o.FailOn != failOnUnverifiable:
		return fmt.Errorf("--fail-on must be not-pullable or unverifiable, got %q", o.FailOn)
	case o.Timeout <= 0:
		return fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	case o.MaxConcurrentChecks < 1 || o.MaxConcurrentChecks > maxConcurrentChecksLimit:
		return fmt.Errorf("--max-concurrent-checks must be 1-%d, got %d", maxConcurrentChecksLimit, o.MaxConcurrentChecks)
	case o.MaxFileBytes < 1:
		return fmt.Errorf("--max-file-bytes must be positive, got %d", o.MaxFileBytes)
	case o.Namespace == "":
		return errors.New("--namespace must not be empty")
	}
	if _, err := parsePlatforms(o.Platforms); err != nil {
		return err
	}
	if err := o.Registry.Validate(); err != nil {
		return fmt.Errorf("registry options: %w", err)
	}
	return nil
}

// parsePlatforms accepts os/arch[/variant] only: containerd's parser would fill in this
// machine's OS or architecture where one is missing, which says nothing about the nodes.
func parsePlatforms(list []string) ([]ocispec.Platform, error) {
	var out []ocispec.Platform
	for _, s := range list {
		if n := strings.Count(s, "/"); n < 1 || n > 2 {
			return nil, fmt.Errorf("--platform: %q is not os/arch or os/arch/variant", s)
		}
		p, err := platforms.Parse(s)
		if err != nil {
			return nil, fmt.Errorf("--platform: %q: %w", s, err)
		}
		out = append(out, platforms.Normalize(p))
	}
	return out, nil
}

// timeoutsValue sets several durations from one flag, as the webhook's --registry-timeout.
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

// mirrorsValue is --registry-mirror REGISTRY=HOST, as the webhook's: the first one replaces
// the config file's mirrors, the next ones add to them.
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
