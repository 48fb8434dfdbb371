package admission

import (
	"fmt"
	"slices"
	"testing"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

// hostilePod has images distinct images and secrets distinct pull secret names (none exists):
// the largest objects the API server accepts (about 3 MiB) carry 150,000 of the one or 50,000
// of the other.
func hostilePod(images, secrets int) *corev1.Pod {
	return pod(func(p *corev1.Pod) {
		p.Spec.Containers = make([]corev1.Container, images)
		for i := range p.Spec.Containers {
			p.Spec.Containers[i] = corev1.Container{Name: fmt.Sprintf("c%d", i), Image: fmt.Sprintf("reg.example.com/app:%d", i)}
		}
		for i := range secrets {
			p.Spec.ImagePullSecrets = append(p.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: fmt.Sprintf("s%d", i)})
		}
	})
}

// BenchmarkHostileObject is one admission of a hostile pod against an ordinary one, with a
// checker that answers at once: what remains is the handler's own work.
func BenchmarkHostileObject(b *testing.B) {
	tests := map[string]*corev1.Pod{
		"ordinary: 3 images, 2 secret names": hostilePod(3, 2),
		"150000 images":                      hostilePod(150_000, 0),
		"50000 secret names":                 hostilePod(1, 50_000),
	}
	for name, p := range tests {
		b.Run(name, func(b *testing.B) {
			e := newEnv(b, testConfig(), nil)
			req := review(b, admissionv1.Create, p, nil)
			ctx := testContext(b)
			b.ReportAllocs()
			for b.Loop() {
				e.h.Handle(ctx, req)
			}
		})
	}
}

// TestObjectLimits checks the per-object bounds: past them the object gets one clear
// Unverifiable answer, and neither the registry nor the API server is asked.
func TestObjectLimits(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxImagesPerObject, limits.MaxPullSecretsPerObject = 4, 3
	tests := map[string]struct {
		pod          *corev1.Pod
		wantWarnings []string
		wantChecks   int
		wantGets     int
	}{
		"images at the limit are checked": {pod: hostilePod(4, 0), wantChecks: 4},
		"more images than the limit": {pod: hostilePod(5, 0),
			wantWarnings: []string{"spec: pullguard: not verified: 5 images, more than pullguard checks in one object (--max-images-per-object=4)"}},
		"secret names at the limit are read": {pod: hostilePod(1, 3), wantChecks: 1, wantGets: 3, wantWarnings: []string{
			`spec.imagePullSecrets: pullguard: imagePullSecret "s0" not found in namespace "app"; the kubelet will pull without it`,
			`spec.imagePullSecrets: pullguard: imagePullSecret "s1" not found in namespace "app"; the kubelet will pull without it`,
			`spec.imagePullSecrets: pullguard: imagePullSecret "s2" not found in namespace "app"; the kubelet will pull without it`,
		}},
		"more secret names than the limit": {pod: hostilePod(1, 4), wantWarnings: []string{
			"spec.containers[0].image: pullguard: not verified: 4 imagePullSecrets, more than pullguard reads for one object (--max-pull-secrets-per-object=3)"}},
		"duplicate secret names count once": {pod: func() *corev1.Pod {
			p := hostilePod(1, 0)
			p.Spec.ImagePullSecrets = refs("s0", "s0", "s0", "s0", "s0")
			return p
		}(), wantChecks: 1, wantGets: 1, wantWarnings: []string{
			`spec.imagePullSecrets: pullguard: imagePullSecret "s0" not found in namespace "app"; the kubelet will pull without it`}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(func(c *Config) { c.Limits, c.TrustUnauthenticatedCallers = limits, true }), nil)
			resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, tc.pod, nil))
			if !resp.Allowed {
				t.Fatalf("denied: %+v", resp.Result)
			}
			if !slices.Equal(resp.Warnings, tc.wantWarnings) {
				t.Errorf("warnings\n%q\nwant\n%q", resp.Warnings, tc.wantWarnings)
			}
			if n := len(e.checker.requests()); n != tc.wantChecks {
				t.Errorf("%d checks, want %d", n, tc.wantChecks)
			}
			if n := e.gets.total("Secret"); n != tc.wantGets {
				t.Errorf("%d secret GETs, want %d", n, tc.wantGets)
			}
		})
	}
}
