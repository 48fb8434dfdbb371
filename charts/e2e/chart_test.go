// Package e2e installs the chart's renderings on the real test bed (kube-apiserver, etcd,
// kubectl and the distribution registry that internal/testbed runs, with the webhook started
// through the binary's code path) and shows the API server calling the webhook.
package e2e

import (
	"bytes"
	"path/filepath"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// manifest renders the chart with values as one multi-document file, what `helm template` prints.
func manifest(t *testing.T, chartDir string, opts render.Options) []byte {
	t.Helper()
	templates, err := render.RenderDir(chartDir, opts)
	if err != nil {
		t.Fatalf("rendering: %v", err)
	}
	return render.Manifest(templates)
}

// TestChartInstalls applies the chart, server-side, with user-provided certificates (the CA of
// the bed's webhook certificate as certificates.caBundle) and checks that the API server stores
// the caBundle it was given and calls the webhook: a typo tag is refused in an enforce
// namespace. Then it installs the chart with self-managed certificates and rotates them
// (testSelfManaged). Every other toggle is validated by a server-side dry run, so the API server checks
// each object the chart can render (monitoring kinds need prometheus-operator's CRDs, which the
// bed does not install).
func TestChartInstalls(t *testing.T) {
	chartDir, err := filepath.Abs(filepath.Join("..", "pullguard"))
	if err != nil {
		t.Fatal(err)
	}
	// The bed finds manifests/ and the cert-manager CRDs from the main module's root.
	t.Chdir(filepath.Join("..", ".."))
	ctx := t.Context()
	bed, err := testbed.Start(ctx, testbed.Options{})
	if err != nil {
		t.Fatalf("starting the test bed: %v", err)
	}
	t.Cleanup(func() {
		if err := bed.Stop(); err != nil {
			t.Errorf("stopping the test bed: %v", err)
		}
	})

	// The bed pointed the kustomize-installed webhook configuration at its loopback URL; the
	// chart sets clientConfig.service, and an object with both is invalid. Start from none, as
	// a fresh install does.
	if err := bed.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Delete(ctx, testbed.WebhookConfigurationName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}

	apply := func(t *testing.T, file []byte, extra ...string) {
		t.Helper()
		if err := testbed.ApplyChart(ctx, bed.Kubectl, file, extra...); err != nil {
			t.Fatal(err)
		}
	}

	dryRuns := map[string]map[string]any{
		"default, cert-manager": {"certificates": map[string]any{"mode": "cert-manager"}},
		"enforce": {
			"certificates": map[string]any{"mode": "cert-manager"},
			"mode":         "enforce", "replicaCount": 3, "webhook": map[string]any{"failurePolicy": "Fail"},
			"podDisruptionBudget": map[string]any{"minAvailable": 2},
		},
		"registry settings and chart-owned namespace": {
			"namespace":    map[string]any{"create": true},
			"certificates": map[string]any{"mode": "cert-manager"},
			"registry": map[string]any{
				"allowPrivateRegistries": []any{"127.0.0.1"}, "insecureRegistries": []any{"harbor.local"},
				"mirrors": map[string]any{"docker.io": []any{map[string]any{"host": "mirror.internal.example", "pullOnly": true}}},
			},
			"metrics":       map[string]any{"readerSubjects": []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}}},
			"networkPolicy": map[string]any{"ingressFrom": []any{"10.0.0.0/24"}},
		},
	}
	for name, values := range dryRuns {
		t.Run("dry run: "+name, func(t *testing.T) {
			apply(t, manifest(t, chartDir, render.Options{Values: values}), "--dry-run=server")
		})
	}

	t.Run("re-verifier: CRDs and least-privilege RBAC", func(t *testing.T) {
		testReverifier(t, bed, chartDir, apply)
	})

	t.Run("provided certificates", func(t *testing.T) {
		apply(t, manifest(t, chartDir, render.Options{Values: map[string]any{
			"certificates": map[string]any{"mode": "provided", "caBundle": string(bed.Webhook.CABundle)},
		}}))
		vwc, err := bed.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(ctx, testbed.WebhookConfigurationName, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cc := vwc.Webhooks[0].ClientConfig
		if !bytes.Equal(bytes.TrimSpace(cc.CABundle), bytes.TrimSpace(bed.Webhook.CABundle)) || cc.Service == nil {
			t.Fatalf("stored clientConfig %+v, want the Service and the CA given in certificates.caBundle", cc)
		}
		// The bed's API server cannot route to a Service: point the same webhook at the
		// in-process replica's loopback address, keeping the CA, as envtest does.
		if err := testbed.ConnectWebhook(ctx, bed.Client, bed.Webhook.Addr, cc.CABundle); err != nil {
			t.Fatal(err)
		}
		ns, err := bed.Namespace(ctx, "chart-enforce", admission.ModeEnforce)
		if err != nil {
			t.Fatal(err)
		}
		if err := testbed.WaitForAdmission(ctx, bed.Client, ns, bed.Images.TypoTag); err != nil {
			t.Errorf("the API server does not call the webhook installed by the chart: %v", err)
		}
	})

	t.Run("self-managed certificates", func(t *testing.T) {
		testSelfManaged(t, bed, chartDir, func(file []byte) { apply(t, file) })
	})
}
