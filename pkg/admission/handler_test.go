package admission

import (
	"context"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"
	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/utils/ptr"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"
)

const (
	badImage  = "nginx:1.999"
	badDetail = `tag "1.999" not found in docker.io/library/nginx`
)

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
				got.Result.Message != real.Result.Message || !slices.Equal(causes(got.Result), causes(real.Result)) {
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
