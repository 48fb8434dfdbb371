package admission

import (
	"context"
	"errors"
	"slices"
	"testing"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
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
		spec  corev1.PodSpec
		nodes []client.Object
		want  []string
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
		"contradictory constraints: unknown": {
			spec: corev1.PodSpec{NodeSelector: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"},
				Affinity: required(term(in(corev1.LabelArchStable, "arm64")))}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(), nil, tc.nodes...)
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
	e.h.metadata = failingLister{Reader: e.h.metadata}
	resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = badImage }), nil))
	if resp.Allowed {
		t.Errorf("allowed; the pull check must still run without platforms")
	}
	if reqs := e.checker.requests(); len(reqs) != 1 || reqs[0].Platforms != nil {
		t.Errorf("checks %+v, want one without platforms", reqs)
	}
}

type failingLister struct{ client.Reader }

func (failingLister) List(context.Context, client.ObjectList, ...client.ListOption) error {
	return errors.New("cache not synced")
}

func platformStrings(ps []ocispec.Platform) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.OS+"/"+p.Architecture)
	}
	return out
}
