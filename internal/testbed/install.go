package testbed

import (
	"context"
	"fmt"
	"net/url"
	"path/filepath"
	"strings"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/pullguard/pullguard/pkg/admission"
)

// Names in the shipped manifests the bed relies on.
const (
	// WebhookConfigurationName is the ValidatingWebhookConfiguration in manifests/base.
	WebhookConfigurationName = "pullguard"
	// WebhookName is its webhook; the API server prefixes the webhook's audit annotation keys
	// with it ("images.pullguard.io/<key>").
	WebhookName = "images.pullguard.io"
	// FieldManager owns everything the bed applies.
	FieldManager = "pullguard-testbed"
)

// InstallManifests server-side applies the default install (manifests/, i.e. manifests/base
// plus certs/cert-manager) with the real kubectl, so the API server validates every object we
// ship, cert-manager's included (their CRDs are installed; no cert-manager controller runs).
// Every overlay under manifests/overlays is validated too, by a server-side dry-run apply.
func InstallManifests(ctx context.Context, k *Kubectl, root string) error {
	res, err := k.Run(ctx, nil, "apply", "--server-side", "--field-manager="+FieldManager, "-k", filepath.Join(root, "manifests"))
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kubectl apply -k manifests/ exited %d:\n%s", res.ExitCode, res.Output)
	}
	overlays, err := filepath.Glob(filepath.Join(root, "manifests", "overlays", "*", "kustomization.yaml"))
	if err != nil {
		return fmt.Errorf("listing the overlays: %w", err)
	}
	for _, o := range overlays {
		dir := filepath.Dir(o)
		res, err := k.Run(ctx, nil, "apply", "--server-side", "--dry-run=server", "--field-manager="+FieldManager, "-k", dir)
		if err != nil {
			return err
		}
		if res.ExitCode != 0 {
			return fmt.Errorf("kubectl apply --dry-run=server -k %s exited %d:\n%s", dir, res.ExitCode, res.Output)
		}
	}
	return nil
}

// ApplyChart server-side applies a rendered chart (what helm template prints) with the real
// kubectl, as helm's field manager, taking over fields an earlier install (kustomize's) set, as an
// upgrade to the chart would. extraArgs go to kubectl apply (e.g. --dry-run=server).
func ApplyChart(ctx context.Context, k *Kubectl, manifest []byte, extraArgs ...string) error {
	args := append([]string{"apply", "--server-side", "--force-conflicts", "--field-manager=helm", "-f", "-"}, extraArgs...)
	res, err := k.Run(ctx, manifest, args...)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kubectl %s exited %d:\n%s", strings.Join(args, " "), res.ExitCode, res.Output)
	}
	return nil
}

// Deployed is what the bed reads back from the applied manifests to run the webhook as shipped.
type Deployed struct {
	// Namespace and ServiceAccount the webhook Deployment runs as.
	Namespace      string
	ServiceAccount string
	// Args of the webhook container.
	Args []string
}

// ReadDeployed finds the Deployment behind the webhook configuration's Service and returns its
// ServiceAccount and container args.
func ReadDeployed(ctx context.Context, c kubernetes.Interface) (Deployed, error) {
	vwc, err := c.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		return Deployed{}, fmt.Errorf("reading the webhook configuration %s: %w", WebhookConfigurationName, err)
	}
	if len(vwc.Webhooks) == 0 || vwc.Webhooks[0].ClientConfig.Service == nil {
		return Deployed{}, fmt.Errorf("webhook configuration %s has no service clientConfig", WebhookConfigurationName)
	}
	svcRef := vwc.Webhooks[0].ClientConfig.Service
	svc, err := c.CoreV1().Services(svcRef.Namespace).Get(ctx, svcRef.Name, metav1.GetOptions{})
	if err != nil {
		return Deployed{}, fmt.Errorf("reading the webhook service: %w", err)
	}
	deps, err := c.AppsV1().Deployments(svcRef.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return Deployed{}, fmt.Errorf("listing deployments in %s: %w", svcRef.Namespace, err)
	}
	for _, d := range deps.Items {
		if !selects(svc.Spec.Selector, d.Spec.Template.Labels) || len(d.Spec.Template.Spec.Containers) == 0 {
			continue
		}
		sa := d.Spec.Template.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		return Deployed{Namespace: d.Namespace, ServiceAccount: sa, Args: d.Spec.Template.Spec.Containers[0].Args}, nil
	}
	return Deployed{}, fmt.Errorf("no deployment in %s matches the selector of service %s", svcRef.Namespace, svc.Name)
}

func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if labels[k] != v {
			return false
		}
	}
	return true
}

// ConnectWebhook points every webhook of the applied configuration at url (keeping each one's
// service path, so a path mismatch between manifest and server fails) with caBundle: the
// no-cert-manager path, as envtest does for service-based configurations.
func ConnectWebhook(ctx context.Context, c kubernetes.Interface, addr string, caBundle []byte) error {
	return retry.RetryOnConflict(retry.DefaultRetry, func() error {
		vwcs := c.AdmissionregistrationV1().ValidatingWebhookConfigurations()
		vwc, err := vwcs.Get(ctx, WebhookConfigurationName, metav1.GetOptions{})
		if err != nil {
			return fmt.Errorf("reading the webhook configuration: %w", err)
		}
		for i := range vwc.Webhooks {
			cc := &vwc.Webhooks[i].ClientConfig
			path := admission.Path
			switch {
			case cc.Service != nil && cc.Service.Path != nil:
				path = *cc.Service.Path
			case cc.URL != nil:
				// Already connected (the webhook was restarted on another port).
				u, err := url.Parse(*cc.URL)
				if err != nil {
					return fmt.Errorf("parsing the webhook URL %q: %w", *cc.URL, err)
				}
				path = u.Path
			}
			u := "https://" + addr + path
			*cc = admissionregistrationv1.WebhookClientConfig{URL: &u, CABundle: caBundle}
		}
		if _, err := vwcs.Update(ctx, vwc, metav1.UpdateOptions{FieldManager: FieldManager}); err != nil {
			return fmt.Errorf("pointing the webhook configuration at %s: %w", addr, err)
		}
		return nil
	})
}

// WaitForAdmission polls until the API server calls the webhook: a dry-run Pod with image in an
// enforce namespace must be refused by the webhook. The API server honours a changed webhook
// configuration a moment after it can be read back.
func WaitForAdmission(ctx context.Context, c kubernetes.Interface, namespace, image string) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "readiness-probe", Namespace: namespace},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "probe", Image: image}}},
	}
	var last error
	for {
		_, err := c.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		switch {
		case err != nil && strings.Contains(err.Error(), `admission webhook "`+WebhookName+`" denied`):
			return nil
		case err != nil && !apierrors.IsInvalid(err) && !apierrors.IsForbidden(err):
			last = err
		default:
			last = fmt.Errorf("dry-run pod admitted without the webhook (err: %v)", err)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the API server did not call the webhook: %w (last: %v)", ctx.Err(), last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}
