package app

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	k8sruntime "k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/yaml"
)

// chartArgs are the re-verifier container's args as the install ships them (manifests/ is
// rendered from the chart), with $(POD_NAMESPACE) expanded as the kubelet expands it.
func chartArgs(t *testing.T) []string {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "..", "manifests", "components", "reverifier", "deployment.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict(data, &d); err != nil {
		t.Fatal(err)
	}
	c := d.Spec.Template.Spec.Containers[0]
	if len(c.Command) != 1 || c.Command[0] != "/webhook" || len(c.Args) == 0 || c.Args[0] != ReverifyCommand {
		t.Fatalf("the re-verifier runs %q %q, want /webhook reverify ...", c.Command, c.Args)
	}
	args := make([]string, 0, len(c.Args)-1)
	for _, a := range c.Args[1:] {
		args = append(args, strings.ReplaceAll(a, "$(POD_NAMESPACE)", "pullguard-system"))
	}
	return args
}

func TestReverifyParsesTheChartsArgs(t *testing.T) {
	args := chartArgs(t)
	config := writeFile(t, header+"registry:\n  timeout: 1500ms\nreverify:\n  scanInterval: 30m\n  hostQPS: 2\n")
	tests := map[string]struct {
		args  []string
		check map[string]func(ReverifyOptions) (any, any)
	}{
		"as shipped": {
			args: args,
			check: map[string]func(ReverifyOptions) (any, any){
				"scan interval":     func(o ReverifyOptions) (any, any) { return o.Reverify.ScanInterval, time.Hour },
				"leader election":   func(o ReverifyOptions) (any, any) { return o.LeaderElect, true },
				"lease namespace":   func(o ReverifyOptions) (any, any) { return o.LeaderElectionNamespace, "pullguard-system" },
				"metrics address":   func(o ReverifyOptions) (any, any) { return o.MetricsBindAddress, ":8080" },
				"health address":    func(o ReverifyOptions) (any, any) { return o.HealthProbeBindAddress, ":8081" },
				"log format":        func(o ReverifyOptions) (any, any) { return o.LogFormat, "json" },
				"secure metrics":    func(o ReverifyOptions) (any, any) { return o.MetricsSecure, true },
				"webhook's API QPS": func(o ReverifyOptions) (any, any) { return o.KubeAPIQPS, DefaultOptions().KubeAPIQPS },
			},
		},
		// The chart adds --config when the webhook has one, after the interval flag: the
		// command line wins over the file's reverify section, the file's registry section applies.
		"with the webhook's config file": {
			args: append(append([]string{}, args...), "--config="+config),
			check: map[string]func(ReverifyOptions) (any, any){
				"flag wins over the file": func(o ReverifyOptions) (any, any) { return o.Reverify.ScanInterval, time.Hour },
				"file's reverify section": func(o ReverifyOptions) (any, any) { return o.Reverify.HostQPS, float32(2) },
				"file's registry section": func(o ReverifyOptions) (any, any) { return o.Registry.Egress.DialTimeout, 1500 * time.Millisecond },
			},
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseReverifyArgs(tc.args)
			if err != nil {
				t.Fatalf("parseReverifyArgs(%q) = %v", tc.args, err)
			}
			for what, f := range tc.check {
				if got, want := f(o); got != want {
					t.Errorf("%s: got %v, want %v", what, got, want)
				}
			}
		})
	}
}

func TestReverifyOptions(t *testing.T) {
	tests := map[string]struct {
		args []string
		got  func(ReverifyOptions) any
		want any
	}{
		"defaults: hourly":           {nil, func(o ReverifyOptions) any { return o.Reverify.ScanInterval }, time.Hour},
		"defaults: leader elected":   {nil, func(o ReverifyOptions) any { return o.LeaderElect }, true},
		"short interval for tests":   {[]string{"--scan-interval=5s"}, func(o ReverifyOptions) any { return o.Reverify.ScanInterval }, 5 * time.Second},
		"leader election off":        {[]string{"--leader-elect=false"}, func(o ReverifyOptions) any { return o.LeaderElect }, false},
		"host budget":                {[]string{"--reverify-host-qps=0.5", "--reverify-host-burst=2"}, func(o ReverifyOptions) any { return o.Reverify.HostBurst }, 2},
		"webhook's admission flag":   {[]string{"--default-mode=off"}, func(o ReverifyOptions) any { return string(o.Admission.DefaultMode) }, "off"},
		"webhook's registry flag":    {[]string{"--allow-private-registries=127.0.0.1"}, func(o ReverifyOptions) any { return strings.Join(o.Registry.Egress.AllowPrivate, ",") }, "127.0.0.1"},
		"webhook's API client flags": {[]string{"--kube-api-qps=20"}, func(o ReverifyOptions) any { return o.KubeAPIQPS }, float32(20)},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o, err := parseReverifyArgs(tc.args)
			if err != nil {
				t.Fatalf("parseReverifyArgs(%q) = %v", tc.args, err)
			}
			if got := tc.got(o); got != tc.want {
				t.Errorf("got %v, want %v", got, tc.want)
			}
		})
	}
}

func TestReverifyRejectsInvalidOptions(t *testing.T) {
	tests := map[string]struct {
		args []string
		want []string
		// file, when set, is written and named by a --config flag added to args.
		file string
	}{
		"interval too short": {args: []string{"--scan-interval=10ms"}, want: []string{"--scan-interval", "reverify.scanInterval"}},
		"unexpanded namespace": {args: []string{"--leader-election-namespace=$(POD_NAMESPACE)"},
			want: []string{"--leader-election-namespace", "reverify.leaderElectionNamespace"}},
		"zero host budget":   {args: []string{"--reverify-host-qps=0"}, want: []string{"--reverify-host-qps"}},
		"webhook's rules":    {args: []string{"--max-budget=45s"}, want: []string{"--max-budget"}},
		"positional":         {args: []string{"scan"}, want: []string{"unexpected arguments"}},
		"unknown flag":       {args: []string{"--scan-intervall=1h"}, want: []string{"--scan-intervall"}},
		"file of wrong type": {file: header + "reverify:\n  scanInterval: 5\n", want: []string{"reverify.scanInterval"}},
		"file's unknown key": {file: header + "reverify:\n  interval: 1h\n", want: []string{`"reverify.interval"`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.file != "" {
				tc.args = append(tc.args, "--config="+writeFile(t, tc.file))
			}
			_, err := parseReverifyArgs(tc.args)
			if err == nil {
				t.Fatalf("parseReverifyArgs(%q) = nil error", tc.args)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
		})
	}
}

// TestWebhookAcceptsTheReverifySection: the chart mounts one config file into the webhook and
// the re-verifier, so the webhook must take the reverify section (checked, unused).
func TestWebhookAcceptsTheReverifySection(t *testing.T) {
	tests := map[string]struct {
		content string
		wantErr string
	}{
		"reverify section":     {header + "reverify:\n  scanInterval: 30m\n  leaderElect: true\n", ""},
		"bad type is reported": {header + "reverify:\n  hostBurst: many\n", "reverify.hostBurst"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := parseArgs([]string{"--config", writeFile(t, tc.content)})
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("parseArgs = %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("parseArgs = %v, want an error naming %s", err, tc.wantErr)
			}
		})
	}
	// The webhook's command line does not take the re-verifier's flags.
	if _, err := parseArgs([]string{"--scan-interval=1h"}); err == nil {
		t.Error("the webhook accepted --scan-interval")
	}
}

func TestMainReverifyHelpDocumentsEveryFlag(t *testing.T) {
	var stdout, stderr syncBuffer
	if err := Main(t.Context(), []string{ReverifyCommand, "--help"}, &stdout, &stderr); err != nil {
		t.Fatalf("Main(reverify --help) = %v", err)
	}
	help := stdout.String()
	if !strings.Contains(help, "webhook reverify [flags]") {
		t.Errorf("reverify --help is not the re-verifier's:\n%s", help)
	}
	o := DefaultReverifyOptions()
	newReverifyFlagSet(&o).VisitAll(func(f *pflag.Flag) {
		if !strings.Contains(help, "--"+f.Name+" ") && !strings.Contains(help, "--"+f.Name+"[") {
			t.Errorf("reverify --help does not document --%s", f.Name)
		}
	})
	if !strings.Contains(help, `--scan-interval duration`) || !strings.Contains(help, "(default 1h0m0s)") {
		t.Errorf("reverify --help does not show --scan-interval's default")
	}
}

func TestReverifyManagerOptions(t *testing.T) {
	o := DefaultReverifyOptions()
	o.LeaderElectionNamespace = "pullguard-system"
	o.MetricsBindAddress = ":8080"
	got := reverifyManagerOptions(o, k8sruntime.NewScheme())
	uncached := map[string]bool{}
	for _, obj := range got.Client.Cache.DisableFor {
		uncached[fmt.Sprintf("%T", obj)] = true
	}
	cached := map[string]bool{}
	for obj, bo := range got.Cache.ByObject {
		cached[fmt.Sprintf("%T", obj)] = bo.Transform != nil
	}
	tests := map[string]struct{ got, want any }{
		"leader election":           {got.LeaderElection, true},
		"lease name":                {got.LeaderElectionID, "pullguard-reverify"},
		"lease namespace":           {got.LeaderElectionNamespace, "pullguard-system"},
		"lease released on stop":    {got.LeaderElectionReleaseOnCancel, true},
		"secure metrics as webhook": {got.Metrics.SecureServing, true},
		"metrics authorized":        {got.Metrics.FilterProvider != nil, true},
		"secrets never cached":      {uncached["*v1.Secret"], true},
		"service accounts uncached": {uncached["*v1.ServiceAccount"], true},
		"reports uncached":          {uncached["*v1alpha1.Report"], true},
		"no secret informer":        {cached["*v1.Secret"], false},
		"deployments slimmed":       {cached["*v1.Deployment"], true},
		"cronjobs slimmed":          {cached["*v1.CronJob"], true},
		"nodes slimmed":             {cached["*v1.Node"], true},
		"missing informer fails":    {got.Cache.ReaderFailOnMissingInformer, true},
		"no webhook server":         {got.WebhookServer, nil},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
}

func TestScanEngineOptionsCacheNothing(t *testing.T) {
	o := DefaultOptions()
	o.Registry.StaleOnError = true
	got := scanEngineOptions(o).Registry
	tests := map[string]struct{ got, want any }{
		"tag verdicts":          {got.PositiveTTL, time.Duration(0)},
		"digest verdicts":       {got.DigestTTL, time.Duration(0)},
		"negative verdicts":     {got.NegativeTTL, time.Duration(0)},
		"unverifiable verdicts": {got.UnverifiableTTL, time.Duration(0)},
		"no stale answers":      {got.StaleOnError, false},
		"the rest as given":     {got.CacheSize, o.Registry.CacheSize},
		"webhook's untouched":   {o.Registry.PositiveTTL, DefaultOptions().Registry.PositiveTTL},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %v, want %v", tc.got, tc.want)
			}
		})
	}
	if err := got.Validate().ToAggregate(); err != nil {
		t.Errorf("the scan's engine options are invalid: %v", err)
	}
}

func TestRunReverifyRejectsInvalidOptions(t *testing.T) {
	tests := map[string]struct {
		edit func(*ReverifyOptions)
		flag string
	}{
		"zero scan interval":     {func(o *ReverifyOptions) { o.Reverify.ScanInterval = 0 }, "--scan-interval"},
		"webhook's setting":      {func(o *ReverifyOptions) { o.TLSMinVersion = "" }, "--tls-min-version"},
		"lease namespace":        {func(o *ReverifyOptions) { o.LeaderElectionNamespace = "Not_A_Namespace" }, "--leader-election-namespace"},
		"zero docker hub budget": {func(o *ReverifyOptions) { o.Reverify.DockerHubBurst = 0 }, "--reverify-dockerhub-burst"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			o := DefaultReverifyOptions()
			tc.edit(&o)
			if err := RunReverify(t.Context(), o); err == nil || !strings.Contains(err.Error(), tc.flag) {
				t.Fatalf("RunReverify = %v, want an error naming %s", err, tc.flag)
			}
		})
	}
}
