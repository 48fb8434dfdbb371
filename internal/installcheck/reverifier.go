package installcheck

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Reverifier is what a rendering with the re-verifier must hold beside the webhook's install.
type Reverifier struct {
	// Name is the Deployment's, and that of its ServiceAccount, PodDisruptionBudget,
	// NetworkPolicy, ClusterRole and ClusterRoleBinding; the leader-election Role and
	// RoleBinding are Name-leader-election.
	Name                   string
	Replicas, MinAvailable int32
	ScanInterval           string
	// SecureMetrics: /metrics is served over HTTPS to callers the API server authorizes, so the
	// ClusterRole may create token and access reviews.
	SecureMetrics bool
}

// reverifierGranted is exactly what the re-verifier's ClusterRole grants: it watches the
// workload kinds whose pod templates it checks, reads pull secrets and ServiceAccounts by name
// only, and writes its Reports and Events.
var reverifierGranted = map[string][]string{
	"deployments.apps":       {"list", "watch"},
	"statefulsets.apps":      {"list", "watch"},
	"daemonsets.apps":        {"list", "watch"},
	"replicasets.apps":       {"list", "watch"},
	"cronjobs.batch":         {"list", "watch"},
	"jobs.batch":             {"list", "watch"},
	"pods":                   {"list", "watch"},
	"nodes":                  {"list", "watch"},
	"namespaces":             {"list", "watch"},
	"secrets":                {"get"},
	"serviceaccounts":        {"get"},
	"reports.openreports.io": {"create", "get", "update"},
	"events":                 {"create", "patch"},
	"events.events.k8s.io":   {"create", "patch"},
}

// RunReverifier runs every re-verifier check on the rendering, each as a subtest; in is the
// webhook's install of the same rendering (namespace, image, config).
func RunReverifier(t *testing.T, o Objects, in Install, rv Reverifier) {
	t.Helper()
	for name, check := range map[string]func(*testing.T, Objects, Install, Reverifier){
		"reverifier/deployment/replicas and image":          checkReverifierDeployment,
		"reverifier/deployment/args":                        checkReverifierArgs,
		"reverifier/deployment/probes":                      checkReverifierProbes,
		"reverifier/deployment/restricted security context": checkReverifierSecurity,
		"reverifier/deployment/the webhook's config file":   checkReverifierConfig,
		"reverifier/rbac/least privilege":                   checkReverifierClusterRole,
		"reverifier/rbac/leader election lease only":        checkReverifierRole,
		"reverifier/rbac/bound to its own service account":  checkReverifierBindings,
		"reverifier/pod disruption budget":                  checkReverifierPDB,
		"reverifier/network policy/ingress is metrics only": checkReverifierIngress,
		"reverifier/network policy/egress is the webhook's": checkReverifierEgress,
		"reverifier/cloud identity pod label": func(t *testing.T, o Objects, in Install, rv Reverifier) {
			// It checks with the webhook's config, so its pods need the same identity.
			checkWorkloadIdentityLabel(t, reverifierDeployment(t, o, in, rv), in)
		},
	} {
		t.Run(name, func(t *testing.T) { check(t, o, in, rv) })
	}
}

func reverifierDeployment(t testing.TB, o Objects, in Install, rv Reverifier) *appsv1.Deployment {
	t.Helper()
	return Get[*appsv1.Deployment](t, o, "Deployment", in.Namespace, rv.Name)
}

func reverifierContainer(t testing.TB, o Objects, in Install, rv Reverifier) corev1.Container {
	t.Helper()
	d := reverifierDeployment(t, o, in, rv)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", rv.Name, n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

func checkReverifierDeployment(t *testing.T, o Objects, in Install, rv Reverifier) {
	d := reverifierDeployment(t, o, in, rv)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != rv.Replicas {
		t.Errorf("replicas %v, want %d", d.Spec.Replicas, rv.Replicas)
	}
	if !selects(d.Spec.Selector, d) || selects(d.Spec.Selector, Deployment(t, o, in)) || selects(Deployment(t, o, in).Spec.Selector, d) {
		t.Errorf("selector %v must select the re-verifier's pods and not the webhook's (nor the reverse)", d.Spec.Selector)
	}
	// The same image and binary as the webhook: one engine.
	c, hook := reverifierContainer(t, o, in, rv), Container(t, o, in)
	if c.Image != in.Image || !slices.Equal(c.Command, hook.Command) {
		t.Errorf("runs %q %q, want the webhook's %q %q", c.Image, c.Command, in.Image, hook.Command)
	}
}

func checkReverifierArgs(t *testing.T, o Objects, in Install, rv Reverifier) {
	c := reverifierContainer(t, o, in, rv)
	if len(c.Args) == 0 || c.Args[0] != "reverify" {
		t.Fatalf("args %q, want the reverify subcommand first", c.Args)
	}
	flags := Flags(t, corev1.Container{Args: c.Args[1:]})
	for flag, want := range map[string]string{
		"--scan-interval":             rv.ScanInterval,
		"--leader-elect":              "true",
		"--leader-election-namespace": "$(POD_NAMESPACE)",
	} {
		if flags[flag] != want {
			t.Errorf("%s=%q, want %q", flag, flags[flag], want)
		}
	}
	// POD_NAMESPACE from the downward API: the Lease lives where the pods run.
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "POD_NAMESPACE" })
	if i < 0 || c.Env[i].ValueFrom == nil || c.Env[i].ValueFrom.FieldRef == nil || c.Env[i].ValueFrom.FieldRef.FieldPath != "metadata.namespace" {
		t.Errorf("env %+v, want POD_NAMESPACE from metadata.namespace", c.Env)
	}
	for flag, port := range map[string]string{"--metrics-bind-address": "metrics", "--health-probe-bind-address": "health"} {
		if bindPort(t, flags[flag]) != containerPort(t, c, port) {
			t.Errorf("%s=%q is not the container port %s", flag, flags[flag], port)
		}
	}
	if p := containerPort(t, c, "metrics"); p != 8080 {
		t.Errorf("metrics port %d, want 8080", p)
	}
	if p := containerPort(t, c, "health"); p != 8081 {
		t.Errorf("health port %d, want 8081", p)
	}
}

func checkReverifierProbes(t *testing.T, o Objects, in Install, rv Reverifier) {
	checkHealthProbes(t, reverifierContainer(t, o, in, rv))
}

func checkReverifierSecurity(t *testing.T, o Objects, in Install, rv Reverifier) {
	checkPodSecurity(t, o, reverifierDeployment(t, o, in, rv), rv.Name)
}

// checkReverifierConfig: the --config flag and the volume it is read from are the webhook's,
// so both programs ask the registries with the same settings.
func checkReverifierConfig(t *testing.T, o Objects, in Install, rv Reverifier) {
	c, hook := reverifierContainer(t, o, in, rv), Container(t, o, in)
	got, want := Flags(t, corev1.Container{Args: c.Args[1:]})["--config"], Flags(t, hook)["--config"]
	if got != want {
		t.Errorf("--config=%q, want the webhook's %q", got, want)
	}
	if want == "" {
		return
	}
	volumeOf := func(d *appsv1.Deployment, c corev1.Container) *corev1.ConfigMapVolumeSource {
		for _, m := range c.VolumeMounts {
			if m.MountPath == "/etc/pullguard" {
				for _, v := range d.Spec.Template.Spec.Volumes {
					if v.Name == m.Name {
						return v.ConfigMap
					}
				}
			}
		}
		return nil
	}
	rvVol, hookVol := volumeOf(reverifierDeployment(t, o, in, rv), c), volumeOf(Deployment(t, o, in), hook)
	if rvVol == nil || hookVol == nil || rvVol.Name != hookVol.Name {
		t.Errorf("config volume %+v, want the webhook's %+v", rvVol, hookVol)
	}
}

func checkReverifierClusterRole(t *testing.T, o Objects, _ Install, rv Reverifier) {
	want := maps.Clone(reverifierGranted)
	if rv.SecureMetrics {
		want["tokenreviews.authentication.k8s.io"] = []string{"create"}
		want["subjectaccessreviews.authorization.k8s.io"] = []string{"create"}
	}
	got := grants(t, Get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", rv.Name))
	if !maps.EqualFunc(got, want, slices.Equal) {
		t.Errorf("granted %v, want %v", got, want)
	}
}

func checkReverifierRole(t *testing.T, o Objects, in Install, rv Reverifier) {
	role := Get[*rbacv1.Role](t, o, "Role", in.Namespace, rv.Name+"-leader-election")
	want := []rbacv1.PolicyRule{{APIGroups: []string{"coordination.k8s.io"}, Resources: []string{"leases"}, Verbs: []string{"get", "create", "update"}}}
	if !slices.EqualFunc(role.Rules, want, func(a, b rbacv1.PolicyRule) bool {
		return slices.Equal(a.APIGroups, b.APIGroups) && slices.Equal(a.Resources, b.Resources) && slices.Equal(a.Verbs, b.Verbs) &&
			len(a.ResourceNames) == 0 && len(a.NonResourceURLs) == 0
	}) {
		t.Errorf("rules %+v, want %+v", role.Rules, want)
	}
}

func checkReverifierBindings(t *testing.T, o Objects, in Install, rv Reverifier) {
	checkBoundTo(t, o, "ClusterRoleBinding", "", rv.Name, in.Namespace)
	checkBoundTo(t, o, "RoleBinding", in.Namespace, rv.Name+"-leader-election", in.Namespace)
}

func checkReverifierPDB(t *testing.T, o Objects, in Install, rv Reverifier) {
	pdb := Get[*policyv1.PodDisruptionBudget](t, o, "PodDisruptionBudget", in.Namespace, rv.Name)
	if pdb.Spec.MinAvailable == nil || *pdb.Spec.MinAvailable != intstr.FromInt32(rv.MinAvailable) || rv.MinAvailable >= rv.Replicas {
		t.Errorf("minAvailable %v, want %d below %d replicas", pdb.Spec.MinAvailable, rv.MinAvailable, rv.Replicas)
	}
	if !selects(pdb.Spec.Selector, reverifierDeployment(t, o, in, rv)) {
		t.Errorf("selector %v does not select the re-verifier's pods", pdb.Spec.Selector)
	}
}

func reverifierPolicy(t *testing.T, o Objects, in Install, rv Reverifier) *networkingv1.NetworkPolicy {
	t.Helper()
	np := Get[*networkingv1.NetworkPolicy](t, o, "NetworkPolicy", in.Namespace, rv.Name)
	if !selects(&np.Spec.PodSelector, reverifierDeployment(t, o, in, rv)) {
		t.Errorf("podSelector %v does not select the re-verifier's pods", np.Spec.PodSelector)
	}
	if types := slices.Sorted(slices.Values(np.Spec.PolicyTypes)); !slices.Equal(types, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %q, want Ingress and Egress", np.Spec.PolicyTypes)
	}
	return np
}

func checkReverifierIngress(t *testing.T, o Objects, in Install, rv Reverifier) {
	np, c := reverifierPolicy(t, o, in, rv), reverifierContainer(t, o, in, rv)
	var open []int32
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Fatalf("ingress rule %+v opens every port", rule)
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.Type != intstr.String {
				t.Fatalf("ingress port %v is not a named container port", p.Port)
			}
			open = append(open, containerPort(t, c, p.Port.StrVal))
		}
	}
	if !slices.Equal(open, []int32{8080}) {
		t.Errorf("ingress open on %v, want only metrics (8080)", open)
	}
}

// checkReverifierEgress: the re-verifier dials what the webhook dials, so the webhook's table
// of allowed and refused destinations holds for it too.
func checkReverifierEgress(t *testing.T, o Objects, in Install, rv Reverifier) {
	np := reverifierPolicy(t, o, in, rv)
	for what, tc := range egressCases(in) {
		ip := netip.MustParseAddr(tc.ip)
		if got := egressAllows(t, np, ip, tc.port, tc.proto); got != tc.want {
			t.Errorf("%s: %s %s allowed = %v, want %v", what, tc.proto, netip.AddrPortFrom(ip, uint16(tc.port)), got, tc.want)
		}
	}
}

// ReverifierKeys are the objects of the re-verifier RunReverifier expects: none of them may be
// rendered when it is off.
func ReverifierKeys(namespace, name string) []Key {
	return []Key{
		{"ServiceAccount", namespace, name}, {"Deployment", namespace, name},
		{"PodDisruptionBudget", namespace, name}, {"NetworkPolicy", namespace, name},
		{"ClusterRole", "", name}, {"ClusterRoleBinding", "", name},
		{"Role", namespace, name + "-leader-election"}, {"RoleBinding", namespace, name + "-leader-election"},
	}
}
