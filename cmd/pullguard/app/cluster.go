package app

import (
	"fmt"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

// clusterOptions say which cluster to read, as kubectl's flags do.
type clusterOptions struct {
	Kubeconfig string
	Context    string
}

func (o *clusterOptions) addFlags(fs *pflag.FlagSet) {
	fs.StringVar(&o.Kubeconfig, "kubeconfig", o.Kubeconfig, "Path to the kubeconfig file (default: $KUBECONFIG, else ~/.kube/config).")
	fs.StringVar(&o.Context, "context", o.Context, "The kubeconfig context to use.")
}

// given reports whether a cluster was named; check reads one only then.
func (o clusterOptions) given() bool { return o.Kubeconfig != "" || o.Context != "" }

// clusterQPS is the client's rate: client-go's default (5, burst 10) throttles explain -A on a
// big cluster, where each pod costs a few GETs, and check of manifests for many namespaces.
const clusterQPS, clusterBurst = 50, 100

// client is an uncached client, only ever used to read: Secrets are read by name with GET,
// never listed or watched (controller-runtime's cached client would list them all).
func (o clusterOptions) client() (client.Reader, error) {
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	rules.ExplicitPath = o.Kubeconfig
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: o.Context}).ClientConfig()
	if err != nil {
		return nil, fmt.Errorf("loading the kubeconfig: %w", err)
	}
	cfg = rest.CopyConfig(cfg)
	cfg.QPS, cfg.Burst = clusterQPS, clusterBurst
	cfg.UserAgent = "pullguard-cli/" + version
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	if err := appsv1.AddToScheme(scheme); err != nil {
		return nil, err
	}
	return client.New(cfg, client.Options{Scheme: scheme})
}
