package admission

import (
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

	"github.com/pullguard/pullguard/pkg/registry"
)

func TestEveryKindIsDeniedWithItsFieldPath(t *testing.T) {
	meta := metav1.ObjectMeta{Name: "web", Namespace: testNS}
	tmpl := corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: badImage}}}}
	objs := kindObjects(meta, tmpl)
	tests := map[string]struct {
		obj  client.Object
		kind string
		path string
	}{
		"Pod": {obj: pod(func(p *corev1.Pod) { p.Spec.Containers[0].Image = badImage }),
			kind: "Pod", path: "spec.containers[0].image"},
		"Deployment":            {obj: objs["Deployment"], kind: "Deployment.apps", path: "spec.template.spec.containers[0].image"},
		"StatefulSet":           {obj: objs["StatefulSet"], kind: "StatefulSet.apps", path: "spec.template.spec.containers[0].image"},
		"DaemonSet":             {obj: objs["DaemonSet"], kind: "DaemonSet.apps", path: "spec.template.spec.containers[0].image"},
		"ReplicaSet":            {obj: objs["ReplicaSet"], kind: "ReplicaSet.apps", path: "spec.template.spec.containers[0].image"},
		"ReplicationController": {obj: objs["ReplicationController"], kind: "ReplicationController", path: "spec.template.spec.containers[0].image"},
		"Job":                   {obj: objs["Job"], kind: "Job.batch", path: "spec.template.spec.containers[0].image"},
		"CronJob":               {obj: objs["CronJob"], kind: "CronJob.batch", path: "spec.jobTemplate.spec.template.spec.containers[0].image"},
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
			if got := causes(resp.Result); !slices.Equal(got, []string{wantCause}) {
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

func TestPodSpecOf(t *testing.T) {
	spec := corev1.PodSpec{
		Containers:     []corev1.Container{{Name: "c", Image: "nginx:1.25", ImagePullPolicy: corev1.PullAlways}},
		InitContainers: []corev1.Container{{Name: "i", Image: "busybox:1"}, {Name: "empty"}},
		Volumes:        []corev1.Volume{{Name: "v", VolumeSource: corev1.VolumeSource{Image: &corev1.ImageVolumeSource{Reference: "data:1", PullPolicy: corev1.PullIfNotPresent}}}},
	}
	template := corev1.PodTemplateSpec{Spec: spec}
	tests := map[string]struct {
		obj      runtime.Object
		specPath string
		ok       bool
	}{
		"Pod":                   {obj: &corev1.Pod{Spec: spec}, specPath: "spec", ok: true},
		"Deployment":            {obj: &appsv1.Deployment{Spec: appsv1.DeploymentSpec{Template: template}}, specPath: "spec.template.spec", ok: true},
		"CronJob":               {obj: &batchv1.CronJob{Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: template}}}}, specPath: "spec.jobTemplate.spec.template.spec", ok: true},
		"ReplicationController": {obj: &corev1.ReplicationController{Spec: corev1.ReplicationControllerSpec{Template: &template}}, specPath: "spec.template.spec", ok: true},
		"a kind not checked":    {obj: &corev1.ConfigMap{}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			got, p, ok := PodSpecOf(tc.obj)
			if ok != tc.ok {
				t.Fatalf("ok = %v, want %v", ok, tc.ok)
			}
			if !ok {
				return
			}
			if p.String() != tc.specPath {
				t.Errorf("spec path %q, want %q", p, tc.specPath)
			}
			want := []Image{
				{Path: tc.specPath + ".containers[0].image", Image: "nginx:1.25", PullPolicy: corev1.PullAlways},
				{Path: tc.specPath + ".initContainers[0].image", Image: "busybox:1"},
				{Path: tc.specPath + ".volumes[0].image.reference", Image: "data:1", PullPolicy: corev1.PullIfNotPresent},
			}
			if images := Images(got, p); !slices.Equal(images, want) {
				t.Errorf("Images = %+v, want %+v", images, want)
			}
		})
	}
	if spec, _, ok := PodSpecOf(&corev1.ReplicationController{}); !ok || spec == nil || len(Images(spec, specPath)) != 0 {
		t.Error("a ReplicationController without a template must give an empty spec")
	}
}
