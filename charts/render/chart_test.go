package render_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"io/fs"
	"maps"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	cmv1 "github.com/cert-manager/cert-manager/pkg/apis/certmanager/v1"
	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"
	"sigs.k8s.io/yaml"

	"github.com/pullguard/pullguard/certs/selfca"
	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/pkg/admission"
)

const (
	webhookName = "images.pullguard.io"
	certDir     = "/tmp/k8s-webhook-server/serving-certs"
	configPath  = "/etc/pullguard/config.yaml"
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
	caBundle      bool // clientConfig.caBundle is set (provided mode)
	secret        string
	config        bool // a --config file is rendered and mounted
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
		secret: "pullguard-webhook-tls",
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
		},
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		secret: "pullguard-webhook-tls", config: true,
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
	"namespace created by the chart": {
		values: map[string]any{"namespace": map[string]any{"create": true}, "certificates": map[string]any{"mode": "cert-manager"}},
		prefix: "pullguard", replicas: 2, minAvailable: 1, failurePolicy: admissionregistrationv1.Ignore, mode: "warn",
		certManager: true, secret: "pullguard-webhook-tls",
	},
}

// forEachInstall renders each install once and runs every check on it.
func forEachInstall(t *testing.T, checks map[string]func(*testing.T, rendered, install)) {
	for iName, in := range installs {
		t.Run(iName, func(t *testing.T) {
			r := renderChart(t, in.options())
			for cName, check := range checks {
				t.Run(cName, func(t *testing.T) { check(t, r, in) })
			}
		})
	}
}

func deployment(t *testing.T, r rendered, in install) *appsv1.Deployment {
	t.Helper()
	return get[*appsv1.Deployment](t, r, "Deployment", in.ns(), in.name())
}

func webhookContainer(t *testing.T, r rendered, in install) corev1.Container {
	t.Helper()
	d := deployment(t, r, in)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func podSelects(t *testing.T, sel *metav1.LabelSelector, d *appsv1.Deployment) bool {
	t.Helper()
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(d.Spec.Template.Labels))
}

func TestRenderedObjects(t *testing.T) {
	forEachInstall(t, map[string]func(*testing.T, rendered, install){
		"objects": func(t *testing.T, r rendered, in install) {
			ns, p := in.ns(), in.prefix
			want := []objKey{
				{"ServiceAccount", ns, in.name()},
				{"ClusterRole", "", in.name()},
				{"ClusterRole", "", p + "-metrics-reader"},
				{"ClusterRoleBinding", "", in.name()},
				{"Deployment", ns, in.name()},
				{"PodDisruptionBudget", ns, in.name()},
				{"Service", ns, in.name()},
				{"NetworkPolicy", ns, in.name()},
				{"ValidatingWebhookConfiguration", "", p},
			}
			if in.certManager {
				want = append(want, objKey{"Issuer", ns, p + "-selfsigned"}, objKey{"Issuer", ns, p + "-ca"},
					objKey{"Certificate", ns, p + "-ca"}, objKey{"Certificate", ns, in.name()})
			}
			if in.config {
				want = append(want, objKey{"ConfigMap", ns, p + "-config"})
			}
			if v, _ := in.values["namespace"].(map[string]any); v["create"] == true {
				want = append(want, objKey{"Namespace", "", ns})
			}
			if m, _ := in.values["metrics"].(map[string]any); m != nil {
				want = append(want, objKey{"ClusterRoleBinding", "", p + "-metrics-reader"},
					objKey{"ServiceMonitor", ns, in.name()}, objKey{"PrometheusRule", ns, in.name()},
					objKey{"ConfigMap", ns, p + "-dashboard"})
			}
			got := slices.Sorted(slices.Values(keys(r)))
			var wantS []string
			for _, k := range want {
				wantS = append(wantS, k.String())
			}
			slices.Sort(wantS)
			if !slices.Equal(got, wantS) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, wantS)
			}
		},
		"labels": func(t *testing.T, r rendered, in install) {
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

func TestDeployment(t *testing.T) {
	forEachInstall(t, map[string]func(*testing.T, rendered, install){
		"replicas": func(t *testing.T, r rendered, in install) {
			d := deployment(t, r, in)
			if d.Spec.Replicas == nil || *d.Spec.Replicas != in.replicas || in.replicas < 2 {
				t.Errorf("replicas = %v, want %d (at least 2)", d.Spec.Replicas, in.replicas)
			}
			ru := d.Spec.Strategy.RollingUpdate
			if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v, want maxUnavailable 0 so a rollout never drops capacity", ru)
			}
			if !podSelects(t, d.Spec.Selector, d) {
				t.Errorf("selector %v does not select the pod template labels %v", d.Spec.Selector, d.Spec.Template.Labels)
			}
		},
		"image": func(t *testing.T, r rendered, in install) {
			c := webhookContainer(t, r, in)
			want := "ghcr.io/pullguard/pullguard:latest"
			if img, _ := in.values["image"].(map[string]any); img["digest"] != nil {
				want = "ghcr.io/pullguard/pullguard@" + img["digest"].(string)
			}
			if c.Image != want {
				t.Errorf("image %q, want %q", c.Image, want)
			}
		},
		"args and config file": func(t *testing.T, r rendered, in install) {
			c := webhookContainer(t, r, in)
			if !slices.Equal(c.Command, []string{"/webhook"}) {
				t.Errorf("command %q, want [/webhook]", c.Command)
			}
			if len(c.Args) == 0 || c.Args[0] != "--default-mode="+in.mode {
				t.Errorf("args %q: want --default-mode=%s first (manifests/components/enforce patches it by position)", c.Args, in.mode)
			}
			if !admission.Mode(in.mode).Valid() {
				t.Fatalf("mode %q is not a mode the webhook knows", in.mode)
			}
			flags := map[string]string{}
			for _, arg := range c.Args {
				flag, value, ok := strings.Cut(arg, "=")
				if !ok {
					t.Errorf("arg %q is not --flag=value", arg)
				}
				if _, dup := flags[flag]; dup {
					t.Errorf("flag %s given twice", flag)
				}
				flags[flag] = value
			}
			for flag, want := range map[string]string{
				"--port": "9443", "--cert-dir": certDir, "--metrics-bind-address": ":8080", "--health-probe-bind-address": ":8081",
			} {
				if flags[flag] != want {
					t.Errorf("%s=%q, want %q", flag, flags[flag], want)
				}
			}
			args := slices.Clone(c.Args)
			if _, ok := flags["--config"]; ok != in.config {
				t.Fatalf("--config given = %v, want %v", ok, in.config)
			}
			if in.config {
				cm := get[*corev1.ConfigMap](t, r, "ConfigMap", in.ns(), in.prefix+"-config")
				file := checkConfigFile(t, cm, in)
				args[slices.Index(args, "--config="+configPath)] = "--config=" + file
				if d := deployment(t, r, in); d.Spec.Template.Annotations["checksum/config"] == "" {
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
		"resources and GOMEMLIMIT": func(t *testing.T, r rendered, in install) {
			c := webhookContainer(t, r, in)
			for what, tc := range map[string]struct {
				list corev1.ResourceList
				res  corev1.ResourceName
				qty  string
			}{
				"cpu request":    {c.Resources.Requests, corev1.ResourceCPU, "50m"},
				"memory request": {c.Resources.Requests, corev1.ResourceMemory, "64Mi"},
				"cpu limit":      {c.Resources.Limits, corev1.ResourceCPU, "500m"},
				"memory limit":   {c.Resources.Limits, corev1.ResourceMemory, "256Mi"},
			} {
				if got, ok := tc.list[tc.res]; !ok || got.Cmp(resource.MustParse(tc.qty)) != 0 {
					t.Errorf("%s = %v, want %s", what, got.String(), tc.qty)
				}
			}
			if got := env(c, "GOMEMLIMIT"); got != "200MiB" {
				t.Errorf("GOMEMLIMIT %q, want 200MiB (25/32 of 256Mi)", got)
			}
		},
		"restricted security context": func(t *testing.T, r rendered, in install) {
			d := deployment(t, r, in)
			evaluator, err := psapolicy.NewEvaluator(psapolicy.DefaultChecks(), nil)
			if err != nil {
				t.Fatalf("building the Pod Security evaluator: %v", err)
			}
			lv := psaapi.LevelVersion{Level: psaapi.LevelRestricted, Version: psaapi.LatestVersion()}
			for _, res := range evaluator.EvaluatePod(lv, &d.Spec.Template.ObjectMeta, &d.Spec.Template.Spec) {
				if !res.Allowed {
					t.Errorf("violates restricted Pod Security: %s: %s", res.ForbiddenReason, res.ForbiddenDetail)
				}
			}
			pod, c := d.Spec.Template.Spec, webhookContainer(t, r, in)
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser != 65532 {
				t.Error("pod runAsUser is not 65532 (distroless nonroot)")
			}
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Error("root filesystem is writable")
			}
			if pod.HostNetwork || pod.HostPID || pod.HostIPC {
				t.Error("pod shares a host namespace")
			}
			if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken || pod.ServiceAccountName != in.name() {
				t.Errorf("service account %q (token mounted %v), want %s with its token", pod.ServiceAccountName, pod.AutomountServiceAccountToken, in.name())
			}
			get[*corev1.ServiceAccount](t, r, "ServiceAccount", in.ns(), pod.ServiceAccountName)
		},
		"dns": func(t *testing.T, r rendered, in install) {
			dc := deployment(t, r, in).Spec.Template.Spec.DNSConfig
			if dc == nil || len(dc.Options) != 1 || dc.Options[0].Name != "ndots" || dc.Options[0].Value == nil || *dc.Options[0].Value != "1" {
				t.Errorf("dnsConfig %+v, want options ndots 1", dc)
			}
		},
		"serving certificate mount": func(t *testing.T, r rendered, in install) {
			pod, c := deployment(t, r, in).Spec.Template.Spec, webhookContainer(t, r, in)
			i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == certDir })
			if i < 0 || !c.VolumeMounts[i].ReadOnly {
				t.Fatalf("no read-only mount at %s: %+v", certDir, c.VolumeMounts)
			}
			v := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
			if v < 0 || pod.Volumes[v].Secret == nil || pod.Volumes[v].Secret.SecretName != in.secret {
				t.Errorf("serving certificate volume %+v, want Secret %s", pod.Volumes, in.secret)
			}
		},
		"topology spread": func(t *testing.T, r rendered, in install) {
			d := deployment(t, r, in)
			got := map[string]corev1.TopologySpreadConstraint{}
			for _, c := range d.Spec.Template.Spec.TopologySpreadConstraints {
				got[c.TopologyKey] = c
			}
			for _, key := range []string{corev1.LabelHostname, corev1.LabelTopologyZone} {
				c, ok := got[key]
				if !ok {
					t.Errorf("no topology spread on %s", key)
					continue
				}
				if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.MaxSkew != 1 || !podSelects(t, c.LabelSelector, d) {
					t.Errorf("%s: %+v, want ScheduleAnyway, maxSkew 1, selecting the webhook pods", key, c)
				}
			}
		},
		"pod disruption budget": func(t *testing.T, r rendered, in install) {
			pdb := get[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", in.ns(), in.name())
			d := deployment(t, r, in)
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != int(in.minAvailable) || int32(pdb.Spec.MinAvailable.IntValue()) >= *d.Spec.Replicas {
				t.Errorf("minAvailable %v, want %d, below the %d replicas", pdb.Spec.MinAvailable, in.minAvailable, *d.Spec.Replicas)
			}
			if !podSelects(t, pdb.Spec.Selector, d) {
				t.Errorf("selector %v does not select the webhook pods", pdb.Spec.Selector)
			}
		},
		"service": func(t *testing.T, r rendered, in install) {
			svc := get[*corev1.Service](t, r, "Service", in.ns(), in.name())
			d := deployment(t, r, in)
			if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %v does not select the webhook pods", svc.Spec.Selector)
			}
			i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "https" })
			if i < 0 || svc.Spec.Ports[i].Port != 443 || svc.Spec.Ports[i].TargetPort != intstr.FromString("https") {
				t.Errorf("ports %+v, want https 443 → https", svc.Spec.Ports)
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
	want := map[string]any{
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
	if !jsonEqual(got, want) {
		t.Errorf("config.yaml\n%s\nwant the equivalent of %v", data, want)
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
	file := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(file, []byte(strings.ReplaceAll(data, "/etc/pullguard/registry-ca.crt", caFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	return file
}

func env(c corev1.Container, name string) string {
	for _, e := range c.Env {
		if e.Name == name {
			return e.Value
		}
	}
	return ""
}

func metaOf(obj any) (metav1.Object, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, errors.New("not an object")
	}
	return m, nil
}

func TestRBAC(t *testing.T) {
	want := map[string][]string{
		"secrets":                            {"get"},
		"serviceaccounts":                    {"get"},
		"nodes":                              {"get", "list", "watch"},
		"namespaces":                         {"get", "list", "watch"},
		"tokenreviews.authentication.k8s.io": {"create"},
		"subjectaccessreviews.authorization.k8s.io": {"create"},
	}
	forEachInstall(t, map[string]func(*testing.T, rendered, install){
		"least privilege": func(t *testing.T, r rendered, in install) {
			role := get[*rbacv1.ClusterRole](t, r, "ClusterRole", "", in.name())
			got := map[string][]string{}
			for _, rule := range role.Rules {
				if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 || role.AggregationRule != nil {
					t.Errorf("rule %+v: unexpected resourceNames, nonResourceURLs or aggregation", rule)
				}
				for _, group := range rule.APIGroups {
					for _, res := range rule.Resources {
						key := res
						if group != "" {
							key += "." + group
						}
						got[key] = append(got[key], rule.Verbs...)
					}
				}
			}
			for res := range got {
				slices.Sort(got[res])
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("granted %v, want %v", got, want)
			}
		},
		"metrics reader": func(t *testing.T, r rendered, in install) {
			role := get[*rbacv1.ClusterRole](t, r, "ClusterRole", "", in.prefix+"-metrics-reader")
			if len(role.Rules) != 1 || !slices.Equal(role.Rules[0].NonResourceURLs, []string{"/metrics"}) || !slices.Equal(role.Rules[0].Verbs, []string{"get"}) || len(role.Rules[0].Resources) > 0 {
				t.Errorf("rules %+v, want GET /metrics only", role.Rules)
			}
			if m, _ := in.values["metrics"].(map[string]any); m != nil {
				b := get[*rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", "", in.prefix+"-metrics-reader")
				if b.RoleRef.Name != role.Name || len(b.Subjects) != 1 || b.Subjects[0].Name != "prometheus" {
					t.Errorf("metrics reader binding %+v", b)
				}
			}
		},
		"bound to the webhook's service account": func(t *testing.T, r rendered, in install) {
			b := get[*rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", "", in.name())
			if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: in.name()}) {
				t.Errorf("roleRef %+v", b.RoleRef)
			}
			if want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: in.name(), Namespace: in.ns()}}; !slices.Equal(b.Subjects, want) {
				t.Errorf("subjects %+v, want %+v", b.Subjects, want)
			}
		},
	})
}

func TestValidatingWebhookConfiguration(t *testing.T) {
	wantRules := map[string][]string{
		"":      {"pods", "pods/ephemeralcontainers", "replicationcontrollers"},
		"apps":  {"daemonsets", "deployments", "replicasets", "statefulsets"},
		"batch": {"cronjobs", "jobs"},
	}
	forEachInstall(t, map[string]func(*testing.T, rendered, install){
		"webhook": func(t *testing.T, r rendered, in install) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", in.prefix)
			if len(vwc.Webhooks) != 1 {
				t.Fatalf("%d webhooks, want 1", len(vwc.Webhooks))
			}
			wh := vwc.Webhooks[0]
			if wh.Name != webhookName {
				t.Errorf("name %q, want %q", wh.Name, webhookName)
			}
			if wh.FailurePolicy == nil || *wh.FailurePolicy != in.failurePolicy {
				t.Errorf("failurePolicy %v, want %s", wh.FailurePolicy, in.failurePolicy)
			}
			if wh.SideEffects == nil || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone {
				t.Errorf("sideEffects %v, want None", wh.SideEffects)
			}
			cfg := admission.DefaultConfig()
			if wh.TimeoutSeconds == nil || *wh.TimeoutSeconds != 10 || time.Duration(*wh.TimeoutSeconds)*time.Second < cfg.MaxBudget+cfg.TimeoutMargin {
				t.Errorf("timeoutSeconds %v, want 10, at least the webhook's budget %v + margin %v", wh.TimeoutSeconds, cfg.MaxBudget, cfg.TimeoutMargin)
			}
			if wh.MatchPolicy == nil || *wh.MatchPolicy != admissionregistrationv1.Equivalent || !slices.Equal(wh.AdmissionReviewVersions, []string{"v1"}) {
				t.Errorf("matchPolicy %v, admissionReviewVersions %q", wh.MatchPolicy, wh.AdmissionReviewVersions)
			}
			if wh.ObjectSelector != nil && (len(wh.ObjectSelector.MatchLabels) > 0 || len(wh.ObjectSelector.MatchExpressions) > 0) {
				t.Errorf("objectSelector %+v, want none", wh.ObjectSelector)
			}
			if len(wh.MatchConditions) != 1 || wh.MatchConditions[0].Name != "not-a-mirror-pod" {
				t.Errorf("matchConditions %+v, want not-a-mirror-pod", wh.MatchConditions)
			}
			ref := wh.ClientConfig.Service
			if ref == nil || ref.Namespace != in.ns() || ref.Name != in.name() || ref.Path == nil || *ref.Path != admission.Path || ref.Port == nil || *ref.Port != 443 || wh.ClientConfig.URL != nil {
				t.Errorf("clientConfig %+v, want Service %s/%s:443%s", wh.ClientConfig, in.ns(), in.name(), admission.Path)
			}
			if got := len(wh.ClientConfig.CABundle) > 0; got != in.caBundle {
				t.Errorf("caBundle set = %v, want %v", got, in.caBundle)
			}
			if in.caBundle && string(wh.ClientConfig.CABundle) != testCA {
				t.Errorf("caBundle %q, want the PEM given", wh.ClientConfig.CABundle)
			}
			got := map[string][]string{}
			for _, rule := range wh.Rules {
				ops := slices.Sorted(slices.Values(rule.Operations))
				if !slices.Equal(ops, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}) {
					t.Errorf("rule %v: operations %q, want CREATE and UPDATE only", rule.Resources, rule.Operations)
				}
				for _, group := range rule.APIGroups {
					got[group] = append(got[group], rule.Resources...)
				}
			}
			for group := range got {
				slices.Sort(got[group])
			}
			if !maps.EqualFunc(got, wantRules, slices.Equal) {
				t.Errorf("intercepted resources %v, want %v", got, wantRules)
			}
		},
		"namespace selector": func(t *testing.T, r rendered, in install) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", in.prefix)
			sel, err := metav1.LabelSelectorAsSelector(vwc.Webhooks[0].NamespaceSelector)
			if err != nil {
				t.Fatalf("namespaceSelector: %v", err)
			}
			tests := map[string]bool{"default": true, "team-a": true, "kube-system": false, "kube-node-lease": false, in.ns(): false}
			for ns, want := range tests {
				if got := sel.Matches(labels.Set{corev1.LabelMetadataName: ns}); got != want {
					t.Errorf("namespace %s intercepted = %v, want %v", ns, got, want)
				}
			}
			for _, req := range vwc.Webhooks[0].NamespaceSelector.MatchExpressions {
				if req.Key != corev1.LabelMetadataName {
					t.Errorf("namespaceSelector uses label %s, which namespace owners can change", req.Key)
				}
			}
		},
		"certificates": func(t *testing.T, r rendered, in install) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", in.prefix)
			inject, ok := vwc.Annotations[cmv1.WantInjectAnnotation]
			if !in.certManager {
				if ok || len(all[*cmv1.Certificate](r))+len(all[*cmv1.Issuer](r)) > 0 {
					t.Errorf("cert-manager objects or %s=%q without cert-manager", cmv1.WantInjectAnnotation, inject)
				}
				return
			}
			serving := get[*cmv1.Certificate](t, r, "Certificate", in.ns(), in.name())
			if inject != in.ns()+"/"+serving.Name || serving.Spec.SecretName != in.secret {
				t.Errorf("inject-ca-from %q, serving Certificate %s writes %s", inject, serving.Name, serving.Spec.SecretName)
			}
			caIssuer := get[*cmv1.Issuer](t, r, "Issuer", in.ns(), serving.Spec.IssuerRef.Name)
			if caIssuer.Spec.CA == nil {
				t.Fatalf("serving Certificate issued by %s, not a CA Issuer", caIssuer.Name)
			}
			caCert := get[*cmv1.Certificate](t, r, "Certificate", in.ns(), in.prefix+"-ca")
			root := get[*cmv1.Issuer](t, r, "Issuer", in.ns(), caCert.Spec.IssuerRef.Name)
			if !caCert.Spec.IsCA || caCert.Spec.SecretName != caIssuer.Spec.CA.SecretName || root.Spec.SelfSigned == nil || serving.Spec.IsCA {
				t.Errorf("chain: CA %+v, root %+v", caCert.Spec, root.Spec)
			}
			for what, tc := range map[string]struct {
				cert                  *cmv1.Certificate
				duration, renewBefore time.Duration
				rotation              cmv1.PrivateKeyRotationPolicy
			}{
				"CA":      {caCert, 87600 * time.Hour, 0, cmv1.RotationPolicyNever},
				"serving": {serving, 2160 * time.Hour, 360 * time.Hour, cmv1.RotationPolicyAlways},
			} {
				s := tc.cert.Spec
				if s.Duration == nil || s.Duration.Duration != tc.duration || (tc.renewBefore != 0 && (s.RenewBefore == nil || s.RenewBefore.Duration != tc.renewBefore)) {
					t.Errorf("%s duration %v renewBefore %v, want %v %v", what, s.Duration, s.RenewBefore, tc.duration, tc.renewBefore)
				}
				if pk := s.PrivateKey; pk == nil || pk.Algorithm != cmv1.ECDSAKeyAlgorithm || pk.Size != 256 || pk.RotationPolicy != tc.rotation {
					t.Errorf("%s privateKey %+v", what, pk)
				}
			}
			svcDNS := in.name() + "." + in.ns() + ".svc"
			if !slices.Equal(serving.Spec.DNSNames, []string{svcDNS, svcDNS + ".cluster.local"}) || !slices.Contains(serving.Spec.Usages, cmv1.UsageServerAuth) {
				t.Errorf("serving dnsNames %q usages %q", serving.Spec.DNSNames, serving.Spec.Usages)
			}
		},
	})
}

func TestNetworkPolicy(t *testing.T) {
	egress := map[string]struct {
		ip    string
		port  int32
		proto corev1.Protocol
		want  bool
	}{
		"cluster DNS":                   {"10.96.0.10", 53, corev1.ProtocolUDP, true},
		"cluster DNS over TCP":          {"10.96.0.10", 53, corev1.ProtocolTCP, true},
		"NodeLocal DNSCache":            {"169.254.20.10", 53, corev1.ProtocolUDP, true},
		"public registry":               {"203.0.113.10", 443, corev1.ProtocolTCP, true},
		"public registry on 5000":       {"203.0.113.10", 5000, corev1.ProtocolTCP, true},
		"public registry over IPv6":     {"2001:db8::10", 443, corev1.ProtocolTCP, true},
		"API server endpoint (kubeadm)": {"10.0.0.5", 6443, corev1.ProtocolTCP, true},
		"API server endpoint (EKS)":     {"192.168.12.34", 443, corev1.ProtocolTCP, true},
		"private registry on 5000":      {"10.1.2.3", 5000, corev1.ProtocolTCP, false},
		"private registry IPv6 on 5000": {"fd12::3", 5000, corev1.ProtocolTCP, false},
		"cloud metadata":                {"169.254.169.254", 80, corev1.ProtocolTCP, false},
		"cloud metadata on 443":         {"169.254.169.254", 443, corev1.ProtocolTCP, false},
		"ECS credentials":               {"169.254.170.2", 443, corev1.ProtocolTCP, false},
		"Alibaba metadata":              {"100.100.100.200", 443, corev1.ProtocolTCP, false},
		"AWS metadata over IPv6":        {"fd00:ec2::254", 443, corev1.ProtocolTCP, false},
		"IPv6 link-local":               {"fe80::1", 443, corev1.ProtocolTCP, false},
		"public host on another port":   {"203.0.113.10", 22, corev1.ProtocolTCP, false},
		"public host on plain HTTP":     {"203.0.113.10", 80, corev1.ProtocolTCP, false},
	}
	forEachInstall(t, map[string]func(*testing.T, rendered, install){
		"selects the webhook pods": func(t *testing.T, r rendered, in install) {
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", in.ns(), in.name())
			if !podSelects(t, &np.Spec.PodSelector, deployment(t, r, in)) {
				t.Errorf("podSelector %v does not select the webhook pods", np.Spec.PodSelector)
			}
			types := slices.Sorted(slices.Values(np.Spec.PolicyTypes))
			if !slices.Equal(types, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}) {
				t.Errorf("policyTypes %q", np.Spec.PolicyTypes)
			}
		},
		"ingress": func(t *testing.T, r rendered, in install) {
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", in.ns(), in.name())
			c := webhookContainer(t, r, in)
			var open []int32
			for _, rule := range np.Spec.Ingress {
				if len(rule.Ports) == 0 {
					t.Fatalf("ingress rule %+v opens every port", rule)
				}
				for _, p := range rule.Ports {
					i := slices.IndexFunc(c.Ports, func(cp corev1.ContainerPort) bool { return cp.Name == p.Port.StrVal })
					if p.Port.Type != intstr.String || i < 0 {
						t.Fatalf("ingress port %v is not a named container port", p.Port)
					}
					open = append(open, c.Ports[i].ContainerPort)
				}
			}
			slices.Sort(open)
			if want := []int32{8080, 9443}; !slices.Equal(open, want) {
				t.Errorf("ingress open on %v, want %v", open, want)
			}
			// The webhook port: from anywhere unless ingressFrom names the control plane.
			from := np.Spec.Ingress[0].From
			if np, _ := in.values["networkPolicy"].(map[string]any); np != nil {
				if len(from) != 2 || from[0].IPBlock == nil || from[0].IPBlock.CIDR != "10.0.0.0/24" || from[1].NamespaceSelector == nil {
					t.Errorf("webhook port from %+v, want the CIDR and the namespace given", from)
				}
			} else if len(from) != 0 {
				t.Errorf("webhook port from %+v, want anyone", from)
			}
		},
		"egress": func(t *testing.T, r rendered, in install) {
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", in.ns(), in.name())
			for what, tc := range egress {
				ip := netip.MustParseAddr(tc.ip)
				if got := egressAllows(t, np, ip, tc.port, tc.proto); got != tc.want {
					t.Errorf("%s: %s %s allowed = %v, want %v", what, tc.proto, netip.AddrPortFrom(ip, uint16(tc.port)), got, tc.want)
				}
			}
		},
	})
}

// egressAllows reports whether the policy lets the selected pods open a connection to ip:port.
func egressAllows(t *testing.T, np *networkingv1.NetworkPolicy, ip netip.Addr, port int32, proto corev1.Protocol) bool {
	t.Helper()
	for _, rule := range np.Spec.Egress {
		if len(rule.Ports) == 0 {
			t.Fatalf("egress rule %+v opens every port", rule)
		}
		portOK := false
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.Type != intstr.Int {
				t.Fatalf("egress port %+v is not numeric", p)
			}
			protocol := corev1.ProtocolTCP
			if p.Protocol != nil {
				protocol = *p.Protocol
			}
			portOK = portOK || (p.Port.IntVal == port && protocol == proto)
		}
		if !portOK {
			continue
		}
		if len(rule.To) == 0 {
			return true
		}
		for _, peer := range rule.To {
			if peer.IPBlock == nil {
				t.Fatalf("egress peer %+v is not an ipBlock", peer)
			}
			if ipBlockContains(t, peer.IPBlock, ip) {
				return true
			}
		}
	}
	return false
}

func ipBlockContains(t *testing.T, block *networkingv1.IPBlock, ip netip.Addr) bool {
	t.Helper()
	cidr, err := netip.ParsePrefix(block.CIDR)
	if err != nil {
		t.Fatalf("ipBlock cidr %q: %v", block.CIDR, err)
	}
	if !cidr.Contains(ip) {
		return false
	}
	for _, except := range block.Except {
		p, err := netip.ParsePrefix(except)
		if err != nil || !cidr.Contains(p.Addr()) {
			t.Fatalf("ipBlock except %q invalid or outside %s", except, block.CIDR)
		}
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
