package admission

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/registry"
)

const (
	badImage  = "nginx:1.999"
	badDetail = `tag "1.999" not found in docker.io/library/nginx`
)

func badChecker() *fakeChecker {
	return &fakeChecker{verdicts: map[string]registry.Verdict{badImage: notFound(badImage, badDetail)}}
}

func enforce(c *Config) { c.DefaultMode = ModeEnforce }

func TestEveryKindIsDeniedWithItsFieldPath(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Namespace: testNS}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: badImage}}}}
	tests := map[string]struct {
		obj  client.Object
		kind string
		path string
	}{
		"Pod": {obj: pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = badImage }),
			kind: "Pod", path: "spec.containers[0].image"},
		"Deployment": {obj: &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: tmpl}},
			kind: "Deployment.apps", path: "spec.template.spec.containers[0].image"},
		"StatefulSet": {obj: &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: tmpl}},
			kind: "StatefulSet.apps", path: "spec.template.spec.containers[0].image"},
		"DaemonSet": {obj: &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: tmpl}},
			kind: "DaemonSet.apps", path: "spec.template.spec.containers[0].image"},
		"ReplicaSet": {obj: &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: tmpl}},
			kind: "ReplicaSet.apps", path: "spec.template.spec.containers[0].image"},
		"ReplicationController": {obj: &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Template: &tmpl}},
			kind: "ReplicationController", path: "spec.template.spec.containers[0].image"},
		"Job": {obj: &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}},
			kind: "Job.batch", path: "spec.template.spec.containers[0].image"},
		"CronJob": {obj: &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
			kind: "CronJob.batch", path: "spec.jobTemplate.spec.template.spec.containers[0].image"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(enforce), badChecker())
			resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, tc.obj, nil))
			if resp.Allowed {
				t.Fatalf("allowed, want denied: %+v", resp)
			}
			if resp.Result.Code != http.StatusUnprocessableEntity || resp.Result.Reason != metav1.StatusReasonInvalid {
				t.Errorf("status %d %s, want 422 Invalid", resp.Result.Code, resp.Result.Reason)
			}
			wantCause := tc.path + `: Invalid value: "nginx:1.999": pullguard: ` + badDetail
			if got := causes(resp); !slices.Equal(got, []string{wantCause}) {
				t.Errorf("causes %q, want %q", got, wantCause)
			}
			wantMsg := tc.kind + ` "web" is invalid: ` + wantCause
			if resp.Result.Message != wantMsg {
				t.Errorf("message %q, want %q", resp.Result.Message, wantMsg)
			}
			if resp.AuditAnnotations["decision"] != "deny" || !strings.Contains(resp.AuditAnnotations["image-0"], tc.path+" nginx:1.999: not_pullable/tag_not_found") {
				t.Errorf("audit annotations %v", resp.AuditAnnotations)
			}
		})
	}
}

func TestEveryImageFieldIsCheckedWithItsPath(t *testing.T) {
	spec := func(s *corev1.PodSpec) {
		s.Containers = []corev1.Container{{Name: "a", Image: "reg.example.com/a:1"}, {Name: "b", Image: "reg.example.com/b:1"}}
		s.InitContainers = []corev1.Container{{Name: "i0", Image: "reg.example.com/i0:1"}, {Name: "i1", Image: "reg.example.com/i1:1"}}
		s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "e", Image: "reg.example.com/e:1"}}}
		s.Volumes = []corev1.Volume{
			{Name: "cfg", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
			{Name: "model", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "reg.example.com/v:1"}}},
		}
	}
	fields := []string{"containers[0]", "containers[1]", "initContainers[0]", "initContainers[1]", "ephemeralContainers[0]"}
	images := []string{"reg.example.com/a:1", "reg.example.com/b:1", "reg.example.com/i0:1", "reg.example.com/i1:1", "reg.example.com/e:1", "reg.example.com/v:1"}
	tests := map[string]struct {
		obj    client.Object
		prefix string
	}{
		"Pod":        {obj: pod(func(p *corev1.Pod) { spec(&p.Spec) }), prefix: "spec."},
		"Deployment": {obj: deployment(func(d *appsv1.Deployment) { spec(&d.Spec.Template.Spec) }), prefix: "spec.template.spec."},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			checker := &fakeChecker{verdicts: map[string]registry.Verdict{}}
			for _, im := range images {
				checker.verdicts[im] = notFound(im, "missing "+im)
			}
			e := newEnv(t, testConfig(), checker, serviceAccount(testNS, "default"))
			resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, tc.obj, nil))
			if !resp.Allowed {
				t.Fatalf("denied in warn mode: %+v", resp.Result)
			}
			var want []string
			for i, f := range fields {
				want = append(want, tc.prefix+f+".image: pullguard: missing "+images[i])
			}
			want = append(want, tc.prefix+"volumes[1].image.reference: pullguard: missing reg.example.com/v:1")
			if !slices.Equal(resp.Warnings, want) {
				t.Errorf("warnings\n%q\nwant\n%q", resp.Warnings, want)
			}
			got := e.checker.images()
			slices.Sort(got)
			wantImages := slices.Sorted(slices.Values(images))
			if !slices.Equal(got, wantImages) {
				t.Errorf("checked %q, want %q", got, wantImages)
			}
		})
	}
}

func TestUpdateChecksOnlyWhatChanged(t *testing.T) {
	withImages := func(images ...string) func(*corev1.PodSpec) {
		return func(s *corev1.PodSpec) {
			s.Containers = nil
			for i, im := range images {
				s.Containers = append(s.Containers, corev1.Container{Name: string(rune('a' + i)), Image: im})
			}
		}
	}
	podSpec := func(m ...func(*corev1.PodSpec)) *corev1.Pod {
		return pod(func(p *corev1.Pod) {
			for _, f := range m {
				f(&p.Spec)
			}
		})
	}
	deploy := func(m ...func(*appsv1.Deployment)) *appsv1.Deployment { return deployment(m...) }
	tmplSpec := func(m func(*corev1.PodSpec)) func(*appsv1.Deployment) {
		return func(d *appsv1.Deployment) { m(&d.Spec.Template.Spec) }
	}
	tests := map[string]struct {
		old, new    client.Object
		subresource string
		want        []string
	}{
		"pod image changed": {
			old: podSpec(withImages("nginx:1.25", "redis:7")), new: podSpec(withImages("nginx:1.26", "redis:7")),
			want: []string{"nginx:1.26"}},
		"pod pull secrets changed re-checks every image": {
			old:  podSpec(withImages("nginx:1.25", "redis:7")),
			new:  podSpec(withImages("nginx:1.25", "redis:7"), func(s *corev1.PodSpec) { s.ImagePullSecrets = refs("regcred") }),
			want: []string{"nginx:1.25", "redis:7"}},
		"pod label edit": {
			old: podSpec(), new: pod(func(p *corev1.Pod) { p.Labels = map[string]string{"tier": "web"} })},
		"image moved between containers": {
			old: podSpec(withImages("nginx:1.25", "redis:7")), new: podSpec(withImages("redis:7", "nginx:1.25"))},
		"ephemeral container added": {
			subresource: "ephemeralcontainers",
			old:         podSpec(),
			new: podSpec(func(s *corev1.PodSpec) {
				s.EphemeralContainers = []corev1.EphemeralContainer{{EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debug", Image: "busybox:1.36"}}}
			}),
			want: []string{"busybox:1.36"}},
		"deployment image changed": {
			old: deploy(), new: deploy(tmplSpec(withImages("nginx:1.26"))), want: []string{"nginx:1.26"}},
		"deployment scaled": {
			old: deploy(), new: deploy(func(d *appsv1.Deployment) { d.Spec.Replicas = ptr.To[int32](5) })},
		"deployment label edit": {
			old: deploy(), new: deploy(func(d *appsv1.Deployment) { d.Labels = map[string]string{"team": "a"} })},
		"kubectl rollout restart": {
			old: deploy(),
			new: deploy(func(d *appsv1.Deployment) {
				d.Spec.Template.Annotations = map[string]string{"kubectl.kubernetes.io/restartedAt": "2026-08-20T10:00:00Z"}
			})},
		"deployment pull secrets changed": {
			old: deploy(), new: deploy(tmplSpec(func(s *corev1.PodSpec) { s.ImagePullSecrets = refs("regcred") })),
			want: []string{"nginx:1.25"}},
		"deployment service account changed": {
			old: deploy(), new: deploy(tmplSpec(func(s *corev1.PodSpec) { s.ServiceAccountName = "builder" })),
			want: []string{"nginx:1.25"}},
		"deployment nodeSelector changed re-checks every image": {
			old: deploy(), new: deploy(tmplSpec(func(s *corev1.PodSpec) { s.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"} })),
			want: []string{"nginx:1.25"}},
		"deployment toleration added re-checks every image": {
			old: deploy(), new: deploy(tmplSpec(func(s *corev1.PodSpec) {
				s.Tolerations = []corev1.Toleration{{Key: corev1.LabelArchStable, Operator: corev1.TolerationOpExists}}
			})),
			want: []string{"nginx:1.25"}},
		"deployment service account made explicit is no change": {
			old: deploy(), new: deploy(tmplSpec(func(s *corev1.PodSpec) { s.ServiceAccountName = "default" }))},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(enforce), nil)
			req := review(t, admissionv1.Update, tc.new, tc.old)
			req.SubResource = tc.subresource
			resp := e.h.Handle(testContext(t), req)
			if !resp.Allowed {
				t.Fatalf("denied: %+v", resp.Result)
			}
			got := e.checker.images()
			slices.Sort(got)
			if !slices.Equal(got, tc.want) {
				t.Errorf("checked %q, want %q", got, tc.want)
			}
			if len(tc.want) == 0 {
				if n := e.gets.total("Secret") + e.gets.total("ServiceAccount"); n != 0 {
					t.Errorf("%d Secret/ServiceAccount GETs for an unchanged object, want 0", n)
				}
				if v := testutil.ToFloat64(e.h.metrics.decisions.WithLabelValues("enforce", "allow", "unchanged")); v != 1 {
					t.Errorf("decisions{allow,unchanged} = %v, want 1", v)
				}
			}
		})
	}
}

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

func TestFindingsAreCountedInEveryMode(t *testing.T) {
	for _, mode := range []Mode{ModeEnforce, ModeWarn, ModeAudit} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, testConfig(func(c *Config) { c.DefaultMode = mode }), badChecker())
			p := pod(func(p *corev1.Pod) {
				p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: "bad", Image: badImage})
			})
			e.h.Handle(testContext(t), review(t, admissionv1.Create, p, nil))
			if v := testutil.ToFloat64(e.h.metrics.findings.WithLabelValues(string(mode), "not_pullable", "tag_not_found")); v != 1 {
				t.Errorf("findings{not_pullable} = %v, want 1", v)
			}
			if v := testutil.ToFloat64(e.h.metrics.findings.WithLabelValues(string(mode), "pullable", "ok")); v != 1 {
				t.Errorf("findings{pullable} = %v, want 1", v)
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

func TestExemptions(t *testing.T) {
	tests := map[string]struct {
		cfg       func(*Config)
		user      string
		groups    []string
		images    []string
		wantCalls []string
	}{
		"namespace": {cfg: func(c *Config) { c.ExemptNamespaces = []string{"kube-system", testNS} }, images: []string{badImage}},
		"user":      {cfg: func(c *Config) { c.ExemptUsers = []string{"ci-bot"} }, user: "ci-bot", images: []string{badImage}},
		"group":     {cfg: func(c *Config) { c.ExemptGroups = []string{"system:masters"} }, groups: []string{"system:authenticated", "system:masters"}, images: []string{badImage}},
		"image glob as written": {cfg: func(c *Config) { c.ExemptImages = []string{"nginx:*"} },
			images: []string{badImage, "redis:7"}, wantCalls: []string{"redis:7"}},
		"image glob on the normalised form": {cfg: func(c *Config) { c.ExemptImages = []string{"docker.io/library/nginx:*"} },
			images: []string{badImage, "redis:7"}, wantCalls: []string{"redis:7"}},
		"glob that does not match": {cfg: func(c *Config) { c.ExemptImages = []string{"quay.io/*"} },
			images: []string{"redis:7"}, wantCalls: []string{"redis:7"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig(enforce)
			tc.cfg(&cfg)
			e := newEnv(t, cfg, badChecker())
			p := pod(func(p *corev1.Pod) {
				p.Spec.Containers = nil
				for i, im := range tc.images {
					p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: string(rune('a' + i)), Image: im})
				}
			})
			req := review(t, admissionv1.Create, p, nil)
			if tc.user != "" {
				req.UserInfo.Username = tc.user
			}
			if tc.groups != nil {
				req.UserInfo.Groups = tc.groups
			}
			resp := e.h.Handle(testContext(t), req)
			if !resp.Allowed || len(resp.Warnings) != 0 {
				t.Errorf("allowed=%v warnings=%q, want allowed silently", resp.Allowed, resp.Warnings)
			}
			if got := e.checker.images(); !slices.Equal(got, tc.wantCalls) {
				t.Errorf("checked %q, want %q", got, tc.wantCalls)
			}
		})
	}
}

func TestRequestsThatAreNotChecked(t *testing.T) {
	mirror := pod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Image = badImage
		p.Annotations = map[string]string{mirrorPodAnnotation: "abc"}
	})
	tests := map[string]struct {
		req          func(t *testing.T) admission.Request
		wantWarnings []string
		reason       string
	}{
		"DELETE": {req: func(t *testing.T) admission.Request {
			return review(t, admissionv1.Delete, pod(), nil)
		}, reason: "ignored"},
		"CONNECT": {req: func(t *testing.T) admission.Request {
			return review(t, admissionv1.Connect, pod(), nil)
		}, reason: "ignored"},
		"pods/status": {req: func(t *testing.T) admission.Request {
			r := review(t, admissionv1.Update, pod(), pod())
			r.SubResource = "status"
			return r
		}, reason: "ignored"},
		"mirror pod": {req: func(t *testing.T) admission.Request {
			return review(t, admissionv1.Create, mirror, nil)
		}, reason: "mirror_pod"},
		"unknown kind": {req: func(t *testing.T) admission.Request {
			r := review(t, admissionv1.Create, pod(), nil)
			r.Kind = metav1.GroupVersionKind{Group: "apps", Version: "v1", Kind: "ControllerRevision"}
			return r
		}, reason: "unknown_kind",
			wantWarnings: []string{"pullguard: apps/v1, Kind=ControllerRevision is not a kind pullguard checks; the webhook configuration should not send it"}},
		"imagePullPolicy Never": {req: func(t *testing.T) admission.Request {
			return review(t, admissionv1.Create, pod(func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = badImage
				p.Spec.Containers[0].ImagePullPolicy = corev1.PullNever
			}), nil)
		}, reason: "notes",
			wantWarnings: []string{"spec.containers[0].image: pullguard: imagePullPolicy Never: the image must be pre-loaded on every node"}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(enforce), badChecker())
			resp := e.h.Handle(testContext(t), tc.req(t))
			if !resp.Allowed {
				t.Errorf("denied: %+v", resp.Result)
			}
			if !slices.Equal(resp.Warnings, tc.wantWarnings) {
				t.Errorf("warnings %q, want %q", resp.Warnings, tc.wantWarnings)
			}
			if n := len(e.checker.images()); n != 0 {
				t.Errorf("%d checker calls, want 0", n)
			}
			var got float64
			for _, d := range []string{"allow", "warn"} {
				for _, m := range []string{"enforce", "unknown"} {
					got += testutil.ToFloat64(e.h.metrics.decisions.WithLabelValues(m, d, tc.reason))
				}
			}
			if got != 1 {
				t.Errorf("no decision counted with reason %q", tc.reason)
			}
		})
	}
}

func TestDryRunGetsTheSameAnswer(t *testing.T) {
	for _, mode := range []Mode{ModeEnforce, ModeWarn} {
		t.Run(string(mode), func(t *testing.T) {
			e := newEnv(t, testConfig(func(c *Config) { c.DefaultMode = mode }), badChecker(), pullSecret(testNS, "regcred", "docker.io"))
			p := pod(func(p *corev1.Pod) {
				p.Spec.Containers[0].Image = badImage
				p.Spec.ImagePullSecrets = refs("regcred", "missing")
			})
			real := e.h.Handle(testContext(t), review(t, admissionv1.Create, p, nil))
			dry := review(t, admissionv1.Create, p, nil)
			dry.DryRun = ptr.To(true)
			got := e.h.Handle(testContext(t), dry)
			if got.Allowed != real.Allowed || !slices.Equal(got.Warnings, real.Warnings) ||
				got.Result.Message != real.Result.Message || !slices.Equal(causes(got), causes(real)) {
				t.Errorf("dryRun answer differs:\n%+v\n%+v", got.AdmissionResponse, real.AdmissionResponse)
			}
		})
	}
}

func TestUndecodableObjectIsABadRequestWithItsUID(t *testing.T) {
	tests := map[string]struct {
		op       admissionv1.Operation
		obj, old string
	}{
		"object is not JSON":   {op: admissionv1.Create, obj: `{"spec":`},
		"object has bad types": {op: admissionv1.Create, obj: `{"apiVersion":"v1","kind":"Pod","spec":{"containers":"nginx"}}`},
		"object is missing":    {op: admissionv1.Create},
		"oldObject is garbage": {op: admissionv1.Update, obj: `{"apiVersion":"v1","kind":"Pod"}`, old: `[1,2]`},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(), nil)
			req := review(t, tc.op, pod(), nil)
			req.Object = runtime.RawExtension{Raw: []byte(tc.obj)}
			if tc.old != "" {
				req.OldObject = runtime.RawExtension{Raw: []byte(tc.old)}
			}
			resp := e.h.Handle(testContext(t), req)
			if resp.Allowed || resp.Result.Code != http.StatusBadRequest || resp.UID != req.UID {
				t.Errorf("got allowed=%v code=%d uid=%q, want a 400 for %q", resp.Allowed, resp.Result.Code, resp.UID, req.UID)
			}
			if !strings.HasPrefix(resp.Result.Message, "pullguard could not decode the Pod: decoding ") {
				t.Errorf("message %q", resp.Result.Message)
			}
		})
	}
}

func TestPanicsAreAnsweredAndCounted(t *testing.T) {
	tests := map[string]struct {
		checker   *fakeChecker
		informers client.Reader
	}{
		"in a check goroutine": {checker: &fakeChecker{panicOn: "nginx:1.25"}},
		"in the handler":       {informers: panickyReader{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(), tc.checker)
			if tc.informers != nil {
				e.h.informers = tc.informers
			}
			req := review(t, admissionv1.Create, pod(), nil)
			resp := e.h.Handle(testContext(t), req)
			if resp.Allowed || resp.Result.Code != http.StatusInternalServerError || resp.UID != req.UID {
				t.Errorf("got allowed=%v code=%d uid=%q, want a 500 for %q", resp.Allowed, resp.Result.Code, resp.UID, req.UID)
			}
			var n float64
			for _, m := range []string{"warn", "unknown"} {
				n += testutil.ToFloat64(e.h.metrics.decisions.WithLabelValues(m, "error", "panic"))
			}
			if n != 1 {
				t.Errorf("panic counted %v times, want 1", n)
			}
		})
	}
}

type panickyReader struct{ client.Reader }

func (panickyReader) Get(context.Context, client.ObjectKey, client.Object, ...client.GetOption) error {
	panic("metadata reader exploded")
}

func TestMetricLabelsAreClosedSets(t *testing.T) {
	e := newEnv(t, testConfig(), &fakeChecker{verdicts: map[string]registry.Verdict{
		"nginx:1.25": {Outcome: registry.Outcome(42), Class: registry.Class("made-up-by-a-broken-engine")},
	}})
	resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, pod(), nil))
	if !resp.Allowed {
		t.Fatalf("denied: %+v", resp.Result)
	}
	if v := testutil.ToFloat64(e.h.metrics.findings.WithLabelValues("warn", "unverifiable", "other")); v != 1 {
		t.Errorf("an unknown outcome/class must count as unverifiable/other, got %v", v)
	}
	families, err := e.registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"pullguard_admission_decisions_total":  {"decision", "mode", "reason"},
		"pullguard_admission_findings_total":   {"mode", "outcome", "reason"},
		"pullguard_admission_duration_seconds": {"kind"},
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var names []string
			for _, l := range m.GetLabel() {
				names = append(names, l.GetName())
			}
			if !slices.Equal(names, want[f.GetName()]) {
				t.Errorf("%s has labels %q, want %q", f.GetName(), names, want[f.GetName()])
			}
		}
	}
}
