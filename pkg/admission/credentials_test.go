package admission

import (
	"cmp"
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"sigs.k8s.io/controller-runtime/pkg/client"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
)

const privateImage = "reg.example.com/team/app:1"

func TestCredentials(t *testing.T) {
	opaque := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: "opaque", Namespace: testNS},
		Type:       corev1.SecretTypeOpaque,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{}}`)},
	}
	objs := []client.Object{
		pullSecret(testNS, "regcred", "reg.example.com"),
		pullSecret(testNS, "sa-cred", "reg.example.com"),
		pullSecret(testNS, "builder-cred", "reg.example.com"),
		pullSecret("other", "only-in-other", "reg.example.com"),
		opaque,
		serviceAccount(testNS, "default", "sa-cred"),
		serviceAccount(testNS, "builder", "builder-cred"),
		serviceAccount(testNS, "plain"),
	}
	podWith := func(secrets ...string) client.Object {
		return pod(func(p *corev1.Pod) {
			p.Spec.Containers[0].Image = privateImage
			p.Spec.ServiceAccountName = "builder"
			p.Spec.ImagePullSecrets = refs(secrets...)
		})
	}
	deployWith := func(sa string, secrets ...string) client.Object {
		return deployment(func(d *appsv1.Deployment) {
			d.Spec.Template.Spec.Containers[0].Image = privateImage
			d.Spec.Template.Spec.ServiceAccountName = sa
			d.Spec.Template.Spec.ImagePullSecrets = refs(secrets...)
		})
	}
	tests := map[string]struct {
		obj          client.Object
		failGet      string
		failErr      error    // the failed GET's error; nil: Forbidden
		wantSecrets  []string // secrets the keyring offers for privateImage, in order
		wantWarnings []string
		// revealing: wantWarnings say what the namespace's objects hold, and only a trusted
		// caller hears them (caller.go); an untrusted one gets no warning.
		revealing   bool
		wantSAGets  int
		wantNoCheck bool
	}{
		"pod uses its own secrets": {
			obj: podWith("regcred"), wantSecrets: []string{"regcred"}},
		"pod without secrets never reads its ServiceAccount": {
			obj: podWith()},
		"template secrets win over the ServiceAccount's, with a note": {
			obj: deployWith("builder", "regcred"), wantSecrets: []string{"regcred"}, wantSAGets: 1, revealing: true,
			wantWarnings: []string{`spec.template.spec.serviceAccountName: pullguard: ServiceAccount "builder" pull secrets [builder-cred] are ignored because the pod template sets imagePullSecrets`}},
		"template without secrets uses its ServiceAccount's": {
			obj: deployWith("builder"), wantSecrets: []string{"builder-cred"}, wantSAGets: 1},
		"template without a ServiceAccount uses default": {
			obj: deployWith(""), wantSecrets: []string{"sa-cred"}, wantSAGets: 1},
		"template whose ServiceAccount has no secrets": {
			obj: deployWith("plain", "regcred"), wantSecrets: []string{"regcred"}, wantSAGets: 1},
		"template whose ServiceAccount is missing": {
			obj: deployWith("ghost"), wantSAGets: 1, revealing: true,
			wantWarnings: []string{`spec.template.spec.serviceAccountName: pullguard: ServiceAccount "ghost" not found in namespace "app"; pods will be rejected until it exists`}},
		"missing secret is a warning and the check goes on": {
			obj: podWith("nope", "regcred"), wantSecrets: []string{"regcred"}, revealing: true,
			wantWarnings: []string{`spec.imagePullSecrets: pullguard: imagePullSecret "nope" not found in namespace "app"; the kubelet will pull without it`}},
		"secret names that cannot exist are not found, not unreadable": {
			obj: podWith("a/b", "Not_A_Name", "regcred"), failGet: "Secret/app/a/b", wantSecrets: []string{"regcred"},
			wantWarnings: []string{
				`spec.imagePullSecrets: pullguard: imagePullSecret "a/b" not found in namespace "app" (not a valid secret name); the kubelet will pull without it`,
				`spec.imagePullSecrets: pullguard: imagePullSecret "Not_A_Name" not found in namespace "app" (not a valid secret name); the kubelet will pull without it`,
			}},
		"wrong-type secret is a warning": {
			obj: podWith("opaque"), revealing: true,
			wantWarnings: []string{`spec.imagePullSecrets: pullguard: secret "opaque" has type Opaque; the kubelet only uses kubernetes.io/dockerconfigjson or kubernetes.io/dockercfg`}},
		"secret that exists only in another namespace gives no credentials": {
			obj: podWith("only-in-other"), revealing: true,
			wantWarnings: []string{`spec.imagePullSecrets: pullguard: imagePullSecret "only-in-other" not found in namespace "app"; the kubelet will pull without it`}},
		"unreadable secret: images are unverifiable, the registry is not asked": {
			obj: podWith("regcred"), failGet: "Secret/app/regcred", wantNoCheck: true,
			wantWarnings: []string{`spec.containers[0].image: pullguard: not verified: imagePullSecret "regcred" could not be read (forbidden)`}},
		"a secret the reader cannot know about is unreadable, in the reader's words": {
			obj: podWith("regcred"), failGet: "Secret/app/regcred", failErr: &UnknownObjectError{Reason: "not in the input"}, wantNoCheck: true,
			wantWarnings: []string{`spec.containers[0].image: pullguard: not verified: imagePullSecret "regcred" could not be read (not in the input)`}},
		"unreadable ServiceAccount of a template without secrets": {
			obj: deployWith("builder"), failGet: "ServiceAccount/app/builder", wantNoCheck: true, wantSAGets: 1,
			wantWarnings: []string{`spec.template.spec.containers[0].image: pullguard: not verified: ServiceAccount "builder" could not be read (forbidden)`}},
	}
	for name, tc := range tests {
		for caller, trusted := range map[string]bool{"trusted": true, "untrusted": false} {
			t.Run(name+"/"+caller, func(t *testing.T) {
				wantWarnings := tc.wantWarnings
				if tc.revealing && !trusted {
					wantWarnings = nil
				}
				e := newEnv(t, testConfig(func(c *Config) { c.TrustUnauthenticatedCallers = trusted }), nil, objs...)
				if tc.failGet != "" {
					e.gets.fail[tc.failGet] = cmp.Or(tc.failErr, error(apierrors.NewForbidden(schema.GroupResource{Resource: "secrets"}, "x", nil)))
				}
				if tc.failGet == "Secret/app/a/b" {
					// What client-go's request builder answers before sending anything.
					e.gets.fail[tc.failGet] = errString(`invalid resource name "a/b": [may not contain '/']`)
				}
				resp := e.h.Handle(testContext(t), review(t, admissionv1.Create, tc.obj, nil))
				if !resp.Allowed {
					t.Fatalf("denied: %+v", resp.Result)
				}
				if !slices.Equal(resp.Warnings, wantWarnings) {
					t.Errorf("warnings\n%q\nwant\n%q", resp.Warnings, wantWarnings)
				}
				if n := e.gets.total("ServiceAccount"); n != tc.wantSAGets {
					t.Errorf("%d ServiceAccount GETs, want %d", n, tc.wantSAGets)
				}
				if n := e.gets.count("Secret/other/only-in-other"); n != 0 {
					t.Errorf("read a secret from another namespace")
				}
				reqs := e.checker.requests()
				if tc.wantNoCheck {
					if len(reqs) != 0 {
						t.Errorf("%d checker calls, want none", len(reqs))
					}
					return
				}
				if len(reqs) != 1 {
					t.Fatalf("%d checker calls, want 1", len(reqs))
				}
				if got := secretNames(reqs[0], "reg.example.com/team/app"); !slices.Equal(got, tc.wantSecrets) {
					t.Errorf("keyring offers %q, want %q", got, tc.wantSecrets)
				}
				if reqs[0].TrustedCaller != trusted {
					t.Errorf("checker asked with TrustedCaller %v, want %v", reqs[0].TrustedCaller, trusted)
				}
			})
		}
	}
}

func TestSecretReadsAreCached(t *testing.T) {
	tests := map[string]struct {
		ttl        time.Duration
		secret     string
		sequential bool
		wantGets   int
	}{
		"a burst shares one GET":         {ttl: 10 * time.Second, secret: "regcred", wantGets: 1},
		"sequential reads hit the cache": {ttl: 10 * time.Second, secret: "regcred", sequential: true, wantGets: 1},
		"NotFound is cached too":         {ttl: 10 * time.Second, secret: "missing", sequential: true, wantGets: 1},
		"TTL 0 disables the cache":       {secret: "regcred", sequential: true, wantGets: 20},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e := newEnv(t, testConfig(func(c *Config) { c.SecretCacheTTL = tc.ttl }), nil, pullSecret(testNS, "regcred", "reg.example.com"))
			p := pod(func(p *corev1.Pod) { p.Spec.ImagePullSecrets = refs(tc.secret) })
			ctx := testContext(t)
			var wg sync.WaitGroup
			for range 20 {
				req := review(t, admissionv1.Create, p, nil)
				if tc.sequential {
					e.h.Handle(ctx, req)
					continue
				}
				wg.Go(func() { e.h.Handle(ctx, req) })
			}
			wg.Wait()
			if n := e.gets.count("Secret/app/" + tc.secret); n != tc.wantGets {
				t.Errorf("%d GETs, want %d", n, tc.wantGets)
			}
		})
	}
}

func TestSecretDataIsNeverLogged(t *testing.T) {
	var logs strings.Builder
	e := newEnv(t, testConfig(), nil, pullSecret(testNS, "regcred", "reg.example.com"))
	e.gets.fail["Secret/app/other"] = apierrors.NewInternalError(errString("etcd is sad"))
	ctx := logIntoBuilder(t, &logs)
	p := pod(func(p *corev1.Pod) {
		p.Spec.Containers[0].Image = privateImage
		p.Spec.ImagePullSecrets = refs("regcred", "other")
	})
	e.h.Handle(ctx, review(t, admissionv1.Create, p, nil))
	if logs.Len() == 0 {
		t.Fatal("no logs captured")
	}
	for _, secret := range []string{"user-regcred", "dXNlci1yZWdjcmVkOnB3", "auths"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("logs contain secret material %q", secret)
		}
	}
}

type errString string

func (e errString) Error() string { return string(e) }

// logIntoBuilder returns a context whose logger writes everything, V(5) included, into b.
func logIntoBuilder(t *testing.T, b *strings.Builder) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	w := &lockedWriter{w: b}
	return logf.IntoContext(ctx, zap.New(zap.WriteTo(w), zap.Level(zapcore.Level(-5))))
}

type lockedWriter struct {
	mu sync.Mutex
	w  *strings.Builder
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
