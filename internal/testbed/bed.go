package testbed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/pullguard/pullguard/certs/selfca"
	"github.com/pullguard/pullguard/pkg/admission"
)

// Options configures Start.
type Options struct {
	// Dir keeps every file of the bed (configs, logs, storage). Empty: a temporary directory
	// that Stop removes.
	Dir string
	// Progress receives one line per startup step (nil: silent).
	Progress io.Writer
	// WebhookArgs are appended to the shipped Deployment's args (later flags win).
	WebhookArgs []string
	// Nodes are created before the webhook starts. Nil: DefaultNodes.
	Nodes []Node
	// Chart, when set, installs the webhook from the rendered Helm chart instead of manifests/.
	Chart *Chart
}

// Chart is an install from the Helm chart, rendered by the caller: the chart's Go SDK lives in
// the charts module, which the main module does not import.
type Chart struct {
	// Namespace is the release's; Start creates it, as helm install --create-namespace does.
	Namespace string
	// Render returns the chart rendered for Namespace (what helm template prints) with
	// certificates.mode provided and caBundle, the PEM CA of the webhook's serving
	// certificate, as certificates.caBundle.
	Render func(ctx context.Context, caBundle []byte) ([]byte, error)
}

// DefaultNodes are two linux/amd64 nodes and a linux/arm64 node tainted the way GKE taints its
// Arm nodes (kubernetes.io/arch=arm64:NoSchedule): an arm64-only image has no node to run on
// unless the pod tolerates the taint.
var DefaultNodes = []Node{
	{Name: "node-amd64-a", OS: "linux", Arch: "amd64"},
	{Name: "node-amd64-b", OS: "linux", Arch: "amd64"},
	{Name: "node-arm64-a", OS: "linux", Arch: "arm64", Taints: []corev1.Taint{ARM64Taint}},
}

// ARM64Taint keeps pods that do not tolerate it off the arm64 node.
var ARM64Taint = corev1.Taint{Key: corev1.LabelArchStable, Value: "arm64", Effect: corev1.TaintEffectNoSchedule}

// Accounts on both registries.
var (
	// Pusher pushes the fixtures.
	Pusher = Account{Username: "pusher", Password: "pusher-password", Push: true}
	// Reader may pull every repository: its credentials go into the pull secrets.
	Reader = Account{Username: "reader", Password: "reader-password"}
)

// PublicRepositories are pullable anonymously on the token-auth registry.
var PublicRepositories = []string{"demo/"}

// Bed is the whole local test bed.
type Bed struct {
	Dir  string
	Root string
	Bins Binaries

	ControlPlane *ControlPlane
	Client       kubernetes.Interface
	Kubectl      *Kubectl

	// Registry is the Docker Hub-style registry (token auth, demo/* public); Images its fixtures.
	Registry *Registry
	Images   Images
	// BasicRegistry uses htpasswd: every repository needs credentials.
	BasicRegistry *Registry
	BasicImages   Images

	Webhook  *Webhook
	Deployed Deployed

	// serving is the webhook's serving certificate, made before the install so a chart can be
	// rendered with its CA; every (re)start of the webhook serves it.
	serving *selfca.Bundle

	tls      *TLSMaterial
	progress io.Writer
	tempDir  bool
	extra    []*Registry
}

// Start brings up the control plane, both registries with their fixtures, the shipped
// manifests and the webhook, and waits until the API server calls the webhook. On error,
// everything already started is stopped.
func Start(ctx context.Context, opts Options) (_ *Bed, retErr error) {
	bins, err := BinariesFromEnv()
	if err != nil {
		return nil, err
	}
	root, err := RepoRoot(ctx)
	if err != nil {
		return nil, err
	}
	b := &Bed{Root: root, Bins: bins, Dir: opts.Dir, progress: opts.Progress}
	if b.Dir == "" {
		if b.Dir, err = os.MkdirTemp("", "pullguard-testbed-"); err != nil {
			return nil, fmt.Errorf("creating the bed directory: %w", err)
		}
		b.tempDir = true
	}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, b.Stop())
		}
	}()

	start := time.Now()
	if b.tls, err = NewLoopbackTLS(filepath.Join(b.Dir, "loopback-tls")); err != nil {
		return b, err
	}
	if b.ControlPlane, err = StartControlPlane(ctx, bins, filepath.Join(b.Dir, "control-plane")); err != nil {
		return b, err
	}
	b.Client = b.ControlPlane.Client
	b.Kubectl = &Kubectl{Binary: bins.Kubectl, Kubeconfig: b.ControlPlane.KubeconfigPath, Home: filepath.Join(b.Dir, "kubectl-home")}
	b.logf("control plane (etcd, kube-apiserver %s) up in %s", filepath.Base(filepath.Dir(bins.KubeAPIServer)), since(start))

	step := time.Now()
	if b.Registry, b.Images, err = b.StartRegistry(ctx, AuthToken); err != nil {
		return b, err
	}
	if b.BasicRegistry, b.BasicImages, err = b.StartRegistry(ctx, AuthHtpasswd); err != nil {
		return b, err
	}
	b.logf("registries up with fixtures in %s: %s (token auth, Docker Hub-style), %s (htpasswd)",
		since(step), b.Registry.Host, b.BasicRegistry.Host)

	step = time.Now()
	nodes := opts.Nodes
	if nodes == nil {
		nodes = DefaultNodes
	}
	if err := CreateNodes(ctx, b.Client, nodes...); err != nil {
		return b, err
	}
	for _, ns := range []string{"default", "kube-system", "kube-node-lease"} {
		if err := EnsureDefaultServiceAccount(ctx, b.Client, ns); err != nil {
			return b, err
		}
	}
	if b.serving, err = NewServingCertificate(); err != nil {
		return b, err
	}
	installed := "manifests/ and certs/cert-manager"
	if opts.Chart != nil {
		installed = "charts/pullguard (certificates.mode provided)"
		err = b.installChart(ctx, *opts.Chart)
	} else {
		err = InstallManifests(ctx, b.Kubectl, root)
	}
	if err != nil {
		return b, err
	}
	if b.Deployed, err = ReadDeployed(ctx, b.Client); err != nil {
		return b, err
	}
	if err := EnsureDefaultServiceAccount(ctx, b.Client, b.Deployed.Namespace); err != nil {
		return b, err
	}
	b.logf("%s applied (server-side) in %s", installed, since(step))

	step = time.Now()
	if err := b.StartWebhook(ctx, opts.WebhookArgs...); err != nil {
		return b, err
	}
	b.logf("webhook serving on %s and called by the API server after %s (bed ready in %s)", b.Webhook.Addr, since(step), since(start))
	return b, nil
}

// StartRegistry starts another registry with the given auth and pushes the fixtures to it.
// Stop stops it with the rest of the bed (stopping it earlier is fine).
func (b *Bed) StartRegistry(ctx context.Context, auth Auth) (*Registry, Images, error) {
	dir, err := os.MkdirTemp(b.Dir, "registry-"+auth.String()+"-")
	if err != nil {
		return nil, Images{}, fmt.Errorf("creating a registry directory: %w", err)
	}
	r, err := StartRegistry(ctx, RegistryOptions{
		Binary: b.Bins.Registry, Dir: dir, TLS: b.tls, Auth: auth,
		Accounts: []Account{Pusher, Reader}, Public: PublicRepositories,
	})
	if err != nil {
		return nil, Images{}, err
	}
	b.extra = append(b.extra, r)
	imgs, err := PushFixtures(ctx, r, Pusher)
	if err != nil {
		return nil, Images{}, err
	}
	return r, imgs, nil
}

// serviceAccount is the user and groups the API server authenticates the ServiceAccount
// ns/name's token as.
func serviceAccount(ns, name string) (user string, groups []string) {
	return "system:serviceaccount:" + ns + ":" + name, []string{"system:serviceaccounts", "system:serviceaccounts:" + ns}
}

// localArgs are the flags that run a shipped component in this process against the bed: a
// kubeconfig as user (in groups), the loopback registries allowlisted and their CA trusted.
func (b *Bed) localArgs(user string, groups []string) ([]string, error) {
	kubeconfig, err := b.ControlPlane.UserKubeconfig(user, groups...)
	if err != nil {
		return nil, err
	}
	return []string{
		"--kubeconfig=" + kubeconfig,
		// The registry's host and its token realm's host: what a user with a registry on a
		// private address would allowlist.
		"--allow-private-registries=127.0.0.1,localhost",
		"--registry-ca-file=" + b.tls.CAFile,
	}, nil
}

// StartWebhook starts the webhook in-process with the shipped Deployment's args, its
// ServiceAccount's identity (so the shipped RBAC is what it gets), the loopback registries
// allowlisted and their CA trusted, points the webhook configuration at it and waits until the
// API server calls it.
func (b *Bed) StartWebhook(ctx context.Context, extraArgs ...string) error {
	local, err := b.localArgs(serviceAccount(b.Deployed.Namespace, b.Deployed.ServiceAccount))
	if err != nil {
		return err
	}
	dir, err := os.MkdirTemp(b.Dir, "webhook-")
	if err != nil {
		return fmt.Errorf("creating the webhook directory: %w", err)
	}
	args := append(append(append([]string{}, b.Deployed.Args...), local...),
		// The API server presents its admission client certificate: a trusted caller.
		"--client-ca-file="+b.ControlPlane.WebhookClientCAFile,
	)
	w, err := StartWebhook(ctx, WebhookOptions{Args: append(args, extraArgs...), Dir: dir, Serving: b.serving})
	if err != nil {
		return err
	}
	b.Webhook = w
	if w.MetricsToken, err = metricsToken(ctx, b.Client, b.Deployed.Namespace); err != nil {
		return err
	}
	if err := ConnectWebhook(ctx, b.Client, w.Addr, w.CABundle); err != nil {
		return err
	}
	probeNS, err := b.Namespace(ctx, "pullguard-probe", admission.ModeEnforce)
	if err != nil {
		return err
	}
	return WaitForAdmission(ctx, b.Client, probeNS, b.Images.TypoTag)
}

// installChart creates the release's namespace and applies the chart rendered with the CA of
// the bed's serving certificate.
func (b *Bed) installChart(ctx context.Context, ch Chart) error {
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ch.Namespace}}
	if _, err := b.Client.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{FieldManager: FieldManager}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the release namespace %s: %w", ch.Namespace, err)
	}
	manifest, err := ch.Render(ctx, b.serving.CACert)
	if err != nil {
		return fmt.Errorf("rendering the chart: %w", err)
	}
	return ApplyChart(ctx, b.Kubectl, manifest)
}

// StopWebhook stops the webhook; the webhook configuration still points at its address.
func (b *Bed) StopWebhook() error {
	if b.Webhook == nil {
		return nil
	}
	return b.Webhook.Stop()
}

// Namespace creates a fresh namespace (see CreateNamespace).
func (b *Bed) Namespace(ctx context.Context, prefix string, mode admission.Mode) (string, error) {
	return CreateNamespace(ctx, b.Client, prefix, mode)
}

// Stop stops everything the bed started, in reverse order, and removes a temporary Dir.
func (b *Bed) Stop() error {
	var errs []error
	if b.Webhook != nil {
		errs = append(errs, b.Webhook.Stop())
	}
	for _, r := range b.extra {
		errs = append(errs, r.Stop())
	}
	errs = append(errs, b.ControlPlane.Stop())
	if b.tempDir && b.Dir != "" {
		errs = append(errs, os.RemoveAll(b.Dir))
	}
	return errors.Join(errs...)
}

func (b *Bed) logf(format string, args ...any) {
	if b.progress != nil {
		fmt.Fprintf(b.progress, ">> "+format+"\n", args...)
	}
}

func since(t time.Time) time.Duration {
	return time.Since(t).Round(10 * time.Millisecond)
}
