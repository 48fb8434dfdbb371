package admission

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/containerd/platforms"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	toolscache "k8s.io/client-go/tools/cache"
	"sigs.k8s.io/controller-runtime/pkg/client"
)

func TestCandidatePlatforms(t *testing.T) {
	cluster := []client.Object{
		node("amd-1", "linux", "amd64", map[string]string{"pool": "general"}),
		node("amd-2", "linux", "amd64", map[string]string{"pool": "general"}),
		node("arm-1", "linux", "arm64", map[string]string{"pool": "arm"}),
		node("win-1", "windows", "amd64", nil),
		node("unlabelled", "", "", nil),
	}
	// GKE taints its Arm nodes kubernetes.io/arch=arm64:NoSchedule, so only pods that tolerate
	// it land there; a dedicated pool has a taint of its own.
	tainted := []client.Object{
		node("amd-1", "linux", "amd64", nil),
		taint(node("arm-1", "linux", "arm64", nil), "kubernetes.io/arch=arm64", corev1.TaintEffectNoSchedule),
		taint(node("win-1", "windows", "amd64", nil), "os=windows", corev1.TaintEffectNoExecute),
	}
	required := func(terms ...corev1.NodeSelectorTerm) *corev1.Affinity {
		return &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{
			RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{NodeSelectorTerms: terms}}}
	}
	in := func(key string, values ...string) corev1.NodeSelectorRequirement {
		return corev1.NodeSelectorRequirement{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}
	}
	term := func(reqs ...corev1.NodeSelectorRequirement) corev1.NodeSelectorTerm {
		return corev1.NodeSelectorTerm{MatchExpressions: reqs}
	}
	tests := map[string]struct {
		spec       corev1.PodSpec
		nodes      []client.Object
		autoscaled []string
		want       []string
	}{
		"no constraints: every node platform": {
			nodes: cluster, want: []string{"linux/amd64", "linux/arm64", "windows/amd64"}},
		"no constraints and no nodes: unknown": {
			want: nil},
		"nodeSelector pins both: no nodes needed": {
			spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "arm64"}},
			want: []string{"linux/arm64"}},
		"spec.os.name and an arch affinity pin both": {
			spec: corev1.PodSpec{OS: &corev1.PodOS{Name: corev1.Linux}, Affinity: required(term(in(corev1.LabelArchStable, "amd64", "arm64")))},
			want: []string{"linux/amd64", "linux/arm64"}},
		"affinity terms are ORed": {
			spec: corev1.PodSpec{Affinity: required(
				term(in(corev1.LabelOSStable, "linux"), in(corev1.LabelArchStable, "arm64")),
				term(in(corev1.LabelOSStable, "windows"), in(corev1.LabelArchStable, "amd64")))},
			want: []string{"linux/amd64", "linux/arm64", "windows/amd64", "windows/arm64"}},
		"a term that does not pin the arch leaves it to the nodes": {
			spec: corev1.PodSpec{Affinity: required(
				term(in(corev1.LabelOSStable, "linux"), in(corev1.LabelArchStable, "arm64")),
				term(in(corev1.LabelOSStable, "linux")))},
			nodes: cluster, want: []string{"linux/amd64", "linux/arm64"}},
		"arch selector only: matching nodes give the OS": {
			spec:  corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "amd64"}},
			nodes: cluster, want: []string{"linux/amd64", "windows/amd64"}},
		"arch selector only and no nodes: unknown": {
			spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "amd64"}}},
		"other labels select nodes": {
			spec:  corev1.PodSpec{NodeSelector: map[string]string{"pool": "arm"}},
			nodes: cluster, want: []string{"linux/arm64"}},
		"spec.os.name filters nodes": {
			spec:  corev1.PodSpec{OS: &corev1.PodOS{Name: corev1.Windows}},
			nodes: cluster, want: []string{"windows/amd64"}},
		"nodeName picks one node": {
			spec:  corev1.PodSpec{NodeName: "arm-1"},
			nodes: cluster, want: []string{"linux/arm64"}},
		"a NoSchedule taint the pod does not tolerate leaves the node out": {
			nodes: tainted, want: []string{"linux/amd64"}},
		"a toleration lets the pod on the tainted node": {
			spec:  corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "kubernetes.io/arch", Operator: corev1.TolerationOpEqual, Value: "arm64", Effect: corev1.TaintEffectNoSchedule}}},
			nodes: tainted, want: []string{"linux/amd64", "linux/arm64"}},
		"an Exists toleration without a key tolerates every taint": {
			spec:  corev1.PodSpec{Tolerations: []corev1.Toleration{{Operator: corev1.TolerationOpExists}}},
			nodes: tainted, want: []string{"linux/amd64", "linux/arm64", "windows/amd64"}},
		"a toleration of another effect does not count": {
			spec:  corev1.PodSpec{Tolerations: []corev1.Toleration{{Key: "kubernetes.io/arch", Operator: corev1.TolerationOpEqual, Value: "arm64", Effect: corev1.TaintEffectNoExecute}}},
			nodes: tainted, want: []string{"linux/amd64"}},
		"PreferNoSchedule and passing node conditions keep the node": {
			nodes: []client.Object{
				taint(node("amd-1", "linux", "amd64", nil), "node.kubernetes.io/not-ready", corev1.TaintEffectNoExecute),
				taint(node("arm-1", "linux", "arm64", nil), "node.kubernetes.io/unschedulable", corev1.TaintEffectNoSchedule),
				taint(node("arm-2", "linux", "arm", nil), "node.cloudprovider.kubernetes.io/uninitialized", corev1.TaintEffectNoSchedule),
				taint(node("win-1", "windows", "amd64", nil), "spot", corev1.TaintEffectPreferNoSchedule),
			},
			want: []string{"linux/amd64", "linux/arm", "linux/arm64", "windows/amd64"}},
		"every node tainted away: unknown": {
			nodes: []client.Object{taint(node("arm-1", "linux", "arm64", nil), "dedicated", corev1.TaintEffectNoSchedule)}},
		"a pinned platform ignores taints (the autoscaler may add a node)": {
			spec:  corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "arm64"}},
			nodes: tainted, want: []string{"linux/arm64"}},
		"autoscaled platforms join the nodes' (once each)": {
			nodes: cluster, autoscaled: []string{"linux/arm/v7", "linux/amd64", "linux/aarch64"},
			want: []string{"linux/amd64", "linux/arm/v7", "linux/arm64", "windows/amd64"}},
		"autoscaled platforms the pod's constraints exclude do not": {
			spec:  corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelArchStable: "amd64"}},
			nodes: cluster, autoscaled: []string{"linux/arm64", "windows/amd64"},
			want: []string{"linux/amd64", "windows/amd64"}},
		"autoscaled platforms alone are not a candidate set": {
			nodes: tainted[1:2], autoscaled: []string{"linux/arm64"}},
		"autoscaled platforms do not change pinned ones": {
			spec:       corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}},
			autoscaled: []string{"linux/arm64"}, want: []string{"linux/amd64"}},
		"windows nodes carry their build": {
			spec: corev1.PodSpec{OS: &corev1.PodOS{Name: corev1.Windows}},
			nodes: []client.Object{
				node("win-2019", "windows", "amd64", map[string]string{corev1.LabelWindowsBuild: "10.0.17763"}),
				node("win-2022", "windows", "amd64", map[string]string{corev1.LabelWindowsBuild: "10.0.20348"}),
				node("win-2022-b", "windows", "amd64", map[string]string{corev1.LabelWindowsBuild: "10.0.20348"}),
				node("win-unlabelled", "windows", "amd64", nil),
			},
			want: []string{"windows(10.0.17763)/amd64", "windows(10.0.20348)/amd64", "windows/amd64"}},
		"contradictory constraints: unknown": {
			spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"},
				Affinity: required(term(in(corev1.LabelArchStable, "arm64")))}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			cfg.AutoscaledPlatforms = tc.autoscaled
			e := newEnv(t, cfg, nil, tc.nodes...)
			got, err := e.h.candidatePlatforms(testContext(t), &tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if s := platformStrings(got); !slices.Equal(s, tc.want) {
				t.Errorf("platforms %q, want %q", s, tc.want)
			}
		})
	}
}

func TestPlatformsReachTheChecker(t *testing.T) {
	e := newEnv(t, testConfig(), nil,
		node("a", "linux", "amd64", nil), node("b", "linux", "arm64", map[string]string{"gpu": "yes"}))
	d := deployment(func(d *appsv1.Deployment) { d.Spec.Template.Spec.NodeSelector = map[string]string{"gpu": "yes"} })
	e.h.Handle(testContext(t), review(t, admissionv1.Create, d, nil))
	reqs := e.checker.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d checks, want 1", len(reqs))
	}
	if got := platformStrings(reqs[0].Platforms); !slices.Equal(got, []string{"linux/arm64"}) {
		t.Errorf("platforms %q, want linux/arm64 (the template's pods only land on node b)", got)
	}
}

func TestNodeListFailureOnlySkipsThePlatformCheck(t *testing.T) {
	e := newEnv(t, testConfig(enforce), badChecker())
	e.h.informers = failingLister{Reader: e.h.informers}
	resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = badImage }), nil))
	if resp.Allowed {
		t.Errorf("allowed; the pull check must still run without platforms")
	}
	if reqs := e.checker.requests(); len(reqs) != 1 || reqs[0].Platforms != nil {
		t.Errorf("checks %+v, want one without platforms", reqs)
	}
}

// taint adds a taint, given as key or key=value, to n.
func taint(n *corev1.Node, kv string, effect corev1.TaintEffect) *corev1.Node {
	key, value, _ := strings.Cut(kv, "=")
	n.Spec.Taints = append(n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return n
}

func TestSlimNodeKeepsWhatPlacementReads(t *testing.T) {
	full := taint(node("n", "linux", "arm64", map[string]string{"pool": "arm"}), "dedicated=ml", corev1.TaintEffectNoSchedule)
	full.ResourceVersion, full.UID = "42", "u-1"
	full.Annotations = map[string]string{"node.alpha.kubernetes.io/ttl": "0"}
	full.ManagedFields = []metav1.ManagedFieldsEntry{{Manager: "kubelet"}}
	full.Spec.PodCIDR = "10.0.0.0/24"
	full.Status.Images = []corev1.ContainerImage{{Names: []string{"registry.example/app:1"}, SizeBytes: 1 << 30}}
	full.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}

	got, err := slimNode(full)
	if err != nil {
		t.Fatal(err)
	}
	want := &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "n", UID: "u-1", ResourceVersion: "42", Labels: full.Labels},
		Spec:       corev1.NodeSpec{Taints: full.Spec.Taints},
	}
	if !equality.Semantic.DeepEqual(got, want) {
		t.Errorf("slimNode kept %+v, want %+v", got, want)
	}
	tombstone := toolscache.DeletedFinalStateUnknown{Key: "n", Obj: full}
	if got, _ := slimNode(tombstone); got != any(tombstone) {
		t.Errorf("a tombstone came back as %+v", got)
	}
}

type failingLister struct{ client.Reader }

func (failingLister) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("cache not synced")
}

func platformStrings(ps []ocispec.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, platforms.FormatAll(p))
	}
	return out
}
