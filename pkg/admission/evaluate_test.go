package admission

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pullguard/pullguard/pkg/registry"
)

func TestEvaluate(t *testing.T) {
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{
		InitContainers: []corev1.Container{{Name: "i", Image: "busybox:1", ImagePullPolicy: corev1.PullNever}},
		Containers:     []corev1.Container{{Name: "a", Image: badImage}, {Name: "b", Image: "nginx:1.25"}, {Name: "c", Image: "exempt/x:1"}},
	}}
	bad := map[string]registry.Verdict{badImage: notFound(badImage, `tag "1.999" not found`)}
	tests := map[string]struct {
		namespace   *corev1.Namespace
		cfg         func(*Config)
		wantSkipped string
		wantResults []string // path outcome message
		wantNotes   int
		wantReads   []CredentialRead
	}{
		"every field checked, PullNever noted, exempt image skipped": {
			namespace: namespace(testNS, nil),
			wantResults: []string{
				`spec.template.spec.containers[0].image not_pullable tag "1.999" not found`,
				`spec.template.spec.containers[1].image pullable `,
			},
			wantNotes: 2, // PullNever, and the missing default ServiceAccount
			wantReads: []CredentialRead{{Kind: "ServiceAccount", Name: "default"}}},
		"mode off: not checked": {
			namespace: namespace(testNS, map[string]string{ModeLabel: "off"}), wantSkipped: reasonOff},
		"exempt namespace: not checked": {
			namespace: namespace(testNS, nil), cfg: func(c *Config) { c.ExemptNamespaces = []string{testNS} }, wantSkipped: reasonExempt},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(func(c *Config) { c.ExemptImages = []string{"exempt/*"} })
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			e := newEnv(t, cfg, &fakeChecker{verdicts: bad}, tc.namespace)
			obj := kindObjects(metav1.ObjectMeta{Name: "web", Namespace: testNS}, tmpl)["Deployment"]
			w, ok, err := WorkloadOf(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, obj)
			if err != nil || !ok {
				t.Fatalf("WorkloadOf: %v %v", ok, err)
			}
			ev := e.h.Evaluate(testContext(t), w, testNS)
			if ev.Skipped != tc.wantSkipped {
				t.Errorf("skipped %q, want %q", ev.Skipped, tc.wantSkipped)
			}
			var got []string
			for _, r := range ev.Results {
				got = append(got, r.Path+" "+r.Outcome.String()+" "+r.Message)
			}
			if !slices.Equal(got, tc.wantResults) {
				t.Errorf("results %q, want %q", got, tc.wantResults)
			}
			if !slices.Equal(ev.Credentials, tc.wantReads) {
				t.Errorf("credential reads %+v, want %+v", ev.Credentials, tc.wantReads)
			}
			if len(ev.Notes) != tc.wantNotes {
				t.Errorf("notes %q, want %d", ev.Notes, tc.wantNotes)
			}
		})
	}
}

func TestWorkloadOfRefusesAMismatchedObject(t *testing.T) {
	if _, _, err := WorkloadOf(schema.GroupVersionKind{Group: "apps", Version: "v1", Kind: "Deployment"}, &corev1.Pod{}); err == nil {
		t.Fatal("a Pod decoded as a Deployment")
	}
	if _, ok, _ := WorkloadOf(corev1.SchemeGroupVersion.WithKind("ConfigMap"), &corev1.ConfigMap{}); ok {
		t.Fatal("a ConfigMap is not a workload")
	}
}
