package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// Namespaces the API-server measurements use. The shipped webhook configuration skips
// pullguard-system and kube-node-lease (namespaceSelector on kubernetes.io/metadata.name), so
// the no-op webhook gets pullguard-system to itself and kube-node-lease sees no webhook at all.
const (
	NoopNamespace     = "pullguard-system"
	BaselineNamespace = "kube-node-lease"
	// PullSecret is the name of the pull secret (the bed's reader account on both registries)
	// created in every namespace the measurements use.
	PullSecret = "regcred"
	// noopWebhookName is the no-op webhook's configuration and webhook name.
	noopWebhookName = "noop.bench.pullguard.io"
)

// Cluster is the test bed (control plane, registries, the webhook as shipped) plus what the
// measurements add: a no-op webhook with its own configuration, namespaces, and a client that
// is not rate-limited, so that the client never throttles what it measures.
type Cluster struct {
	Bed    *testbed.Bed
	Client kubernetes.Interface
	// Enforce and Warn are namespaces in those modes, each with PullSecret.
	Enforce, Warn string
	// Images of the three-container Deployment the overhead measurement admits.
	Images []string

	noop      *httptest.Server
	noopCalls atomic.Int64
	fronts    []*FaultFront
}

// StartCluster starts the test bed and adds the no-op webhook. The webhook runs in this
// process: call InstallHermeticDNS first.
func StartCluster(ctx context.Context, progress io.Writer) (_ *Cluster, retErr error) {
	bed, err := testbed.Start(ctx, testbed.Options{Progress: progress})
	if err != nil {
		return nil, err
	}
	c := &Cluster{Bed: bed, Images: []string{bed.Images.Public, bed.Images.Multi, bed.Images.Private}}
	defer func() {
		if retErr != nil {
			retErr = errors.Join(retErr, c.Stop())
		}
	}()
	cfg := rest.CopyConfig(bed.ControlPlane.Config)
	cfg.QPS, cfg.Burst = -1, 0 // no client-side rate limiting
	if c.Client, err = kubernetes.NewForConfig(cfg); err != nil {
		return nil, fmt.Errorf("building a clientset: %w", err)
	}
	if c.Enforce, err = bed.Namespace(ctx, "bench-enforce", admission.ModeEnforce); err != nil {
		return nil, err
	}
	if c.Warn, err = bed.Namespace(ctx, "bench-warn", admission.ModeWarn); err != nil {
		return nil, err
	}
	for _, ns := range []string{c.Enforce, c.Warn, NoopNamespace, BaselineNamespace} {
		if err := c.CreatePullSecret(ctx, ns); err != nil {
			return nil, err
		}
	}
	if err := c.startNoopWebhook(ctx); err != nil {
		return nil, err
	}
	return c, nil
}

// Stop stops what StartCluster started.
func (c *Cluster) Stop() error {
	for _, f := range c.fronts {
		f.Close()
	}
	if c.noop != nil {
		c.noop.Close()
	}
	return c.Bed.Stop()
}

// CreatePullSecret creates PullSecret in ns: the bed's reader account on both registries.
func (c *Cluster) CreatePullSecret(ctx context.Context, ns string) error {
	s := c.pullSecret(c.Bed.Registry.Host, c.Bed.BasicRegistry.Host)
	// The API server gives the UID and resourceVersion itself, and refuses a create with one.
	s.Namespace, s.UID, s.ResourceVersion = ns, "", ""
	if _, err := c.Client.CoreV1().Secrets(ns).Create(ctx, &s, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("creating the pull secret in %s: %w", ns, err)
	}
	return nil
}

// startNoopWebhook serves a webhook that allows everything at once (decode the UID, answer) and
// registers it with a configuration that copies the shipped one (rules, match conditions,
// timeout, failure policy) except for the namespace it selects: what any webhook costs.
func (c *Cluster) startNoopWebhook(ctx context.Context) error {
	l, err := testbed.NewLoopbackTLS(filepath.Join(c.Bed.Dir, "bench-noop-webhook"))
	if err != nil {
		return err
	}
	c.noop = startTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.noopCalls.Add(1)
		var in struct {
			APIVersion string `json:"apiVersion"`
			Request    struct {
				UID string `json:"uid"`
			} `json:"request"`
		}
		if err := json.NewDecoder(io.LimitReader(r.Body, 8<<20)).Decode(&in); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = fmt.Fprintf(w, `{"apiVersion":%q,"kind":"AdmissionReview","response":{"uid":%q,"allowed":true}}`, in.APIVersion, in.Request.UID)
	}), l.Pair)

	shipped, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testbed.WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the shipped webhook configuration: %w", err)
	}
	wh := *shipped.Webhooks[0].DeepCopy()
	url := c.noop.URL + admission.Path
	wh.Name = noopWebhookName
	wh.ClientConfig = admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: l.CAPEM}
	wh.NamespaceSelector = &metav1.LabelSelector{MatchExpressions: []metav1.LabelSelectorRequirement{{
		Key: corev1.LabelMetadataName, Operator: metav1.LabelSelectorOpIn, Values: []string{NoopNamespace},
	}}}
	vwc := &admissionregistrationv1.ValidatingWebhookConfiguration{
		ObjectMeta: metav1.ObjectMeta{Name: noopWebhookName},
		Webhooks:   []admissionregistrationv1.ValidatingWebhook{wh},
	}
	if _, err := c.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Create(ctx, vwc, metav1.CreateOptions{}); err != nil {
		return fmt.Errorf("registering the no-op webhook: %w", err)
	}
	// The API server honours a new configuration a moment after it is stored.
	deadline := time.Now().Add(60 * time.Second)
	for before := c.noopCalls.Load(); ; {
		if err := c.CreateDeployment(ctx, NoopNamespace, c.Images); err != nil {
			return fmt.Errorf("probing the no-op webhook: %w", err)
		}
		if c.noopCalls.Load() > before {
			return nil
		}
		if time.Now().After(deadline) {
			return errors.New("the API server did not call the no-op webhook within 60s")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CreateDeployment dry-run creates Deployment(ns, "web", images, PullSecret) and returns the
// API server's error, if any.
func (c *Cluster) CreateDeployment(ctx context.Context, ns string, images []string) error {
	_, err := c.Client.AppsV1().Deployments(ns).Create(ctx, Deployment(ns, "web", images, PullSecret), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	return err
}

// Admission is the outcome of one dry-run create as the client saw it.
type Admission struct {
	Took     time.Duration
	Err      error
	Warnings []string
}

// CreatePod dry-run creates a pod running images with PullSecret, collecting the warnings.
func (c *Cluster) CreatePod(ctx context.Context, ns string, images ...string) Admission {
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: ns}}
	pod.Spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: PullSecret}}
	for i, image := range images {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: image})
	}
	var warnings warningCollector
	rc := c.Client.CoreV1().RESTClient()
	start := time.Now()
	err := rc.Post().Namespace(ns).Resource("pods").Param("dryRun", metav1.DryRunAll).
		Body(pod).WarningHandler(&warnings).Do(ctx).Error()
	return Admission{Took: time.Since(start), Err: err, Warnings: warnings.list()}
}

type warningCollector struct {
	mu sync.Mutex
	w  []string
}

func (w *warningCollector) HandleWarningHeader(_ int, _ string, text string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.w = append(w.w, text)
}

func (w *warningCollector) list() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.w...)
}

// PushImage pushes a small linux/amd64 image to the bed's token-auth registry as repoTag and
// returns its reference.
func (c *Cluster) PushImage(ctx context.Context, repoTag string) (string, error) {
	img, err := linuxAMD64Image()
	if err != nil {
		return "", err
	}
	ref := c.Bed.Registry.Ref(repoTag)
	r, err := name.ParseReference(ref, name.StrictValidation)
	if err != nil {
		return "", fmt.Errorf("parsing %s: %w", ref, err)
	}
	if err := remote.Write(r, img, c.Bed.Registry.RemoteOptions(ctx, testbed.Pusher)...); err != nil {
		return "", fmt.Errorf("pushing %s: %w", ref, err)
	}
	return ref, nil
}

func joinWarnings(w []string) string { return strings.Join(w, " | ") }
