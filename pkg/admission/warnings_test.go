package admission

import (
	"strings"
	"testing"
	"unicode/utf8"

	admissionv1 "k8s.io/api/admission/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/pkg/registry"
)

// TestLongWarningsAreWhole: a CronJob's deepest image field, the longest image a pod can name,
// a finding whose message and fix do not fit, a note longer than a warning and the handler's own
// notes about secrets with the longest names: every warning fits maxWarningRunes and every word
// in it is a whole word of the message (or "…" for one elided).
func TestLongWarningsAreWhole(t *testing.T) {
	host := strings.Repeat("a", 63) + "." + strings.Repeat("b", 63) + "." + strings.Repeat("c", 63) + "." + strings.Repeat("d", 61)
	repo := host + "/" + strings.Repeat("abcdefgh/", 28) + "app"
	image := repo + ":v" + strings.Repeat("1", 127) + "@sha256:" + strings.Repeat("a", 64)
	secret := strings.Repeat("s", 253)
	v := registry.Verdict{
		Outcome: registry.NotPullable, Class: registry.ClassTagNotFound,
		Detail: `tag "v1" not found in ` + repo + " (registry returned 404 MANIFEST_UNKNOWN)",
		Fix:    "use a tag that exists in " + repo,
		Notes: []string{
			"image is built for linux/arm64 only but the candidate nodes are linux/amd64, linux/s390x, linux/ppc64le, windows/amd64: it will pull, then the container fails with exec format error (CrashLoopBackOff); build it for linux/amd64, linux/s390x, linux/ppc64le, windows/amd64, or as a multi-platform image",
			`imagePullSecret "` + secret + `" has entries for [` + host + `:5000] but none match ` + repo,
		},
	}
	e := newEnv(t, testConfig(), &fakeChecker{verdicts: map[string]registry.Verdict{image: v}}, serviceAccount(testNS, "default"))
	job := &batchv1.CronJob{
		TypeMeta:   metav1.TypeMeta{APIVersion: "batch/v1", Kind: "CronJob"},
		ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: testNS},
	}
	job.Spec.JobTemplate.Spec.Template.Spec = corev1.PodSpec{
		Containers:       []corev1.Container{{Name: "c", Image: "nginx:1.25"}},
		InitContainers:   []corev1.Container{{Name: "i", Image: image}},
		ImagePullSecrets: refs(secret),
	}
	resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, job, nil))
	if !resp.Allowed || len(resp.Warnings) < 3 {
		t.Fatalf("allowed=%v warnings %q, want a finding, two notes and a missing secret", resp.Allowed, resp.Warnings)
	}
	words := map[string]bool{}
	for _, text := range append([]string{v.Message(), attribution, "spec.jobTemplate.spec.template.spec.initContainers[0].image:",
		`spec.jobTemplate.spec.template.spec.imagePullSecrets: imagePullSecret "` + secret + `" not found in namespace "` + testNS + `"; the kubelet will pull without it`}, v.Notes...) {
		for _, w := range strings.Fields(text) {
			words[w] = true
		}
	}
	for _, w := range resp.Warnings {
		if n := utf8.RuneCountInString(w); n > maxWarningRunes {
			t.Errorf("warning of %d runes (limit %d): %q", n, maxWarningRunes, w)
		}
		fields := strings.Fields(w)
		for i, word := range fields {
			bare := strings.TrimSuffix(word, "…")
			if words[word] || strings.Trim(word, `([";,:.)]`) == "…" {
				continue
			}
			if i == len(fields)-1 && (words[bare] || words[bare+";"] || words[bare+","] || words[bare+":"]) {
				continue
			}
			t.Errorf("warning %q: %q is not a whole word of the message", w, word)
		}
	}
}
