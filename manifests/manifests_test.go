// Package manifests_test renders every shipped kustomization (manifests/ and certs/cert-manager)
// without a cluster and checks the properties the webhook's availability and security depend on.
// The e2e tests apply the same files to a real API server.
package manifests_test

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/netip"
	"reflect"
	"slices"
	"strconv"
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

	"github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/pkg/admission"
)

// Names other parts of the project rely on (the e2e tests, make demo, the README).
const (
	namespace         = "pullguard-system"
	name              = "pullguard-webhook"
	webhookConfigName = "pullguard"
	metricsReaderRole = "pullguard-metrics-reader"
	webhookName       = "images.pullguard.io"
	servingSecret     = "pullguard-webhook-tls"
	// certDir is controller-runtime's default --cert-dir, where the serving Secret is mounted.
	certDir = "/tmp/k8s-webhook-server/serving-certs"
	image   = "ghcr.io/pullguard/pullguard:latest"
)

// webhookFlags are the flags of cmd/webhook that deployments may rely on; the Deployment passes
// no others.
var webhookFlags = []string{
	"--port", "--cert-dir", "--config", "--default-mode", "--metrics-bind-address",
	"--health-probe-bind-address", "--allow-private-registries", "--insecure-registries",
	"--registry-ca-file", "--log-format",
}

// excludedNamespaces must never be intercepted: the cluster's own and the webhook's.
var excludedNamespaces = []string{"kube-system", "kube-node-lease", namespace}

// variant is one installable kustomization and what it must set.
type variant struct {
	dir           string
	replicas      int32
	minAvailable  int32
	failurePolicy admissionregistrationv1.FailurePolicyType
	mode          string
	// certManager: the serving certificate comes from cert-manager (Issuers, Certificates and
	// the inject-ca-from annotation are rendered); otherwise the user provides it.
	certManager bool
}

var variants = map[string]variant{
	"default": {
		dir: ".", replicas: 2, minAvailable: 1,
		failurePolicy: admissionregistrationv1.Ignore, mode: "warn", certManager: true,
	},
	"enforce": {
		dir: "overlays/enforce", replicas: 3, minAvailable: 2,
		failurePolicy: admissionregistrationv1.Fail, mode: "enforce", certManager: true,
	},
	"no-cert-manager": {
		dir: "overlays/no-cert-manager", replicas: 2, minAvailable: 1,
		failurePolicy: admissionregistrationv1.Ignore, mode: "warn", certManager: false,
	},
	"enforce without cert-manager (README example)": {
		dir: "testdata/enforce-no-cert-manager", replicas: 3, minAvailable: 2,
		failurePolicy: admissionregistrationv1.Fail, mode: "enforce", certManager: false,
	},
}

// forEachVariant renders each variant once and runs every check on it.
func forEachVariant(t *testing.T, checks map[string]func(*testing.T, rendered, variant)) {
	for vName, v := range variants {
		t.Run(vName, func(t *testing.T) {
			r := render(t, v.dir)
			for cName, check := range checks {
				t.Run(cName, func(t *testing.T) { check(t, r, v) })
			}
		})
	}
}

func TestRenderedObjects(t *testing.T) {
	webhookObjects := []objKey{
		{"Namespace", "", namespace},
		{"ServiceAccount", namespace, name},
		{"ClusterRole", "", name},
		{"ClusterRole", "", metricsReaderRole},
		{"ClusterRoleBinding", "", name},
		{"Deployment", namespace, name},
		{"PodDisruptionBudget", namespace, name},
		{"Service", namespace, name},
		{"NetworkPolicy", namespace, name},
		{"ValidatingWebhookConfiguration", "", webhookConfigName},
	}
	certManagerObjects := []objKey{
		{"Issuer", namespace, "pullguard-selfsigned"},
		{"Certificate", namespace, "pullguard-ca"},
		{"Issuer", namespace, "pullguard-ca"},
		{"Certificate", namespace, name},
	}
	tests := map[string]struct {
		dir  string
		want []objKey
	}{
		"default":                  {dir: ".", want: slices.Concat(webhookObjects, certManagerObjects)},
		"base":                     {dir: "base", want: webhookObjects},
		"overlays/enforce":         {dir: "overlays/enforce", want: slices.Concat(webhookObjects, certManagerObjects)},
		"overlays/no-cert-manager": {dir: "overlays/no-cert-manager", want: webhookObjects},
		"certs/cert-manager":       {dir: "../certs/cert-manager", want: certManagerObjects},
	}
	for tName, tc := range tests {
		t.Run(tName, func(t *testing.T) {
			r := render(t, tc.dir)
			got := slices.SortedFunc(maps.Keys(r), compareKeys)
			want := slices.SortedFunc(slices.Values(tc.want), compareKeys)
			if !slices.Equal(got, want) {
				t.Errorf("rendered objects\n got %v\nwant %v", got, want)
			}
			for key := range r {
				if clusterScoped[key.kind] != (key.namespace == "") {
					t.Errorf("%s: namespace %q for a kind that is cluster-scoped=%v", key, key.namespace, clusterScoped[key.kind])
				}
			}
		})
	}
}

// ptrString prints an optional field for a failure message.
func ptrString[T any](p *T) string {
	if p == nil {
		return "<unset>"
	}
	return fmt.Sprint(*p)
}

func compareKeys(a, b objKey) int { return strings.Compare(a.String(), b.String()) }

// flagValues parses the container's args, which must all be --flag=value of a known flag.
func flagValues(t *testing.T, c corev1.Container) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, arg := range c.Args {
		flag, value, ok := strings.Cut(arg, "=")
		if !ok {
			t.Errorf("arg %q is not --flag=value", arg)
			continue
		}
		if !slices.Contains(webhookFlags, flag) {
			t.Errorf("arg %q: cmd/webhook has no flag %s", arg, flag)
		}
		if _, dup := values[flag]; dup {
			t.Errorf("flag %s given twice", flag)
		}
		values[flag] = value
	}
	return values
}

func webhookContainer(t *testing.T, r rendered) corev1.Container {
	t.Helper()
	d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func containerPort(t *testing.T, c corev1.Container, portName string) int32 {
	t.Helper()
	for _, p := range c.Ports {
		if p.Name == portName {
			return p.ContainerPort
		}
	}
	t.Fatalf("container %s has no port named %s", c.Name, portName)
	return 0
}

// bindPort returns the port of a bind address such as ":8080".
func bindPort(t *testing.T, addr string) int32 {
	t.Helper()
	_, port, ok := strings.Cut(addr, ":")
	n, err := strconv.ParseInt(port, 10, 32)
	if !ok || err != nil {
		t.Fatalf("bind address %q has no port", addr)
	}
	return int32(n)
}

func TestDeployment(t *testing.T) {
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"replicas": func(t *testing.T, r rendered, v variant) {
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
			if d.Spec.Replicas == nil || *d.Spec.Replicas != v.replicas {
				t.Errorf("replicas = %s, want %d", ptrString(d.Spec.Replicas), v.replicas)
			}
			if v.replicas < 2 {
				t.Errorf("variant asks for %d replicas; one replica makes every rollout or drain an outage", v.replicas)
			}
			ru := d.Spec.Strategy.RollingUpdate
			if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
				t.Errorf("rolling update %+v, want maxUnavailable 0 so a rollout never drops capacity", ru)
			}
		},
		"selector matches pod labels": func(t *testing.T, r rendered, v variant) {
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
			sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
			if err != nil {
				t.Fatalf("selector: %v", err)
			}
			if sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %v does not select the pod template labels %v", sel, d.Spec.Template.Labels)
			}
		},
		"image and flags": func(t *testing.T, r rendered, v variant) {
			c := webhookContainer(t, r)
			if c.Image != image {
				t.Errorf("image %q, want %q", c.Image, image)
			}
			if !slices.Equal(c.Command, []string{"/webhook"}) {
				t.Errorf("command %q, want [/webhook]", c.Command)
			}
			flags := flagValues(t, c)
			if !admission.Mode(flags["--default-mode"]).Valid() {
				t.Errorf("--default-mode=%q is not a mode the webhook knows", flags["--default-mode"])
			}
			// The binary's own parser accepts the args; --version stops it before it starts.
			if err := app.Main(context.Background(), append(slices.Clone(c.Args), "--version"), io.Discard, io.Discard); err != nil {
				t.Errorf("cmd/webhook rejects the args: %v", err)
			}
			want := map[string]string{
				"--default-mode": v.mode,
				"--cert-dir":     certDir,
			}
			for flag, value := range want {
				if flags[flag] != value {
					t.Errorf("%s=%q, want %q", flag, flags[flag], value)
				}
			}
			for flag, portName := range map[string]string{
				"--metrics-bind-address":      "metrics",
				"--health-probe-bind-address": "health",
			} {
				if got, want := bindPort(t, flags[flag]), containerPort(t, c, portName); got != want {
					t.Errorf("%s binds port %d, container port %s is %d", flag, got, portName, want)
				}
			}
			port, err := strconv.ParseInt(flags["--port"], 10, 32)
			if err != nil || int32(port) != containerPort(t, c, "https") || port != 9443 {
				t.Errorf("--port=%q, want 9443 = container port https", flags["--port"])
			}
		},
		"probes": func(t *testing.T, r rendered, v variant) {
			c := webhookContainer(t, r)
			for probeName, tc := range map[string]struct {
				probe *corev1.Probe
				path  string
			}{
				"readiness": {c.ReadinessProbe, "/readyz"},
				"liveness":  {c.LivenessProbe, "/healthz"},
			} {
				if tc.probe == nil || tc.probe.HTTPGet == nil {
					t.Errorf("%s probe %+v, want an HTTP GET", probeName, tc.probe)
					continue
				}
				if tc.probe.HTTPGet.Path != tc.path || tc.probe.HTTPGet.Port != intstr.FromString("health") {
					t.Errorf("%s probe GET %s on %s, want %s on port health", probeName, tc.probe.HTTPGet.Path, tc.probe.HTTPGet.Port.String(), tc.path)
				}
			}
		},
		"resources": func(t *testing.T, r rendered, v variant) {
			c := webhookContainer(t, r)
			want := map[string]struct {
				list corev1.ResourceList
				res  corev1.ResourceName
				qty  string
			}{
				"cpu request":    {c.Resources.Requests, corev1.ResourceCPU, "50m"},
				"memory request": {c.Resources.Requests, corev1.ResourceMemory, "64Mi"},
				"cpu limit":      {c.Resources.Limits, corev1.ResourceCPU, "500m"},
				"memory limit":   {c.Resources.Limits, corev1.ResourceMemory, "256Mi"},
			}
			for what, tc := range want {
				got, ok := tc.list[tc.res]
				if !ok || got.Cmp(resource.MustParse(tc.qty)) != 0 {
					t.Errorf("%s = %v, want %s", what, got.String(), tc.qty)
				}
			}
			// The Go runtime's soft limit must sit below the container's hard one.
			var soft string
			for _, e := range c.Env {
				if e.Name == "GOMEMLIMIT" {
					soft = e.Value
				}
			}
			q, err := resource.ParseQuantity(strings.TrimSuffix(soft, "B"))
			if err != nil || q.Cmp(*c.Resources.Limits.Memory()) >= 0 {
				t.Errorf("GOMEMLIMIT %q, want a byte size below the memory limit %s", soft, c.Resources.Limits.Memory())
			}
		},
		"restricted security context": func(t *testing.T, r rendered, v variant) {
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
			ns := get[*corev1.Namespace](t, r, "Namespace", "", namespace)
			level, err := psaapi.ParseLevel(ns.Labels[psaapi.EnforceLevelLabel])
			if err != nil || level != psaapi.LevelRestricted {
				t.Errorf("namespace enforces Pod Security level %q, want restricted", ns.Labels[psaapi.EnforceLevelLabel])
			}
			// The Pod Security admission's own evaluator, as the API server runs it.
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
			// What restricted does not require but this webhook promises.
			pod, c := d.Spec.Template.Spec, webhookContainer(t, r)
			if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser != 65532 {
				t.Error("pod runAsUser is not 65532 (distroless nonroot)")
			}
			if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
				t.Error("root filesystem is writable")
			}
			if pod.HostNetwork || pod.HostPID || pod.HostIPC {
				t.Error("pod shares a host namespace")
			}
		},
		"service account": func(t *testing.T, r rendered, v variant) {
			pod := get[*appsv1.Deployment](t, r, "Deployment", namespace, name).Spec.Template.Spec
			get[*corev1.ServiceAccount](t, r, "ServiceAccount", namespace, pod.ServiceAccountName)
			if pod.ServiceAccountName != name {
				t.Errorf("serviceAccountName %q, want %q", pod.ServiceAccountName, name)
			}
			// The webhook reads the API; without a token every lookup fails.
			if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken {
				t.Error("service account token is not mounted")
			}
		},
		"serving certificate mount": func(t *testing.T, r rendered, v variant) {
			pod := get[*appsv1.Deployment](t, r, "Deployment", namespace, name).Spec.Template.Spec
			c := webhookContainer(t, r)
			var mount *corev1.VolumeMount
			for i := range c.VolumeMounts {
				if c.VolumeMounts[i].MountPath == certDir {
					mount = &c.VolumeMounts[i]
				}
			}
			if mount == nil || !mount.ReadOnly {
				t.Fatalf("no read-only mount at %s: %+v", certDir, c.VolumeMounts)
			}
			for _, vol := range pod.Volumes {
				if vol.Name != mount.Name {
					continue
				}
				if vol.Secret == nil || vol.Secret.SecretName != servingSecret {
					t.Errorf("volume %s is %+v, want Secret %s", vol.Name, vol.VolumeSource, servingSecret)
				}
				return
			}
			t.Errorf("no volume %s", mount.Name)
		},
		"topology spread": func(t *testing.T, r rendered, v variant) {
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
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
				// DoNotSchedule would leave replicas Pending on a single node or zone.
				if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.MaxSkew != 1 {
					t.Errorf("%s: whenUnsatisfiable %s maxSkew %d, want ScheduleAnyway and 1", key, c.WhenUnsatisfiable, c.MaxSkew)
				}
				sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
				if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
					t.Errorf("%s: selector %v does not select the webhook pods", key, c.LabelSelector)
				}
			}
		},
	})
}

func TestPodDisruptionBudget(t *testing.T) {
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"keeps replicas through drains": func(t *testing.T, r rendered, v variant) {
			pdb := get[*policyv1.PodDisruptionBudget](t, r, "PodDisruptionBudget", namespace, name)
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
			if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != int(v.minAvailable) {
				t.Errorf("minAvailable %v, want %d", pdb.Spec.MinAvailable, v.minAvailable)
			}
			// minAvailable equal to replicas would block every drain for good.
			if int32(pdb.Spec.MinAvailable.IntValue()) >= *d.Spec.Replicas {
				t.Errorf("minAvailable %s leaves no pod evictable out of %d", pdb.Spec.MinAvailable.String(), *d.Spec.Replicas)
			}
			sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("selector %v does not select the webhook pods", pdb.Spec.Selector)
			}
		},
	})
}

func TestService(t *testing.T) {
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"routes 443 to the webhook port": func(t *testing.T, r rendered, v variant) {
			svc := get[*corev1.Service](t, r, "Service", namespace, name)
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
			if !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) || len(svc.Spec.Selector) == 0 {
				t.Errorf("selector %v does not select the webhook pods", svc.Spec.Selector)
			}
			for _, p := range svc.Spec.Ports {
				if p.Name == "https" {
					if p.Port != 443 || p.TargetPort != intstr.FromString("https") {
						t.Errorf("port https is %d → %s, want 443 → https", p.Port, p.TargetPort.String())
					}
					containerPort(t, webhookContainer(t, r), p.TargetPort.StrVal)
					return
				}
			}
			t.Errorf("no port named https in %+v", svc.Spec.Ports)
		},
	})
}

func TestRBAC(t *testing.T) {
	// Exactly this, per resource (resource.group): anything more is a privilege the webhook does
	// not use. The reviews are how the secure metrics endpoint checks who scrapes it.
	want := map[string][]string{
		"secrets":                            {"get"},
		"serviceaccounts":                    {"get"},
		"nodes":                              {"get", "list", "watch"},
		"namespaces":                         {"get", "list", "watch"},
		"tokenreviews.authentication.k8s.io": {"create"},
		"subjectaccessreviews.authorization.k8s.io": {"create"},
	}
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"least privilege": func(t *testing.T, r rendered, v variant) {
			role := get[*rbacv1.ClusterRole](t, r, "ClusterRole", "", name)
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
						if group == rbacv1.APIGroupAll {
							t.Errorf("wildcard API group in %+v", rule)
						}
						got[key] = append(got[key], rule.Verbs...)
					}
				}
			}
			for res, verbs := range got {
				slices.Sort(verbs)
				if strings.HasPrefix(res, rbacv1.ResourceAll) || slices.Contains(verbs, rbacv1.VerbAll) {
					t.Errorf("wildcard in %s: %q", res, verbs)
				}
			}
			// Named separately because it matters most: list or watch on secrets would cache every
			// Secret of the cluster in the webhook.
			if slices.ContainsFunc(got["secrets"], func(v string) bool { return v == "list" || v == "watch" }) {
				t.Errorf("secrets verbs %q include list or watch", got["secrets"])
			}
			if !maps.EqualFunc(got, want, slices.Equal) {
				t.Errorf("granted %v, want %v", got, want)
			}
		},
		"metrics reader grants GET /metrics only": func(t *testing.T, r rendered, v variant) {
			role := get[*rbacv1.ClusterRole](t, r, "ClusterRole", "", metricsReaderRole)
			wantRules := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
			if !reflect.DeepEqual(role.Rules, wantRules) {
				t.Errorf("rules %+v, want %+v", role.Rules, wantRules)
			}
		},
		"bound to the webhook's service account": func(t *testing.T, r rendered, v variant) {
			binding := get[*rbacv1.ClusterRoleBinding](t, r, "ClusterRoleBinding", "", name)
			if binding.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name}) {
				t.Errorf("roleRef %+v, want ClusterRole %s", binding.RoleRef, name)
			}
			wantSubjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: name, Namespace: namespace}}
			if !slices.Equal(binding.Subjects, wantSubjects) {
				t.Errorf("subjects %+v, want %+v", binding.Subjects, wantSubjects)
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
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"webhook": func(t *testing.T, r rendered, v variant) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", webhookConfigName)
			if len(vwc.Webhooks) != 1 {
				t.Fatalf("%d webhooks, want 1", len(vwc.Webhooks))
			}
			wh := vwc.Webhooks[0]
			if wh.Name != webhookName {
				t.Errorf("name %q, want %q", wh.Name, webhookName)
			}
			if wh.FailurePolicy == nil || *wh.FailurePolicy != v.failurePolicy {
				t.Errorf("failurePolicy %s, want %s", ptrString(wh.FailurePolicy), v.failurePolicy)
			}
			if wh.SideEffects == nil || *wh.SideEffects != admissionregistrationv1.SideEffectClassNone {
				t.Errorf("sideEffects %s, want None (dry-run requests are sent)", ptrString(wh.SideEffects))
			}
			// The webhook's own budget plus its margin must fit in the API server's timeout, so a
			// slow registry ends in the webhook's decision rather than in a failed call. The
			// Deployment leaves both at their defaults.
			cfg := admission.DefaultConfig()
			if wh.TimeoutSeconds == nil || *wh.TimeoutSeconds > 10 ||
				time.Duration(*wh.TimeoutSeconds)*time.Second < cfg.MaxBudget+cfg.TimeoutMargin {
				t.Errorf("timeoutSeconds %s, want at most 10 and at least the webhook's budget %v + margin %v",
					ptrString(wh.TimeoutSeconds), cfg.MaxBudget, cfg.TimeoutMargin)
			}
			if wh.MatchPolicy == nil || *wh.MatchPolicy != admissionregistrationv1.Equivalent {
				t.Errorf("matchPolicy %s, want Equivalent", ptrString(wh.MatchPolicy))
			}
			if !slices.Equal(wh.AdmissionReviewVersions, []string{"v1"}) {
				t.Errorf("admissionReviewVersions %q, want [v1]", wh.AdmissionReviewVersions)
			}
			// An objectSelector would let anyone who can label an object skip the check.
			if wh.ObjectSelector != nil && (len(wh.ObjectSelector.MatchLabels) > 0 || len(wh.ObjectSelector.MatchExpressions) > 0) {
				t.Errorf("objectSelector %+v, want none", wh.ObjectSelector)
			}
			if len(wh.ClientConfig.CABundle) > 0 || wh.ClientConfig.URL != nil {
				t.Error("clientConfig carries a caBundle or URL; both are filled in per cluster")
			}
		},
		"calls the Service": func(t *testing.T, r rendered, v variant) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", webhookConfigName)
			ref := vwc.Webhooks[0].ClientConfig.Service
			if ref == nil {
				t.Fatal("clientConfig.service is not set")
			}
			// envtest rewrites a service reference to a URL only when it has a path.
			if ref.Path == nil || *ref.Path != admission.Path {
				t.Errorf("path %s, want %s, where the webhook serves", ptrString(ref.Path), admission.Path)
			}
			if ref.Port == nil || *ref.Port != 443 {
				t.Errorf("port %s, want 443", ptrString(ref.Port))
			}
			svc := get[*corev1.Service](t, r, "Service", ref.Namespace, ref.Name)
			if !slices.ContainsFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Port == *ref.Port }) {
				t.Errorf("Service %s/%s has no port %d", ref.Namespace, ref.Name, *ref.Port)
			}
		},
		"rules": func(t *testing.T, r rendered, v variant) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", webhookConfigName)
			got := map[string][]string{}
			for _, rule := range vwc.Webhooks[0].Rules {
				ops := slices.Sorted(slices.Values(rule.Operations))
				if !slices.Equal(ops, []admissionregistrationv1.OperationType{admissionregistrationv1.Create, admissionregistrationv1.Update}) {
					t.Errorf("rule %v: operations %q, want CREATE and UPDATE only", rule.Resources, rule.Operations)
				}
				if !slices.Equal(rule.APIVersions, []string{"v1"}) || rule.Scope == nil || *rule.Scope != admissionregistrationv1.NamespacedScope {
					t.Errorf("rule %v: apiVersions %q scope %s, want [v1] Namespaced", rule.Resources, rule.APIVersions, ptrString(rule.Scope))
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
		"namespace selector": func(t *testing.T, r rendered, v variant) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", webhookConfigName)
			sel, err := metav1.LabelSelectorAsSelector(vwc.Webhooks[0].NamespaceSelector)
			if err != nil {
				t.Fatalf("namespaceSelector: %v", err)
			}
			// The API server labels every namespace with its name; the selector sees only labels.
			tests := map[string]bool{"default": true, "team-a": true}
			for _, ns := range excludedNamespaces {
				tests[ns] = false
			}
			for ns, want := range tests {
				if got := sel.Matches(labels.Set{corev1.LabelMetadataName: ns}); got != want {
					t.Errorf("namespace %s intercepted = %v, want %v", ns, got, want)
				}
			}
			// Any other label could be set by a namespace owner to opt out.
			for _, req := range vwc.Webhooks[0].NamespaceSelector.MatchExpressions {
				if req.Key != corev1.LabelMetadataName {
					t.Errorf("namespaceSelector uses label %s, which namespace owners can change", req.Key)
				}
			}
		},
		"CA injection": func(t *testing.T, r rendered, v variant) {
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", webhookConfigName)
			got, ok := vwc.Annotations[cmv1.WantInjectAnnotation]
			if !v.certManager {
				if ok {
					t.Errorf("%s=%q without cert-manager: the cainjector is absent and the annotation misleads", cmv1.WantInjectAnnotation, got)
				}
				return
			}
			cert := servingCertificate(t, r)
			if want := cert.Namespace + "/" + cert.Name; got != want {
				t.Errorf("%s=%q, want %q (the serving Certificate)", cmv1.WantInjectAnnotation, got, want)
			}
		},
	})
}

// servingCertificate returns the Certificate whose Secret the Deployment mounts.
func servingCertificate(t *testing.T, r rendered) *cmv1.Certificate {
	t.Helper()
	for _, cert := range all[*cmv1.Certificate](r) {
		if cert.Spec.SecretName == servingSecret && cert.Namespace == namespace {
			return cert
		}
	}
	t.Fatalf("no Certificate writes Secret %s/%s", namespace, servingSecret)
	return nil
}

// issuer resolves a Certificate's issuerRef; only namespaced Issuers are shipped.
func issuer(t *testing.T, r rendered, cert *cmv1.Certificate) *cmv1.Issuer {
	t.Helper()
	ref := cert.Spec.IssuerRef
	if ref.Kind != cmv1.IssuerKind || ref.Group != "cert-manager.io" {
		t.Fatalf("Certificate %s: issuerRef %+v, want a cert-manager.io Issuer", cert.Name, ref)
	}
	return get[*cmv1.Issuer](t, r, cmv1.IssuerKind, cert.Namespace, ref.Name)
}

func TestCertManagerChain(t *testing.T) {
	duration := func(d *metav1.Duration) time.Duration {
		if d == nil {
			return 0
		}
		return d.Duration
	}
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"selfSigned, CA Certificate, CA Issuer, serving Certificate": func(t *testing.T, r rendered, v variant) {
			if !v.certManager {
				if n := len(all[*cmv1.Certificate](r)) + len(all[*cmv1.Issuer](r)); n > 0 {
					t.Errorf("%d cert-manager objects rendered; this variant must work without cert-manager", n)
				}
				return
			}
			serving := servingCertificate(t, r)
			caIssuer := issuer(t, r, serving)
			// A serving certificate straight from a selfSigned issuer is its own CA: every renewal
			// would change the caBundle and race the cainjector.
			if caIssuer.Spec.CA == nil || caIssuer.Spec.SelfSigned != nil {
				t.Fatalf("serving Certificate is issued by %s, which is not a CA Issuer", caIssuer.Name)
			}
			var caCert *cmv1.Certificate
			for _, c := range all[*cmv1.Certificate](r) {
				if c.Namespace == caIssuer.Namespace && c.Spec.SecretName == caIssuer.Spec.CA.SecretName {
					caCert = c
				}
			}
			if caCert == nil {
				t.Fatalf("no Certificate writes the CA Secret %s", caIssuer.Spec.CA.SecretName)
			}
			if !caCert.Spec.IsCA {
				t.Errorf("Certificate %s backs a CA Issuer but is not isCA", caCert.Name)
			}
			root := issuer(t, r, caCert)
			if root.Spec.SelfSigned == nil {
				t.Errorf("CA Certificate %s is issued by %s, want a selfSigned Issuer", caCert.Name, root.Name)
			}
			if serving.Spec.IsCA {
				t.Error("serving Certificate is a CA")
			}

			tests := map[string]struct {
				cert        *cmv1.Certificate
				duration    time.Duration
				renewBefore time.Duration
				rotation    cmv1.PrivateKeyRotationPolicy
			}{
				// The CA keeps its key on renewal so that leaves it signed keep verifying.
				"CA":      {cert: caCert, duration: 87600 * time.Hour, rotation: cmv1.RotationPolicyNever},
				"serving": {cert: serving, duration: 2160 * time.Hour, renewBefore: 360 * time.Hour, rotation: cmv1.RotationPolicyAlways},
			}
			for what, tc := range tests {
				spec := tc.cert.Spec
				if got := duration(spec.Duration); got != tc.duration {
					t.Errorf("%s duration %v, want %v", what, got, tc.duration)
				}
				if got := duration(spec.RenewBefore); got != tc.renewBefore {
					t.Errorf("%s renewBefore %v, want %v", what, got, tc.renewBefore)
				}
				pk := spec.PrivateKey
				if pk == nil || pk.Algorithm != cmv1.ECDSAKeyAlgorithm || pk.Size != 256 || pk.RotationPolicy != tc.rotation {
					t.Errorf("%s privateKey %+v, want ECDSA 256 with rotationPolicy %s", what, pk, tc.rotation)
				}
			}
			if !slices.Contains(serving.Spec.Usages, cmv1.UsageServerAuth) {
				t.Errorf("serving usages %q lack %q", serving.Spec.Usages, cmv1.UsageServerAuth)
			}
		},
		"serving certificate covers the Service": func(t *testing.T, r rendered, v variant) {
			if !v.certManager {
				return
			}
			vwc := get[*admissionregistrationv1.ValidatingWebhookConfiguration](t, r, "ValidatingWebhookConfiguration", "", webhookConfigName)
			ref := vwc.Webhooks[0].ClientConfig.Service
			svcDNS := ref.Name + "." + ref.Namespace + ".svc"
			// The API server verifies <service>.<namespace>.svc; the long form is for clients that
			// use the cluster domain.
			for _, dnsName := range []string{svcDNS, svcDNS + ".cluster.local"} {
				if !slices.Contains(servingCertificate(t, r).Spec.DNSNames, dnsName) {
					t.Errorf("serving Certificate lacks dnsName %s", dnsName)
				}
			}
		},
	})
}

// egressAllows reports whether the policy lets the selected pods open a connection to ip:port.
// It evaluates numeric ports only, which is all the shipped egress rules use.
func egressAllows(t *testing.T, np *networkingv1.NetworkPolicy, ip netip.Addr, port int32, proto corev1.Protocol) bool {
	t.Helper()
	for _, rule := range np.Spec.Egress {
		portOK := len(rule.Ports) == 0
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.Type != intstr.Int {
				t.Fatalf("egress port %+v is not numeric", p)
			}
			protocol := corev1.ProtocolTCP
			if p.Protocol != nil {
				protocol = *p.Protocol
			}
			if p.Port.IntVal == port && protocol == proto {
				portOK = true
			}
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
		if err != nil {
			t.Fatalf("ipBlock except %q: %v", except, err)
		}
		// The API server rejects an except outside its cidr; keep the files valid.
		if !cidr.Contains(p.Addr()) {
			t.Errorf("except %s is outside cidr %s", except, block.CIDR)
		}
		if p.Contains(ip) {
			return false
		}
	}
	return true
}

func TestNetworkPolicy(t *testing.T) {
	egress := map[string]struct {
		ip    string
		port  int32
		proto corev1.Protocol
		want  bool
	}{
		"cluster DNS":                     {"10.96.0.10", 53, corev1.ProtocolUDP, true},
		"cluster DNS over TCP":            {"10.96.0.10", 53, corev1.ProtocolTCP, true},
		"NodeLocal DNSCache":              {"169.254.20.10", 53, corev1.ProtocolUDP, true},
		"public registry":                 {"203.0.113.10", 443, corev1.ProtocolTCP, true},
		"public registry on 5000":         {"203.0.113.10", 5000, corev1.ProtocolTCP, true},
		"public registry over IPv6":       {"2001:db8::10", 443, corev1.ProtocolTCP, true},
		"API server endpoint (kubeadm)":   {"10.0.0.5", 6443, corev1.ProtocolTCP, true},
		"API server endpoint (EKS)":       {"192.168.12.34", 443, corev1.ProtocolTCP, true},
		"private registry on 5000":        {"10.1.2.3", 5000, corev1.ProtocolTCP, false},
		"private registry IPv6 on 5000":   {"fd12::3", 5000, corev1.ProtocolTCP, false},
		"cloud metadata":                  {"169.254.169.254", 80, corev1.ProtocolTCP, false},
		"cloud metadata on 443":           {"169.254.169.254", 443, corev1.ProtocolTCP, false},
		"ECS credentials":                 {"169.254.170.2", 443, corev1.ProtocolTCP, false},
		"Alibaba metadata":                {"100.100.100.200", 443, corev1.ProtocolTCP, false},
		"AWS metadata over IPv6":          {"fd00:ec2::254", 443, corev1.ProtocolTCP, false},
		"IPv6 link-local":                 {"fe80::1", 443, corev1.ProtocolTCP, false},
		"public host on another port":     {"203.0.113.10", 22, corev1.ProtocolTCP, false},
		"public host on plain HTTP":       {"203.0.113.10", 80, corev1.ProtocolTCP, false},
		"private host on 6443 over IPv6":  {"fd12::1", 6443, corev1.ProtocolTCP, true},
		"metadata on the API server port": {"169.254.169.254", 6443, corev1.ProtocolTCP, false},
	}
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"selects the webhook pods": func(t *testing.T, r rendered, v variant) {
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", namespace, name)
			d := get[*appsv1.Deployment](t, r, "Deployment", namespace, name)
			sel, err := metav1.LabelSelectorAsSelector(&np.Spec.PodSelector)
			if err != nil || sel.Empty() || !sel.Matches(labels.Set(d.Spec.Template.Labels)) {
				t.Errorf("podSelector %v does not select the webhook pods", np.Spec.PodSelector)
			}
			types := slices.Sorted(slices.Values(np.Spec.PolicyTypes))
			if !slices.Equal(types, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}) {
				t.Errorf("policyTypes %q, want Ingress and Egress", np.Spec.PolicyTypes)
			}
		},
		"ingress only to the webhook and metrics ports": func(t *testing.T, r rendered, v variant) {
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", namespace, name)
			c := webhookContainer(t, r)
			var open []int32
			for _, rule := range np.Spec.Ingress {
				if len(rule.Ports) == 0 {
					t.Fatalf("ingress rule %+v opens every port", rule)
				}
				for _, p := range rule.Ports {
					port := p.Port.IntVal
					if p.Port.Type == intstr.String {
						port = containerPort(t, c, p.Port.StrVal)
					}
					open = append(open, port)
				}
			}
			slices.Sort(open)
			if want := []int32{8080, 9443}; !slices.Equal(open, want) {
				t.Errorf("ingress open on %v, want %v", open, want)
			}
		},
		"egress": func(t *testing.T, r rendered, v variant) {
			np := get[*networkingv1.NetworkPolicy](t, r, "NetworkPolicy", namespace, name)
			for what, tc := range egress {
				ip := netip.MustParseAddr(tc.ip)
				if got := egressAllows(t, np, ip, tc.port, tc.proto); got != tc.want {
					t.Errorf("%s: %s %s allowed = %v, want %v", what, tc.proto, netip.AddrPortFrom(ip, uint16(tc.port)), got, tc.want)
				}
			}
		},
	})
}

func TestNamespace(t *testing.T) {
	forEachVariant(t, map[string]func(*testing.T, rendered, variant){
		"objects live in the webhook namespace": func(t *testing.T, r rendered, v variant) {
			get[*corev1.Namespace](t, r, "Namespace", "", namespace)
			for key := range r {
				if !clusterScoped[key.kind] && key.namespace != namespace {
					t.Errorf("%s is outside %s", key, namespace)
				}
			}
		},
	})
}
