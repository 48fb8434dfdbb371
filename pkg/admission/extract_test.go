package admission

import (
	"slices"
	"testing"

	"github.com/containerd/platforms"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

func TestDecodeWorkload(t *testing.T) {
	d := deployment(func(d *appsv1.Deployment) {
		d.Spec.Template.Spec.InitContainers = []corev1.Container{{Name: "i", Image: "busybox:1", ImagePullPolicy: corev1.PullNever}}
		d.Spec.Template.Spec.Volumes = []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "data:1"}}}}
		d.Spec.Template.Spec.ServiceAccountName = "builder"
		d.Spec.Template.Spec.ImagePullSecrets = refs("a", "", "b", "a")
	})
	w, ok, err := DecodeWorkload(appsv1.SchemeGroupVersion.WithKind("Deployment"), mustJSON(t, d))
	if err != nil || !ok {
		t.Fatalf("DecodeWorkload: ok=%v err=%v", ok, err)
	}
	want := []Image{
		{Path: "spec.template.spec.containers[0].image", Image: "nginx:1.25"},
		{Path: "spec.template.spec.initContainers[0].image", Image: "busybox:1", PullPolicy: corev1.PullNever},
		{Path: "spec.template.spec.volumes[0].image.reference", Image: "data:1"},
	}
	if got := w.Images(); !slices.Equal(got, want) {
		t.Errorf("Images() = %+v, want %+v", got, want)
	}
	if w.Kind() != "Deployment" || w.Name() != "web" || w.Namespace() != testNS || !w.Template() ||
		w.ServiceAccountName() != "builder" || !slices.Equal(w.PullSecretNames(), []string{"a", "b"}) {
		t.Errorf("accessors: %s %s %s %v %s %v", w.Kind(), w.Name(), w.Namespace(), w.Template(), w.ServiceAccountName(), w.PullSecretNames())
	}

	if _, ok, err := DecodeWorkload(schema.GroupVersionKind{Version: "v1", Kind: "ConfigMap"}, []byte(`{}`)); ok || err != nil {
		t.Errorf("ConfigMap: ok=%v err=%v, want not a checked kind", ok, err)
	}
	if _, ok, err := DecodeWorkload(corev1.SchemeGroupVersion.WithKind("Pod"), []byte(`{"spec":{"containers":"x"}}`)); !ok || err == nil {
		t.Errorf("bad Pod: ok=%v err=%v, want a decode error", ok, err)
	}
	if got := len(CheckedKinds()); got != len(kinds) {
		t.Errorf("CheckedKinds() has %d kinds, want %d", got, len(kinds))
	}
}

// TestHandlerCredentialsAndPlatforms: the exported wrappers give what an admission uses.
func TestHandlerCredentialsAndPlatforms(t *testing.T) {
	e := newEnv(t, testConfig(), nil,
		pullSecret(testNS, "sa-secret", "reg.example.com"),
		serviceAccount(testNS, "default", "sa-secret"),
		node("n1", "linux", "arm64", nil), node("n2", "linux", "amd64", nil))
	w, _, err := DecodeWorkload(appsv1.SchemeGroupVersion.WithKind("Deployment"), mustJSON(t, deployment()))
	if err != nil {
		t.Fatal(err)
	}
	ctx := testContext(t)
	creds := e.h.Credentials(ctx, w, testNS)
	var got []string
	for _, c := range creds.Keyring.Lookup(keyring.ParseRepo("reg.example.com/team/app")) {
		got = append(got, c.Secret)
	}
	if !slices.Equal(got, []string{"sa-secret"}) || len(creds.Unreadable) > 0 {
		t.Errorf("credentials: secrets %v, unreadable %v; want the ServiceAccount's sa-secret", got, creds.Unreadable)
	}
	ps, err := e.h.CandidatePlatforms(ctx, w)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, p := range ps {
		names = append(names, platforms.Format(p))
	}
	if !slices.Equal(names, []string{"linux/amd64", "linux/arm64"}) {
		t.Errorf("CandidatePlatforms = %v", names)
	}
}

func TestVerdictMessage(t *testing.T) {
	cases := map[string]struct {
		v       registry.Verdict
		outcome registry.Outcome
		msg     string
	}{
		"detail and fix": {v: registry.Verdict{Outcome: registry.NotPullable, Class: registry.ClassTagNotFound, Detail: "tag missing", Fix: "use another"},
			outcome: registry.NotPullable, msg: "tag missing; use another"},
		"zero verdict": {outcome: registry.Unverifiable, msg: `image "x:1" is unverifiable (other)`},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			o, m := VerdictMessage("x:1", c.v)
			if o != c.outcome || m != c.msg {
				t.Errorf("VerdictMessage = %s, %q; want %s, %q", o, m, c.outcome, c.msg)
			}
		})
	}
	if got := Attributed("spec.containers[0].image", "tag missing"); got != "spec.containers[0].image: pullguard: tag missing" {
		t.Errorf("Attributed = %q", got)
	}
}
