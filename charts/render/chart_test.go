package render_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/certs/selfca"
	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/internal/installcheck"
)

const (
	configPath = "/etc/pullguard/config.yaml"
	// testCA is a syntactically valid PEM block; nothing verifies with it.
	testCA = "-----BEGIN CERTIFICATE-----\nMIIBszCCAVmgAwIBAgIUTest\n-----END CERTIFICATE-----\n"
)

// install is one rendering of the chart and what it must produce.
type install struct {
	release, namespace string
	values             map[string]any
	apiVersions        []string

	// Expected.
	prefix        string // of every object name
	replicas      int32
	minAvailable  int32
	failurePolicy admissionregistrationv1.FailurePolicyType
	mode          string
	certManager   bool
	selfManaged   bool // the webhook makes its own certificate (--self-managed-certs)
	caBundle      bool // clientConfig.caBundle is set (provided mode)
	secret        string
	config        map[string]any // the --config file rendered and mounted, as JSON; nil: none
	cloud         installcheck.CloudIdentities
	// reverifier is what the re-verifier's objects must be; nil: none is rendered.
	reverifier *installcheck.Reverifier
}

func (in install) options() render.Options {
	return render.Options{ReleaseName: in.release, Namespace: in.namespace, Values: in.values, APIVersions: in.apiVersions}
}

func (in install) ns() string {
	if in.namespace == "" {
		return "pullguard-system"
	}
	return in.namespace
}

func (in install) name() string { return in.prefix + "-webhook" }

// installs are the default values and each toggle.
var installs = map[string]install{
	"default, cluster without cert-manager": {
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		selfManaged: true, secret: "pullguard-webhook-tls",
	},
	"self-managed certificates": {
		release: "guard", namespace: "security",
		apiVersions: []string{render.CertManagerAPI},
		values: map[string]any{"certificates": map[string]any{
			"mode": "self-managed", "secretName": "guard-serving",
			"selfManaged": map[string]any{"duration": "720h", "renewBefore": "72h", "checkInterval": "10m"},
		}},
		prefix: "guard-pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		selfManaged: true, secret: "guard-serving",
	},
	"default, cluster with cert-manager": {
		apiVersions: []string{render.CertManagerAPI},
		prefix:      "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		certManager: true, secret: "pullguard-webhook-tls",
	},
	"enforce": {
		apiVersions: []string{render.CertManagerAPI},
		values: map[string]any{
			"mode": "enforce", "replicaCount": 3, "webhook": map[string]any{"failurePolicy": "Fail"},
			"podDisruptionBudget": map[string]any{"minAvailable": 2},
		},
		prefix: "pullguard", replicas: 3, minAvailable: 2, failurePolicy: admissionregistrationv1.Fail, mode: "enforce",
		certManager: true, secret: "pullguard-webhook-tls",
	},
	"provided certificates": {
		release: "guard", namespace: "security",
		apiVersions: []string{render.CertManagerAPI},
		values: map[string]any{"certificates": map[string]any{
			"mode": "provided", "secretName": "my-tls", "caBundle": testCA,
		}},
		prefix: "guard-pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		caBundle: true, secret: "my-tls",
	},
	"registry settings": {
		values: map[string]any{
			"registry": map[string]any{
				"allowPrivateRegistries":   []any{"registry.internal.example", "10.20.0.0/16"},
				"insecureRegistries":       []any{"harbor.local"},
				"caBundle":                 testCA,
				"nodeCredentialRegistries": []any{},
				"mirrors": map[string]any{"docker.io": []any{
					map[string]any{"host": "mirror.internal.example"},
					map[string]any{"host": "cache.internal.example:5000", "pullOnly": true},
				}},
				"proxy": "http://proxy.internal.example:3128",
			},
			"admission": map[string]any{"denyUnverifiable": true, "exemptImages": []any{"registry.k8s.io/*"}},
			"config":    map[string]any{"registry": map[string]any{"cache": map[string]any{"positiveTTL": "10m"}}},
			"logLevel":  "debug",
			// The re-verifier reads the same config file.
			"reverifier": map[string]any{"enabled": true},
		},
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		selfManaged: true, secret: "pullguard-webhook-tls", config: wantConfig,
		reverifier: &installcheck.Reverifier{Name: "pullguard-reverify", Replicas: 2, MinAvailable: 1, ScanInterval: "1h", SecureMetrics: true},
	},
	"cloud identities": {
		values: map[string]any{
			"registry": map[string]any{"cloud": map[string]any{
				"ecr": map[string]any{"enabled": true, "regions": []any{"us-east-1"}},
				"gcp": map[string]any{"enabled": true},
				"acr": map[string]any{"enabled": true},
			}},
			"serviceAccount": map[string]any{"annotations": map[string]any{
				"eks.amazonaws.com/role-arn":        "arn:aws:iam::123456789012:role/pullguard",
				"iam.gke.io/gcp-service-account":    "pullguard@proj.iam.gserviceaccount.com",
				"azure.workload.identity/client-id": "22222222-2222-2222-2222-222222222222",
			}},
			"reverifier": map[string]any{"enabled": true},
		},
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		selfManaged: true, secret: "pullguard-webhook-tls", config: wantCloudConfig, cloud: installcheck.CloudIdentities{ECR: true, GCP: true, ACR: true},
		reverifier: &installcheck.Reverifier{Name: "pullguard-reverify", Replicas: 2, MinAvailable: 1, ScanInterval: "1h", SecureMetrics: true},
	},
	"audit, image by digest, extra metadata, monitoring": {
		release: "pullguard", namespace: "pullguard",
		apiVersions: []string{render.CertManagerAPI},
		values: map[string]any{
			"mode":              "audit",
			"image":             map[string]any{"digest": "sha256:" + strings.Repeat("ab", 32)},
			"commonLabels":      map[string]any{"team": "platform"},
			"commonAnnotations": map[string]any{"owner": "platform@example.com"},
			"podAnnotations":    map[string]any{"example.com/scrape": "false"},
			"metrics": map[string]any{
				"readerSubjects": []any{map[string]any{"kind": "ServiceAccount", "name": "prometheus", "namespace": "monitoring"}},
				"serviceMonitor": map[string]any{"enabled": true},
				"prometheusRule": map[string]any{"enabled": true},
				"dashboard":      map[string]any{"enabled": true},
			},
			"networkPolicy": map[string]any{"ingressFrom": []any{"10.0.0.0/24", map[string]any{"namespaceSelector": map[string]any{"matchLabels": map[string]any{"kubernetes.io/metadata.name": "konnectivity"}}}}},
		},
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "audit",
		certManager: true, secret: "pullguard-webhook-tls",
	},
	"re-verifier": {
		release: "guard", namespace: "security",
		apiVersions: []string{render.CertManagerAPI},
		values: map[string]any{
			"reverifier": map[string]any{
				"enabled": true, "replicas": 3, "scanInterval": "30m",
				"podDisruptionBudget": map[string]any{"minAvailable": 2},
			},
		},
		prefix: "guard-pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		certManager: true, secret: "guard-pullguard-webhook-tls",
		reverifier: &installcheck.Reverifier{Name: "guard-pullguard-reverify", Replicas: 3, MinAvailable: 2, ScanInterval: "30m", SecureMetrics: true},
	},
	"namespace created by the chart": {
		values: map[string]any{"namespace": map[string]any{"create": true}, "certificates": map[string]any{"mode": "cert-manager"}},
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		certManager: true, secret: "pullguard-webhook-tls",
	},
}

// check is what installcheck asks of this install.
func (in install) check() installcheck.Install {
	image := "ghcr.io/pullguard/pullguard:latest"
	if img, _ := in.values["image"].(map[string]any); img["digest"] != nil {
		image = "ghcr.io/pullguard/pullguard@" + img["digest"].(string)
	}
	out := installcheck.Install{
		Namespace: in.ns(), Name: in.name(), WebhookConfiguration: in.prefix, MetricsReader: in.prefix + "-metrics-reader",
		Image: image, Secret: in.secret,
		Replicas: in.replicas, MinAvailable: in.minAvailable, FailurePolicy: in.failurePolicy, Mode: in.mode,
		CertManager: in.certManager, SelfManaged: in.selfManaged, Cloud: in.cloud,
	}
	if in.caBundle {
		out.CABundle = testCA
	}
	if _, ok := in.values["networkPolicy"]; ok {
		out.IngressFrom = []networkingv1.NetworkPolicyPeer{
			{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/24"}},
			{NamespaceSelector: &metav1.LabelSelector{MatchLabels: map[string]string{"kubernetes.io/metadata.name": "konnectivity"}}},
		}
	}
	return out
}

// forEachInstall renders each install once and runs every check on it.
func forEachInstall(t *testing.T, checks map[string]func(*testing.T, installcheck.Objects, install)) {
	for iName, in := range installs {
		t.Run(iName, func(t *testing.T) {
			r := renderChart(t, in.options())
			for cName, check := range checks {
				t.Run(cName, func(t *testing.T) { check(t, r, in) })
			}
		})
	}
}

// TestInstall checks every property an install must have (internal/installcheck, shared with the
// kustomizations' tests) on each rendering.
func TestInstall(t *testing.T) {
	for iName, in := range installs {
		t.Run(iName, func(t *testing.T) {
			r := renderChart(t, in.options())
			installcheck.Run(t, r, in.check())
			if in.reverifier != nil {
				installcheck.RunReverifier(t, r, in.check(), *in.reverifier)
			}
		})
	}
}

func TestRenderedObjects(t *testing.T) {
	forEachInstall(t, map[string]func(*testing.T, installcheck.Objects, install){
		"objects": func(t *testing.T, r installcheck.Objects, in install) {
			ns, p := in.ns(), in.prefix
			want := []installcheck.Key{
				{Kind: "ServiceAccount", Namespace: ns, Name: in.name()},
				{Kind: "ClusterRole", Namespace: "", Name: in.name()},
				{Kind: "ClusterRole", Namespace: "", Name: p + "-metrics-reader"},
				{Kind: "ClusterRoleBinding", Namespace: "", Name: in.name()},
				{Kind: "Deployment", Namespace: ns, Name: in.name()},
				{Kind: "PodDisruptionBudget", Namespace: ns, Name: in.name()},
				{Kind: "Service", Namespace: ns, Name: in.name()},
				{Kind: "NetworkPolicy", Namespace: ns, Name: in.name()},
				{Kind: "ValidatingWebhookConfiguration", Namespace: "", Name: p},
			}
			if in.certManager {
				want = append(want, installcheck.Key{Kind: "Issuer", Namespace: ns, Name: p + "-selfsigned"}, installcheck.Key{Kind: "Issuer", Namespace: ns, Name: p + "-ca"},
					installcheck.Key{Kind: "Certificate", Namespace: ns, Name: p + "-ca"}, installcheck.Key{Kind: "Certificate", Namespace: ns, Name: in.name()})
			}
			if in.selfManaged {
				certs := in.name() + "-certs"
				want = append(want, installcheck.Key{Kind: "Secret", Namespace: ns, Name: in.secret},
					installcheck.Key{Kind: "Role", Namespace: ns, Name: certs}, installcheck.Key{Kind: "RoleBinding", Namespace: ns, Name: certs},
					installcheck.Key{Kind: "ClusterRole", Name: certs}, installcheck.Key{Kind: "ClusterRoleBinding", Name: certs})
			}
			if in.config != nil {
				want = append(want, installcheck.Key{Kind: "ConfigMap", Namespace: ns, Name: p + "-config"})
			}
			if v, _ := in.values["namespace"].(map[string]any); v["create"] == true {
				want = append(want, installcheck.Key{Kind: "Namespace", Namespace: "", Name: ns})
			}
			if in.reverifier != nil {
				want = append(want, installcheck.ReverifierKeys(ns, in.reverifier.Name)...)
			}
			if m, _ := in.values["metrics"].(map[string]any); m["prometheusRule"] != nil {
				want = append(want, installcheck.Key{Kind: "ClusterRoleBinding", Namespace: "", Name: p + "-metrics-reader"},
					installcheck.Key{Kind: "ServiceMonitor", Namespace: ns, Name: in.name()}, installcheck.Key{Kind: "PrometheusRule", Namespace: ns, Name: in.name()},
					installcheck.Key{Kind: "ConfigMap", Namespace: ns, Name: p + "-dashboard"})
			}
			got := r.Keys()
			var wantS []string
			for _, k := range want {
				wantS = append(wantS, k.String())
			}
			slices.Sort(wantS)
			if !slices.Equal(got, wantS) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, wantS)
			}
		},
		"labels": func(t *testing.T, r installcheck.Objects, in install) {
			extra, _ := in.values["commonLabels"].(map[string]any)
			for key, obj := range r {
				m, err := metaOf(obj)
				if err != nil {
					t.Fatal(err)
				}
				l := m.GetLabels()
				if l["app.kubernetes.io/part-of"] != "pullguard" || l["app.kubernetes.io/managed-by"] != "Helm" || l["helm.sh/chart"] == "" {
					t.Errorf("%s: labels %v lack the chart's", key, l)
				}
				for k, v := range extra {
					if l[k] != v {
						t.Errorf("%s: label %s=%q, want %q", key, k, l[k], v)
					}
				}
				if a, ok := in.values["commonAnnotations"].(map[string]any); ok {
					for k, v := range a {
						if m.GetAnnotations()[k] != v {
							t.Errorf("%s: annotation %s=%q, want %q", key, k, m.GetAnnotations()[k], v)
						}
					}
				}
			}
		},
	})
}

// TestWebhookArgs: the chart's own args and --config file, accepted by the binary.
func TestWebhookArgs(t *testing.T) {
	forEachInstall(t, map[string]func(*testing.T, installcheck.Objects, install){
		"args and config file": func(t *testing.T, r installcheck.Objects, in install) {
			c := installcheck.Container(t, r, in.check())
			flags := installcheck.Flags(t, c)
			args := slices.Clone(c.Args)
			if _, ok := flags["--config"]; ok != (in.config != nil) {
				t.Fatalf("--config given = %v, want %v", ok, in.config != nil)
			}
			if in.config != nil {
				cm := installcheck.Get[*corev1.ConfigMap](t, r, "ConfigMap", in.ns(), in.prefix+"-config")
				file := checkConfigFile(t, cm, in)
				args[slices.Index(args, "--config="+configPath)] = "--config=" + file
				if d := installcheck.Deployment(t, r, in.check()); d.Spec.Template.Annotations["checksum/config"] == "" {
					t.Error("no checksum/config annotation: a config change would not roll the pods")
				}
			}
			// The binary's own parser and validation: with a kubeconfig that does not exist, Main
			// gets as far as loading it, so every flag and the config file were accepted.
			missing := filepath.Join(t.TempDir(), "no-kubeconfig")
			err := app.Main(context.Background(), append(args, "--kubeconfig="+missing), io.Discard, io.Discard)
			if !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("cmd/webhook rejects the args %q: %v", args, err)
			}
		},
		"metrics reader binding": func(t *testing.T, r installcheck.Objects, in install) {
			m, _ := in.values["metrics"].(map[string]any)
			b, ok := r[installcheck.Key{Kind: "ClusterRoleBinding", Name: in.prefix + "-metrics-reader"}].(*rbacv1.ClusterRoleBinding)
			if ok != (m != nil) {
				t.Fatalf("metrics reader binding rendered = %v, want %v (metrics.readerSubjects given)", ok, m != nil)
			}
			if ok && (b.RoleRef.Name != in.prefix+"-metrics-reader" || len(b.Subjects) != 1 || b.Subjects[0].Name != "prometheus") {
				t.Errorf("metrics reader binding %+v", b)
			}
		},
	})
}

// checkConfigFile checks that the rendered --config file holds what the values asked for, under
// the webhook's keys, and writes it to a file for Main, whose strict loader is the real check.
func checkConfigFile(t *testing.T, cm *corev1.ConfigMap, in install) string {
	t.Helper()
	data := cm.Data["config.yaml"]
	js, err := yaml.YAMLToJSONStrict([]byte(data))
	if err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	var got map[string]any
	if err := json.Unmarshal(js, &got); err != nil {
		t.Fatalf("config.yaml: %v", err)
	}
	if !jsonEqual(got, in.config) {
		t.Errorf("config.yaml\n%s\nwant the equivalent of %v", data, in.config)
	}
	if reg, _ := in.values["registry"].(map[string]any); reg["caBundle"] == nil {
		return writeConfig(t, data)
	}
	// The CA bundle is mounted next to the file, where caFile points.
	if cm.Data["registry-ca.crt"] != testCA {
		t.Errorf("registry-ca.crt %q, want the PEM given", cm.Data["registry-ca.crt"])
	}
	// Main reads the CA file when it validates: point caFile at a real CA here.
	dir := t.TempDir()
	ca, err := selfca.Generate([]string{"registry.internal.example"}, nil, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(dir, "registry-ca.crt")
	if err := os.WriteFile(caFile, ca.CACert, 0o600); err != nil {
		t.Fatal(err)
	}
	return writeConfig(t, strings.ReplaceAll(data, "/etc/pullguard/registry-ca.crt", caFile))
}

// writeConfig writes a config file for Main.
func writeConfig(t *testing.T, data string) string {
	t.Helper()
	file := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(file, []byte(data), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

// wantCloudConfig is the config file of the "cloud identities" install.
var wantCloudConfig = map[string]any{
	"apiVersion": "config.pullguard.io/v1alpha1",
	"kind":       "WebhookConfiguration",
	"registry": map[string]any{"cloud": map[string]any{
		"ecr": map[string]any{"enabled": true, "regions": []any{"us-east-1"}},
		"gcp": map[string]any{"enabled": true},
		"acr": map[string]any{"enabled": true},
	}},
}

// wantConfig is the config file of the "registry settings" install.
var wantConfig = map[string]any{
	"apiVersion": "config.pullguard.io/v1alpha1",
	"kind":       "WebhookConfiguration",
	"registry": map[string]any{
		"allowPrivateRegistries":   []any{"registry.internal.example", "10.20.0.0/16"},
		"insecureRegistries":       []any{"harbor.local"},
		"caFile":                   "/etc/pullguard/registry-ca.crt",
		"nodeCredentialRegistries": []any{},
		"mirrors": map[string]any{"docker.io": []any{
			map[string]any{"host": "mirror.internal.example"},
			map[string]any{"host": "cache.internal.example:5000", "pullOnly": true},
		}},
		"proxy": "http://proxy.internal.example:3128",
		"cache": map[string]any{"positiveTTL": "10m"},
	},
	"admission": map[string]any{"denyUnverifiable": true, "exemptImages": []any{"registry.k8s.io/*"}},
	"logging":   map[string]any{"level": "debug"},
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}
