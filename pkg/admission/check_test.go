package admission

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/registry"
)

func TestDeadline(t *testing.T) {
	const uid = "deadline-uid"
	tests := map[string]struct {
		cfg          func(*Config)
		honour       bool
		query        string
		wantAllowed  bool
		wantBudget   time.Duration
		wantWarnings []string
		wantCauses   []string
	}{
		"the API server's timeout minus the margin, then allowed with a warning": {
			cfg: enforce, honour: true, query: "?timeout=2s", wantAllowed: true, wantBudget: time.Second,
			wantWarnings: []string{`spec.containers[0].image: pullguard: image "nginx:1.999" not verified: the registry check did not finish within the 1s admission budget`}},
		"DenyUnverifiable turns the timeout into a denial naming the image": {
			cfg: func(c *Config) { c.DefaultMode, c.DenyUnverifiable = ModeEnforce, true }, honour: true, query: "?timeout=2s", wantBudget: time.Second,
			wantCauses: []string{`spec.containers[0].image: Invalid value: "nginx:1.999": pullguard: image "nginx:1.999" not verified: the registry check did not finish within the 1s admission budget`}},
		"a checker that ignores its context does not delay the answer": {
			cfg: enforce, query: "?timeout=2s", wantAllowed: true, wantBudget: time.Second,
			wantWarnings: []string{`spec.containers[0].image: pullguard: image "nginx:1.999" not verified: the registry check did not finish within the 1s admission budget`}},
		"no timeout parameter: MaxBudget": {
			cfg: func(c *Config) { c.DefaultMode, c.MaxBudget = ModeEnforce, 500*time.Millisecond }, honour: true, wantAllowed: true, wantBudget: 500 * time.Millisecond,
			wantWarnings: []string{`spec.containers[0].image: pullguard: image "nginx:1.999" not verified: the registry check did not finish within the 500ms admission budget`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			// Within the budget and before the API server's own 2s deadline.
			checker := &fakeChecker{block: map[string]bool{badImage: true}, honour: tc.honour}
			e := newEnv(t, testConfig(tc.cfg), checker)
			out, elapsed := post(t, e, tc.query, "application/json", []byte(podReview(uid, badImage)))
			if elapsed < tc.wantBudget || elapsed >= tc.wantBudget+900*time.Millisecond {
				t.Errorf("answered after %s, want about %s", elapsed, tc.wantBudget)
			}
			r := out.Response
			if r.Allowed != tc.wantAllowed || string(r.UID) != uid {
				t.Fatalf("allowed=%v uid=%q, want %v %q (%+v)", r.Allowed, r.UID, tc.wantAllowed, uid, r.Result)
			}
			if !slices.Equal(r.Warnings, tc.wantWarnings) {
				t.Errorf("warnings %q, want %q", r.Warnings, tc.wantWarnings)
			}
			if got := causes(r.Result); !slices.Equal(got, tc.wantCauses) {
				t.Errorf("causes %q, want %q", got, tc.wantCauses)
			}
			if r.AuditAnnotations["image-0"] == "" || !strings.Contains(r.AuditAnnotations["image-0"], "unverifiable/timeout") {
				t.Errorf("audit annotations %v", r.AuditAnnotations)
			}
		})
	}
}

func TestDeadlineKeepsVerdictsThatArrivedInTime(t *testing.T) {
	checker := &fakeChecker{block: map[string]bool{"slow:1": true}, honour: true,
		verdicts: map[string]registry.Verdict{badImage: notFound(badImage, badDetail)}}
	e := newEnv(t, testConfig(func(c *Config) { c.DefaultMode, c.MaxBudget = ModeEnforce, 300*time.Millisecond }), checker)
	body := strings.Replace(podReview("u", badImage), `"imagePullPolicy":"IfNotPresent"}]`,
		`"imagePullPolicy":"IfNotPresent"},{"name":"slow","image":"slow:1"}]`, 1)
	out, _ := post(t, e, "", "application/json", []byte(body))
	r := out.Response
	if r.Allowed || r.Result.Code != 422 {
		t.Fatalf("want the NotPullable verdict that arrived in time to deny, got %+v", r.Result)
	}
	if !slices.Equal(r.Warnings, []string{`spec.containers[1].image: pullguard: image "slow:1" not verified: the registry check did not finish within the 300ms admission budget`}) {
		t.Errorf("warnings %q", r.Warnings)
	}
}

func TestImagesAreCheckedInParallelWithinTheBound(t *testing.T) {
	tests := map[string]struct {
		bound, images, wantMax int
	}{
		"bounded":       {bound: 2, images: 6, wantMax: 2},
		"fewer than it": {bound: 16, images: 3, wantMax: 3},
		"sequential":    {bound: 1, images: 3, wantMax: 1},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checker := &fakeChecker{delay: 50 * time.Millisecond}
			e := newEnv(t, testConfig(func(c *Config) { c.MaxConcurrentImages = tc.bound }), checker)
			p := pod(func(p *corev1.Pod) {
				p.Spec.Containers = nil
				for i := range tc.images {
					p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("app:%d", i)})
				}
				// The same image twice is checked once.
				p.Spec.InitContainers = []corev1.Container{{Name: "init", Image: "app:0"}}
			})
			resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, p, nil))
			if !resp.Allowed {
				t.Fatalf("denied: %+v", resp.Result)
			}
			if n := len(checker.images()); n != tc.images {
				t.Errorf("%d checks, want %d", n, tc.images)
			}
			if checker.maxFlight != tc.wantMax {
				t.Errorf("at most %d checks in flight, want %d", checker.maxFlight, tc.wantMax)
			}
		})
	}
}
