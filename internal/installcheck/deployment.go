package installcheck

import (
	"slices"
	"strconv"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	psaapi "k8s.io/pod-security-admission/api"
	psapolicy "k8s.io/pod-security-admission/policy"

	"github.com/pullguard/pullguard/pkg/admission"
)

// Deployment returns the webhook's Deployment.
func Deployment(t testing.TB, o Objects, in Install) *appsv1.Deployment {
	t.Helper()
	return Get[*appsv1.Deployment](t, o, "Deployment", in.Namespace, in.Name)
}

// Container returns the webhook's only container.
func Container(t testing.TB, o Objects, in Install) corev1.Container {
	t.Helper()
	d := Deployment(t, o, in)
	if n := len(d.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("Deployment has %d containers, want 1", n)
	}
	return d.Spec.Template.Spec.Containers[0]
}

// Flags parses the container's args, which must all be --flag=value, each flag once.
func Flags(t testing.TB, c corev1.Container) map[string]string {
	t.Helper()
	values := map[string]string{}
	for _, arg := range c.Args {
		flag, value, ok := strings.Cut(arg, "=")
		if !ok {
			t.Errorf("arg %q is not --flag=value", arg)
			continue
		}
		if _, dup := values[flag]; dup {
			t.Errorf("flag %s given twice", flag)
		}
		values[flag] = value
	}
	return values
}

// selects reports whether sel is a non-empty selector of the webhook's pods.
func selects(sel *metav1.LabelSelector, d *appsv1.Deployment) bool {
	s, err := metav1.LabelSelectorAsSelector(sel)
	return err == nil && !s.Empty() && s.Matches(labels.Set(d.Spec.Template.Labels))
}

func containerPort(t testing.TB, c corev1.Container, portName string) int32 {
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
func bindPort(t testing.TB, addr string) int32 {
	t.Helper()
	_, port, ok := strings.Cut(addr, ":")
	n, err := strconv.ParseInt(port, 10, 32)
	if !ok || err != nil {
		t.Fatalf("bind address %q has no port", addr)
	}
	return int32(n)
}

func checkReplicas(t *testing.T, o Objects, in Install) {
	d := Deployment(t, o, in)
	if d.Spec.Replicas == nil || *d.Spec.Replicas != in.Replicas {
		t.Errorf("replicas = %v, want %d", d.Spec.Replicas, in.Replicas)
	}
	if in.Replicas < 2 {
		t.Errorf("install asks for %d replicas; one replica makes every rollout or drain an outage", in.Replicas)
	}
	ru := d.Spec.Strategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil || ru.MaxUnavailable.IntValue() != 0 {
		t.Errorf("rolling update %+v, want maxUnavailable 0 so a rollout never drops capacity", ru)
	}
	if !selects(d.Spec.Selector, d) {
		t.Errorf("selector %v does not select the pod template labels %v", d.Spec.Selector, d.Spec.Template.Labels)
	}
}

func checkArgs(t *testing.T, o Objects, in Install) {
	c := Container(t, o, in)
	if c.Image != in.Image {
		t.Errorf("image %q, want %q", c.Image, in.Image)
	}
	if !slices.Equal(c.Command, []string{"/webhook"}) {
		t.Errorf("command %q, want [/webhook]", c.Command)
	}
	// manifests/components/enforce patches the mode by position.
	if len(c.Args) == 0 || c.Args[0] != "--default-mode="+in.Mode {
		t.Errorf("args %q: want --default-mode=%s first", c.Args, in.Mode)
	}
	if !admission.Mode(in.Mode).Valid() {
		t.Errorf("mode %q is not a mode the webhook knows", in.Mode)
	}
	flags := Flags(t, c)
	for flag, want := range map[string]string{
		"--port": "9443", "--cert-dir": CertDir, "--metrics-bind-address": ":8080", "--health-probe-bind-address": ":8081",
	} {
		if flags[flag] != want {
			t.Errorf("%s=%q, want %q", flag, flags[flag], want)
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
	if port, err := strconv.ParseInt(flags["--port"], 10, 32); err != nil || int32(port) != containerPort(t, c, "https") {
		t.Errorf("--port=%q, want the container port https", flags["--port"])
	}
}

func checkProbes(t *testing.T, o Objects, in Install) {
	checkHealthProbes(t, Container(t, o, in))
}

// checkHealthProbes: readiness on /readyz and liveness on /healthz, both on the port named
// health.
func checkHealthProbes(t *testing.T, c corev1.Container) {
	t.Helper()
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
}

func checkResources(t *testing.T, o Objects, in Install) {
	c := Container(t, o, in)
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
	// The Go runtime's soft limit must sit below the container's hard one.
	i := slices.IndexFunc(c.Env, func(e corev1.EnvVar) bool { return e.Name == "GOMEMLIMIT" })
	if i < 0 || c.Env[i].Value != "200MiB" {
		t.Fatalf("env %+v, want GOMEMLIMIT 200MiB (25/32 of 256Mi)", c.Env)
	}
	q, err := resource.ParseQuantity(strings.TrimSuffix(c.Env[i].Value, "B"))
	if err != nil || q.Cmp(*c.Resources.Limits.Memory()) >= 0 {
		t.Errorf("GOMEMLIMIT %q, want a byte size below the memory limit %s", c.Env[i].Value, c.Resources.Limits.Memory())
	}
}

func checkSecurityContext(t *testing.T, o Objects, in Install) {
	d := Deployment(t, o, in)
	// When the install creates the namespace, the namespace enforces what the pod passes.
	if ns, ok := o[Key{Kind: "Namespace", Name: in.Namespace}].(*corev1.Namespace); ok {
		level, err := psaapi.ParseLevel(ns.Labels[psaapi.EnforceLevelLabel])
		if err != nil || level != psaapi.LevelRestricted {
			t.Errorf("namespace enforces Pod Security level %q, want restricted", ns.Labels[psaapi.EnforceLevelLabel])
		}
	}
	checkPodSecurity(t, o, d, in.Name)
}

// checkPodSecurity: the pod template passes restricted Pod Security as the API server's own
// evaluator judges it, runs as distroless nonroot with a read-only root, shares no host
// namespace, and runs as ServiceAccount sa (which the install renders) with its token.
func checkPodSecurity(t *testing.T, o Objects, d *appsv1.Deployment, sa string) {
	t.Helper()
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
	// What restricted does not require but pullguard's pods promise.
	pod := d.Spec.Template.Spec
	if len(pod.Containers) != 1 {
		t.Fatalf("Deployment %s has %d containers, want 1", d.Name, len(pod.Containers))
	}
	c := pod.Containers[0]
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsUser == nil || *pod.SecurityContext.RunAsUser != 65532 {
		t.Error("pod runAsUser is not 65532 (distroless nonroot)")
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("root filesystem is writable")
	}
	if pod.HostNetwork || pod.HostPID || pod.HostIPC {
		t.Error("pod shares a host namespace")
	}
	// Both programs read the API; without a token every lookup fails.
	if pod.AutomountServiceAccountToken == nil || !*pod.AutomountServiceAccountToken || pod.ServiceAccountName != sa {
		t.Errorf("service account %q (token mounted %v), want %s with its token", pod.ServiceAccountName, pod.AutomountServiceAccountToken, sa)
	}
	Get[*corev1.ServiceAccount](t, o, "ServiceAccount", d.Namespace, pod.ServiceAccountName)
}

// checkDNS: registry names resolve as the node resolves them, not through the pod's search list
// first (a Service in a namespace named like a registry's domain would answer).
func checkDNS(t *testing.T, o Objects, in Install) {
	dc := Deployment(t, o, in).Spec.Template.Spec.DNSConfig
	if dc == nil || len(dc.Options) != 1 || dc.Options[0].Name != "ndots" || dc.Options[0].Value == nil || *dc.Options[0].Value != "1" {
		t.Errorf("dnsConfig %+v, want options ndots 1", dc)
	}
}

func checkCertMount(t *testing.T, o Objects, in Install) {
	pod, c := Deployment(t, o, in).Spec.Template.Spec, Container(t, o, in)
	i := slices.IndexFunc(c.VolumeMounts, func(m corev1.VolumeMount) bool { return m.MountPath == CertDir })
	if i < 0 || !c.VolumeMounts[i].ReadOnly {
		t.Fatalf("no read-only mount at %s: %+v", CertDir, c.VolumeMounts)
	}
	v := slices.IndexFunc(pod.Volumes, func(v corev1.Volume) bool { return v.Name == c.VolumeMounts[i].Name })
	if v < 0 || pod.Volumes[v].Secret == nil || pod.Volumes[v].Secret.SecretName != in.Secret {
		t.Errorf("serving certificate volume %+v, want Secret %s", pod.Volumes, in.Secret)
	}
}

func checkTopologySpread(t *testing.T, o Objects, in Install) {
	d := Deployment(t, o, in)
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
		if c.WhenUnsatisfiable != corev1.ScheduleAnyway || c.MaxSkew != 1 || !selects(c.LabelSelector, d) {
			t.Errorf("%s: %+v, want ScheduleAnyway, maxSkew 1, selecting the webhook pods", key, c)
		}
	}
}
