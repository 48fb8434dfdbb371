// Package manifests_test renders every shipped kustomization (manifests/ and certs/cert-manager)
// without a cluster and checks the properties the webhook's availability and security depend on
// (internal/installcheck, shared with the chart's tests). The e2e tests apply the same files to a
// real API server.
package manifests_test

import (
	"context"
	"io"
	"maps"
	"slices"
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"

	"github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/internal/installcheck"
)

// Names other parts of the project rely on (the e2e tests, make demo, the README).
const (
	namespace = "pullguard-system"
	name      = "pullguard-webhook"
)

// webhookFlags are the flags of cmd/webhook that deployments may rely on; the Deployment passes
// no others.
var webhookFlags = []string{
	"--port", "--cert-dir", "--config", "--default-mode", "--metrics-bind-address",
	"--health-probe-bind-address", "--allow-private-registries", "--insecure-registries",
	"--registry-ca-file", "--log-format",
	// components/self-managed.
	"--self-managed-certs", "--cert-secret-namespace", "--cert-secret-name", "--cert-webhook-configuration",
	"--cert-dns-names", "--cert-ca-duration", "--cert-duration", "--cert-renew-before", "--cert-check-interval",
}

// variant is one installable kustomization and what it must hold.
type variant struct {
	dir string
	installcheck.Install
}

// install is what every variant shares.
func install(replicas, minAvailable int32, failurePolicy admissionregistrationv1.FailurePolicyType, mode string, certManager bool) installcheck.Install {
	return installcheck.Install{
		Namespace: namespace, Name: name, WebhookConfiguration: "pullguard", MetricsReader: "pullguard-metrics-reader",
		Image: "ghcr.io/pullguard/pullguard:latest", Secret: "pullguard-webhook-tls",
		Replicas: replicas, MinAvailable: minAvailable, FailurePolicy: failurePolicy, Mode: mode,
		// certManager: the serving certificate comes from cert-manager (Issuers, Certificates
		// and the inject-ca-from annotation are rendered); otherwise the user provides it.
		CertManager: certManager,
	}
}

var variants = map[string]variant{
	"default":         {".", install(2, 1, admissionregistrationv1.Ignore, "warn", true)},
	"enforce":         {"overlays/enforce", install(3, 2, admissionregistrationv1.Fail, "enforce", true)},
	"no-cert-manager": {"overlays/no-cert-manager", install(2, 1, admissionregistrationv1.Ignore, "warn", false)},
	"self-managed":    {"overlays/self-managed", selfManaged(install(2, 1, admissionregistrationv1.Ignore, "warn", false))},
	"webhook ingress from the control plane": {"testdata/webhook-ingress", func() installcheck.Install {
		in := install(2, 1, admissionregistrationv1.Ignore, "warn", true)
		in.IngressFrom = []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}}}
		return in
	}()},
	"enforce without cert-manager (README example)": {
		"testdata/enforce-no-cert-manager", install(3, 2, admissionregistrationv1.Fail, "enforce", false),
	},
}

// reverifier is what overlays/reverifier adds (components/reverifier): the chart's defaults.
var reverifier = installcheck.Reverifier{Name: "pullguard-reverify", Replicas: 2, MinAvailable: 1, ScanInterval: "1h", SecureMetrics: true}

// TestReverifier renders overlays/reverifier and checks the re-verifier's objects beside the
// webhook's, which must be those of the default install.
func TestReverifier(t *testing.T) {
	r := render(t, "overlays/reverifier")
	in := variants["default"].Install
	installcheck.Run(t, r, in)
	installcheck.RunReverifier(t, r, in, reverifier)
}

// selfManaged is in with the webhook making its own certificate (components/self-managed).
func selfManaged(in installcheck.Install) installcheck.Install {
	in.SelfManaged = true
	return in
}

// TestInstall renders each variant once and checks every property an install must have.
func TestInstall(t *testing.T) {
	for vName, v := range variants {
		t.Run(vName, func(t *testing.T) {
			r := render(t, v.dir)
			installcheck.Run(t, r, v.Install)
			// The kustomizations ship the namespace; its Pod Security label is checked with the pod.
			installcheck.Get[*corev1.Namespace](t, r, "Namespace", "", namespace)
		})
	}
}

func TestRenderedObjects(t *testing.T) {
	webhookObjects := []installcheck.Key{
		{Kind: "Namespace", Name: namespace},
		{Kind: "ServiceAccount", Namespace: namespace, Name: name},
		{Kind: "ClusterRole", Name: name},
		{Kind: "ClusterRole", Name: "pullguard-metrics-reader"},
		{Kind: "ClusterRoleBinding", Name: name},
		{Kind: "Deployment", Namespace: namespace, Name: name},
		{Kind: "PodDisruptionBudget", Namespace: namespace, Name: name},
		{Kind: "Service", Namespace: namespace, Name: name},
		{Kind: "NetworkPolicy", Namespace: namespace, Name: name},
		{Kind: "ValidatingWebhookConfiguration", Name: "pullguard"},
	}
	certManagerObjects := []installcheck.Key{
		{Kind: "Issuer", Namespace: namespace, Name: "pullguard-selfsigned"},
		{Kind: "Certificate", Namespace: namespace, Name: "pullguard-ca"},
		{Kind: "Issuer", Namespace: namespace, Name: "pullguard-ca"},
		{Kind: "Certificate", Namespace: namespace, Name: name},
	}
	tests := map[string]struct {
		dir  string
		want []installcheck.Key
	}{
		"default":                  {dir: ".", want: slices.Concat(webhookObjects, certManagerObjects)},
		"base":                     {dir: "base", want: webhookObjects},
		"overlays/enforce":         {dir: "overlays/enforce", want: slices.Concat(webhookObjects, certManagerObjects)},
		"overlays/no-cert-manager": {dir: "overlays/no-cert-manager", want: webhookObjects},
		"overlays/self-managed": {dir: "overlays/self-managed", want: slices.Concat(webhookObjects, []installcheck.Key{
			{Kind: "Secret", Namespace: namespace, Name: "pullguard-webhook-tls"},
			{Kind: "Role", Namespace: namespace, Name: name + "-certs"}, {Kind: "RoleBinding", Namespace: namespace, Name: name + "-certs"},
			{Kind: "ClusterRole", Name: name + "-certs"}, {Kind: "ClusterRoleBinding", Name: name + "-certs"},
		})},
		"certs/cert-manager": {dir: "../certs/cert-manager", want: certManagerObjects},
		"overlays/reverifier": {dir: "overlays/reverifier", want: slices.Concat(webhookObjects, certManagerObjects,
			installcheck.ReverifierKeys(namespace, reverifier.Name), []installcheck.Key{
				{Kind: "CustomResourceDefinition", Name: "reports.openreports.io"},
				{Kind: "CustomResourceDefinition", Name: "clusterreports.openreports.io"},
			})},
	}
	for tName, tc := range tests {
		t.Run(tName, func(t *testing.T) {
			r := render(t, tc.dir)
			var want []string
			for _, k := range tc.want {
				want = append(want, k.String())
			}
			slices.Sort(want)
			if got := r.Keys(); !slices.Equal(got, want) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, want)
			}
			for key := range maps.Keys(r) {
				if installcheck.ClusterScoped[key.Kind] != (key.Namespace == "") {
					t.Errorf("%s: namespace %q for a kind that is cluster-scoped=%v", key, key.Namespace, installcheck.ClusterScoped[key.Kind])
				}
			}
		})
	}
}

// TestWebhookArgs: the Deployment passes only flags deployments may rely on, and the binary's own
// parser accepts them (--version stops it before it starts).
func TestWebhookArgs(t *testing.T) {
	for vName, v := range variants {
		t.Run(vName, func(t *testing.T) {
			c := installcheck.Container(t, render(t, v.dir), v.Install)
			for flag := range installcheck.Flags(t, c) {
				if !slices.Contains(webhookFlags, flag) {
					t.Errorf("flag %s: not one cmd/webhook promises deployments", flag)
				}
			}
			if err := app.Main(context.Background(), append(slices.Clone(c.Args), "--version"), io.Discard, io.Discard); err != nil {
				t.Errorf("cmd/webhook rejects the args: %v", err)
			}
		})
	}
}
