package e2e

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// Forced short lifetimes: each serving certificate is replaced 15s into its 40s life, so the
// rotation phase sees several, each replaced while the one before still verifies.
const (
	shortDuration    = 40 * time.Second
	shortRenewBefore = 25 * time.Second
	// rotations is how many replacements of the serving certificate the phase waits for.
	rotations = 2
)

// testSelfManaged installs the chart with certificates.mode self-managed and runs its webhook in
// process as the chart's Deployment would: with its args, as its ServiceAccount (so the Role
// and ClusterRole that name the Secret and the webhook configuration are all it has), with the
// Secret copied into the cert dir as the kubelet's volume would copy it. It checks that the
// webhook fills the Secret and the caBundle, that the API server calls it, and that admissions
// keep getting the webhook's answer while the serving certificate is replaced: the API server
// counts no calling_webhook_error.
func testSelfManaged(t *testing.T, bed *testbed.Bed, chartDir string, apply func([]byte)) {
	ctx := t.Context()
	vwcs := bed.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations()
	// The previous install's configuration points at a URL; clientConfig.service and url together
	// are invalid. A fresh install starts from none.
	if err := vwcs.Delete(ctx, testbed.WebhookConfigurationName, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) {
		t.Fatal(err)
	}
	if err := bed.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	apply(manifest(t, chartDir, render.Options{Values: map[string]any{
		"certificates": map[string]any{"mode": "self-managed", "selfManaged": map[string]any{
			"duration": shortDuration.String(), "renewBefore": shortRenewBefore.String(), "checkInterval": "1s",
		}},
	}}))
	deployed, err := testbed.ReadDeployed(ctx, bed.Client)
	if err != nil {
		t.Fatal(err)
	}
	secrets := bed.Client.CoreV1().Secrets(deployed.Namespace)
	secretName := flagValue(deployed.Args, "--cert-secret-name")
	if s, err := secrets.Get(ctx, secretName, metav1.GetOptions{}); err != nil || len(s.Data) > 0 {
		t.Fatalf("the chart's Secret %s: %v, data keys %d; want it created empty", secretName, err, len(s.Data))
	}

	saUser := "system:serviceaccount:" + deployed.Namespace + ":" + deployed.ServiceAccount
	kubeconfig, err := bed.ControlPlane.UserKubeconfig(saUser, "system:serviceaccounts", "system:serviceaccounts:"+deployed.Namespace)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("RBAC names the Secret", func(t *testing.T) {
		sa := clientFor(t, kubeconfig)
		_, err := sa.CoreV1().Secrets(deployed.Namespace).List(ctx, metav1.ListOptions{})
		if !apierrors.IsForbidden(err) {
			t.Errorf("the webhook lists every Secret of its namespace: %v, want Forbidden", err)
		}
		byName := fields.OneTermEqualSelector("metadata.name", secretName).String()
		if _, err := sa.CoreV1().Secrets(deployed.Namespace).List(ctx, metav1.ListOptions{FieldSelector: byName}); err != nil {
			t.Errorf("the webhook cannot list its own Secret by name: %v", err)
		}
		if _, err := sa.CoreV1().Secrets("default").List(ctx, metav1.ListOptions{FieldSelector: byName}); !apierrors.IsForbidden(err) {
			t.Errorf("the webhook lists Secrets of another namespace: %v, want Forbidden", err)
		}
	})

	// The kubelet's part: the Secret's keys land in the cert dir, a moment after each change.
	dir := t.TempDir()
	certDir := filepath.Join(dir, "serving-certs")
	volume := &secretVolume{client: bed.Client, namespace: deployed.Namespace, name: secretName, dir: certDir}
	volCtx, stopVolume := context.WithCancel(context.WithoutCancel(ctx))
	volDone := make(chan struct{})
	go func() { defer close(volDone); volume.run(volCtx) }()
	t.Cleanup(func() { stopVolume(); <-volDone })

	// The bed's API server dials the replica on loopback, by the name localhost (the rotator's
	// certificates carry DNS names only); the Service's names stay first.
	args := append(append([]string{}, deployed.Args...),
		"--kubeconfig="+kubeconfig,
		"--cert-dns-names=localhost",
		"--allow-private-registries=127.0.0.1,localhost",
		"--registry-ca-file="+bed.LoopbackCAFile(),
	)
	w, err := testbed.StartWebhook(ctx, testbed.WebhookOptions{Args: args, Dir: dir})
	if err != nil {
		t.Fatalf("the self-managed webhook did not become ready: %v", err)
	}
	t.Cleanup(func() {
		if err := w.Stop(); err != nil {
			t.Error(err)
		}
	})

	secret, err := secrets.Get(ctx, secretName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"ca.crt", "ca.key", "tls.crt", "tls.key"} {
		if len(secret.Data[key]) == 0 {
			t.Fatalf("the webhook did not write %s into Secret %s", key, secretName)
		}
	}
	caPEM := secret.Data["ca.crt"]
	vwc, err := vwcs.Get(ctx, testbed.WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := vwc.Webhooks[0].ClientConfig.CABundle; !bytes.Equal(got, caPEM) {
		t.Fatalf("caBundle %q, want the CA the webhook wrote into its Secret", got)
	}
	_, port, err := net.SplitHostPort(w.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.ConnectWebhook(ctx, bed.Client, net.JoinHostPort("localhost", port), caPEM); err != nil {
		t.Fatal(err)
	}
	ns, err := bed.Namespace(ctx, "chart-self-managed", admission.ModeEnforce)
	if err != nil {
		t.Fatal(err)
	}
	if err := testbed.WaitForAdmission(ctx, bed.Client, ns, bed.Images.TypoTag); err != nil {
		t.Fatalf("the API server does not call the self-managed webhook: %v", err)
	}

	t.Run("rotation", func(t *testing.T) {
		before, err := testbed.ScrapeWebhookMetrics(ctx, bed.Client, testbed.WebhookName)
		if err != nil {
			t.Fatal(err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(caPEM) {
			t.Fatal("the Secret's ca.crt holds no certificate")
		}
		served := map[[32]byte]bool{}
		deadline := time.Now().Add(time.Duration(rotations+2) * (shortDuration - shortRenewBefore + 10*time.Second))
		admissions := 0
		for len(served) < rotations+1 {
			if time.Now().After(deadline) {
				t.Fatalf("saw %d serving certificates by %s, want %d: the webhook does not renew it", len(served), deadline.Format(time.TimeOnly), rotations+1)
			}
			leaf, err := servedCertificate(w.Addr, pool)
			if err != nil {
				t.Fatalf("after %d certificates: %v", len(served), err)
			}
			served[sha256.Sum256(leaf.Raw)] = true
			if err := refused(ctx, bed.Client, ns, bed.Images.TypoTag); err != nil {
				t.Fatalf("admission %d (%d certificates so far): %v", admissions, len(served), err)
			}
			admissions++
			time.Sleep(250 * time.Millisecond)
		}
		after, err := testbed.ScrapeWebhookMetrics(ctx, bed.Client, testbed.WebhookName)
		if err != nil {
			t.Fatal(err)
		}
		d := after.Sub(before)
		t.Logf("%d admissions across %d serving certificates: %v webhook calls, %v calling_webhook_error, %v fail-open",
			admissions, len(served), d.Requests, d.CallErrors, d.FailOpen)
		if d.CallErrors != 0 || d.FailOpen != 0 {
			t.Errorf("the API server counted %v calling_webhook_error and %v fail-open admissions during the rotation, want 0", d.CallErrors, d.FailOpen)
		}
		if d.Requests < float64(admissions) {
			t.Errorf("the API server called the webhook %v times for %d admissions", d.Requests, admissions)
		}
		now, err := secrets.Get(ctx, secretName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(now.Data["ca.crt"], caPEM) {
			t.Error("the CA changed during serving-certificate renewals; caBundle would have to follow")
		}
	})
}

// refused creates a dry-run pod with image in the enforce namespace and wants the webhook's
// refusal: an admission, or a failure policy decision, is an error.
func refused(ctx context.Context, c kubernetes.Interface, namespace, image string) error {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{GenerateName: "rotation-", Namespace: namespace},
		Spec:       testbed.PodSpec(image),
	}
	_, err := c.CoreV1().Pods(namespace).Create(ctx, pod, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
	if err != nil && strings.Contains(err.Error(), `admission webhook "`+testbed.WebhookName+`" denied`) {
		return nil
	}
	return fmt.Errorf("want the webhook's refusal of %s, got %v", image, err)
}

// servedCertificate is the leaf the webhook presents to a client asking for localhost, verified
// against pool as the API server verifies it with caBundle.
func servedCertificate(addr string, pool *x509.CertPool) (*x509.Certificate, error) {
	d := &net.Dialer{Timeout: 5 * time.Second}
	conn, err := tls.DialWithDialer(d, "tcp", addr, &tls.Config{ServerName: "localhost", RootCAs: pool, MinVersion: tls.VersionTLS12})
	if err != nil {
		return nil, fmt.Errorf("handshake with the webhook: %w", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0], nil
}

// secretVolume copies a Secret's tls.crt and tls.key into dir whenever they change, as the
// kubelet updates a Secret volume (without its delay).
type secretVolume struct {
	client          kubernetes.Interface
	namespace, name string
	dir             string

	mu   sync.Mutex
	last []byte
}

func (v *secretVolume) run(ctx context.Context) {
	for {
		if s, err := v.client.CoreV1().Secrets(v.namespace).Get(ctx, v.name, metav1.GetOptions{}); err == nil {
			if err := v.sync(s); err != nil && !errors.Is(err, context.Canceled) {
				fmt.Fprintf(os.Stderr, "secret volume: %v\n", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func (v *secretVolume) sync(s *corev1.Secret) error {
	crt, key := s.Data["tls.crt"], s.Data["tls.key"]
	v.mu.Lock()
	defer v.mu.Unlock()
	if len(crt) == 0 || len(key) == 0 || bytes.Equal(crt, v.last) {
		return nil
	}
	// The key first, the certificate last: the webhook's watcher pairs them on the last change.
	for _, f := range []struct {
		name string
		data []byte
	}{{"tls.key", key}, {"tls.crt", crt}} {
		tmp := filepath.Join(v.dir, "."+f.name+".tmp")
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			return err
		}
		if err := os.Rename(tmp, filepath.Join(v.dir, f.name)); err != nil {
			return err
		}
	}
	v.last = bytes.Clone(crt)
	return nil
}

// flagValue is the value of --flag=value in args ("" when absent).
func flagValue(args []string, flag string) string {
	for _, a := range args {
		if v, ok := strings.CutPrefix(a, flag+"="); ok {
			return v
		}
	}
	return ""
}

func clientFor(t *testing.T, kubeconfig string) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	c, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return c
}
