package app

import (
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/spf13/pflag"

	"github.com/pullguard/pullguard/pkg/config"
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
	// Cluster, when given, is read for the Secrets and ServiceAccounts the input does not
	// hold and, without --platform, for its Nodes' platforms.
	Cluster      clusterOptions
	DockerConfig string
	Platforms    []string
	Output       string
	FailOn       string
	Verbose      bool
	Timeout      time.Duration
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
	o.Cluster.addFlags(fs)
	fs.StringVar(&o.DockerConfig, "docker-config", o.DockerConfig,
		"A Docker config.json whose auths are the nodes' credentials, and stand in for pull secrets the manifests name but do not contain (as when CI creates them from the same login). Never printed.")
	fs.StringSliceVar(&o.Platforms, "platform", o.Platforms,
		"Platforms of the cluster's nodes, os/arch[/variant], comma-separated (linux/amd64,linux/arm64). Without it, the Nodes of the cluster given with --kubeconfig or --context; without either, platforms are not checked.")
	fs.StringVarP(&o.Output, "output", "o", o.Output, "Output format: text, json or sarif.")
	fs.StringVar(&o.FailOn, "fail-on", o.FailOn, "not-pullable: exit 1 only when an image will not pull; unverifiable: also exit 3 when some could not be verified.")
	fs.BoolVarP(&o.Verbose, "verbose", "v", o.Verbose, "Also list pullable images and the objects that were skipped.")
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Longest the whole check may take; images not verified by then are unverifiable.")
	fs.IntVar(&o.MaxConcurrentChecks, "max-concurrent-checks", o.MaxConcurrentChecks, "Images checked at once.")
	fs.Int64Var(&o.MaxFileBytes, "max-file-bytes", o.MaxFileBytes, "Largest input file read, in bytes.")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile,
		"A "+configKind+" file (apiVersion "+config.APIVersion+") with the registry engine's settings under \"registry\", as in the webhook's file. Flags given on the command line win.")
	o.Registry.AddFlags(fs)
}

// configKind is the kind of check's --config file: the config.pullguard.io/v1alpha1 group's
// shared sections, of which check reads "registry" (the engine's settings, as in the webhook's
// WebhookConfiguration).
const configKind = "CheckConfiguration"

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
		// The file on top of the defaults, then the command line on top of the file: only
		// flags actually given change a value, and list flags replace the file's lists.
		file, positional := o.ConfigFile, fs.Args()
		o = defaultCheckOptions()
		if err := config.LoadFile(file, configKind, newCheckFlagSet(&o)); err != nil {
			return o, fmt.Errorf("--config: %w", err)
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
	if errs := o.Registry.Validate(); len(errs) > 0 {
		d := defaultCheckOptions()
		return config.Explain(errs, newCheckFlagSet(&d))
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
