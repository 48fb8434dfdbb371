package admission

import (
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/registry"
)

func TestModes(t *testing.T) {
	unverifiable := registry.Verdict{Outcome: registry.Unverifiable, Class: registry.ClassRateLimited,
		Detail: "Docker Hub rate limit hit while verifying", Fix: "authenticate pulls or use a mirror"}
	pullableWithNote := registry.Verdict{Outcome: registry.Pullable, Class: registry.ClassOK,
		Notes: []string{`tag "1.2" is ignored by the runtime; pulling sha256:abc`}}
	tests := map[string]struct {
		nsLabels         map[string]string
		noNamespace      bool
		cfg              func(*Config)
		verdict          *registry.Verdict
		wantAllowed      bool
		wantWarnings     []string
		wantCalls        int
		wantAnnotations  bool
		wantDecision     string
		wantMode, reason string
	}{
		"enforce label denies": {
			nsLabels: map[string]string{ModeLabel: "enforce"}, wantCalls: 1, wantAnnotations: true,
			wantMode: "enforce", wantDecision: "deny", reason: "tag_not_found"},
		"warn label warns": {
			nsLabels: map[string]string{ModeLabel: "warn"}, wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantWarnings: []string{"spec.containers[0].image: pullguard: " + badDetail},
			wantMode:     "warn", wantDecision: "warn", reason: "tag_not_found"},
		"audit label: allowed, no warnings, audit annotations": {
			nsLabels: map[string]string{ModeLabel: "audit"}, wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantMode: "audit", wantDecision: "audit", reason: "tag_not_found"},
		"off label checks nothing": {
			nsLabels: map[string]string{ModeLabel: "off"}, wantAllowed: true,
			wantMode: "off", wantDecision: "allow", reason: "off"},
		"no label uses the default": {
			cfg: enforce, wantCalls: 1, wantAnnotations: true,
			wantMode: "enforce", wantDecision: "deny", reason: "tag_not_found"},
		"namespace not in the cache uses the default": {
			noNamespace: true, wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantWarnings: []string{"spec.containers[0].image: pullguard: " + badDetail},
			wantMode:     "warn", wantDecision: "warn", reason: "tag_not_found"},
		"invalid label uses the default and says so": {
			nsLabels: map[string]string{ModeLabel: "enforcing"}, cfg: func(c *Config) { c.DefaultMode = ModeAudit },
			wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantWarnings: []string{`pullguard: namespace "app" label pullguard.io/mode has invalid value "enforcing" (valid: enforce, warn, audit, off); using the default mode "audit"`},
			wantMode:     "audit", wantDecision: "audit", reason: "tag_not_found"},
		"unverifiable in enforce is allowed with a warning": {
			cfg: enforce, verdict: &unverifiable, wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantWarnings: []string{"spec.containers[0].image: pullguard: Docker Hub rate limit hit while verifying; authenticate pulls or use a mirror"},
			wantMode:     "enforce", wantDecision: "warn", reason: "rate_limited"},
		"unverifiable in enforce with DenyUnverifiable is denied": {
			cfg: func(c *Config) { c.DefaultMode, c.DenyUnverifiable = ModeEnforce, true }, verdict: &unverifiable,
			wantCalls: 1, wantAnnotations: true, wantMode: "enforce", wantDecision: "deny", reason: "rate_limited"},
		"unverifiable in warn with DenyUnverifiable is still allowed": {
			cfg: func(c *Config) { c.DenyUnverifiable = true }, verdict: &unverifiable, wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantWarnings: []string{"spec.containers[0].image: pullguard: Docker Hub rate limit hit while verifying; authenticate pulls or use a mirror"},
			wantMode:     "warn", wantDecision: "warn", reason: "rate_limited"},
		"unverifiable in audit is an annotation only": {
			cfg: func(c *Config) { c.DefaultMode = ModeAudit }, verdict: &unverifiable, wantAllowed: true, wantCalls: 1, wantAnnotations: true,
			wantMode: "audit", wantDecision: "audit", reason: "rate_limited"},
		"notes are warnings in enforce": {
			cfg: enforce, verdict: &pullableWithNote, wantAllowed: true, wantCalls: 1,
			wantWarnings: []string{`spec.containers[0].image: pullguard: tag "1.2" is ignored by the runtime; pulling sha256:abc`},
			wantMode:     "enforce", wantDecision: "warn", reason: "notes"},
		"notes are silent in audit": {
			cfg: func(c *Config) { c.DefaultMode = ModeAudit }, verdict: &pullableWithNote, wantAllowed: true, wantCalls: 1,
			wantMode: "audit", wantDecision: "allow", reason: "ok"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checker := badChecker()
			if tc.verdict != nil {
				checker.verdicts[badImage] = *tc.verdict
			}
			var objs []client.Object
			if !tc.noNamespace {
				objs = append(objs, namespace(testNS, tc.nsLabels))
			}
			cfg := testConfig()
			if tc.cfg != nil {
				tc.cfg(&cfg)
			}
			e := newEnv(t, cfg, checker, objs...)
			resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = badImage }), nil))
			if resp.Allowed != tc.wantAllowed {
				t.Errorf("allowed=%v, want %v (%+v)", resp.Allowed, tc.wantAllowed, resp.Result)
			}
			if !slices.Equal(resp.Warnings, tc.wantWarnings) {
				t.Errorf("warnings %q, want %q", resp.Warnings, tc.wantWarnings)
			}
			if n := len(e.checker.images()); n != tc.wantCalls {
				t.Errorf("%d checker calls, want %d", n, tc.wantCalls)
			}
			if got := len(resp.AuditAnnotations) > 0; got != tc.wantAnnotations {
				t.Errorf("audit annotations %v, want present=%v", resp.AuditAnnotations, tc.wantAnnotations)
			}
			if v := testutil.ToFloat64(e.h.metrics.decisions.WithLabelValues(tc.wantMode, tc.wantDecision, tc.reason)); v != 1 {
				t.Errorf("decisions{%s,%s,%s} = %v, want 1", tc.wantMode, tc.wantDecision, tc.reason, v)
			}
		})
	}
}

func TestAuditAnnotationsAreBoundedOneLineValues(t *testing.T) {
	checker := &fakeChecker{verdicts: map[string]registry.Verdict{}}
	p := pod(func(p *corev1.Pod) { p.Spec.Containers = nil })
	for i := range maxWarnings + 1 {
		im := "reg.example.com/app:" + strings.Repeat("x", i+1)
		checker.verdicts[im] = notFound(im, "line one\nline two "+strings.Repeat("long ", 200))
		p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "c" + strings.Repeat("x", i+1), Image: im})
	}
	e := newEnv(t, testConfig(), checker)
	resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, p, nil))
	if resp.AuditAnnotations["findings"] != "21 not pullable, 0 unverifiable" || resp.AuditAnnotations["truncated"] == "" {
		t.Errorf("annotations %v", resp.AuditAnnotations)
	}
	if n := len(resp.AuditAnnotations); n != maxImageAnnotations+4 {
		t.Errorf("%d annotations, want %d", n, maxImageAnnotations+4)
	}
	for k, v := range resp.AuditAnnotations {
		if strings.ContainsAny(v, "\n\r") || len([]rune(v)) > maxAnnotationRunes {
			t.Errorf("annotation %s is not one bounded line: %q", k, v)
		}
	}
	if len(resp.Warnings) != maxWarnings || !strings.HasPrefix(resp.Warnings[maxWarnings-1], "... and 2 more findings") {
		t.Errorf("%d warnings, last %q", len(resp.Warnings), resp.Warnings[len(resp.Warnings)-1])
	}
	for _, w := range resp.Warnings {
		if strings.ContainsAny(w, "\n\r") || len([]rune(w)) > maxWarningRunes {
			t.Errorf("warning is not one short line: %q", w)
		}
	}
}
