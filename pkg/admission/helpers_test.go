package admission

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap/zapcore"
	admissionv1 "k8s.io/api/admission/v1"
	appsv1 "k8s.io/api/apps/v1"
	authenticationv1 "k8s.io/api/authentication/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	clientgoscheme "k8s.io/client-go/kubernetes/scheme"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/apiutil"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
	logf "sigs.k8s.io/controller-runtime/pkg/log"
	"sigs.k8s.io/controller-runtime/pkg/log/zap"
	"sigs.k8s.io/controller-runtime/pkg/webhook/admission"

	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
)

const testNS = "app"

// fakeChecker records its calls and answers scripted verdicts (Pullable by default).
type fakeChecker struct {
	mu       sync.Mutex
	calls    []registry.Request
	verdicts map[string]registry.Verdict
	// block: images whose check waits for the context (honour=true) or for release (ignores it).
	block   map[string]bool
	honour  bool
	release chan struct{}
	panicOn string
	// delay makes every check take this long, to observe concurrency.
	delay               time.Duration
	inFlight, maxFlight int
}

func (f *fakeChecker) Check(ctx context.Context, req registry.Request) registry.Verdict {
	f.mu.Lock()
	f.calls = append(f.calls, req)
	f.inFlight++
	f.maxFlight = max(f.maxFlight, f.inFlight)
	f.mu.Unlock()
	defer func() {
		f.mu.Lock()
		f.inFlight--
		f.mu.Unlock()
	}()
	time.Sleep(f.delay)
	if req.Image == f.panicOn {
		panic("checker exploded")
	}
	if f.block[req.Image] {
		if f.honour {
			<-ctx.Done()
			return registry.Verdict{Outcome: registry.Unverifiable, Class: registry.ClassTimeout, Image: req.Image, Detail: "context done"}
		}
		<-f.release
	}
	if v, ok := f.verdicts[req.Image]; ok {
		v.Image = req.Image
		return v
	}
	return registry.Verdict{Outcome: registry.Pullable, Class: registry.ClassOK, Image: req.Image}
}

func (f *fakeChecker) images() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, c := range f.calls {
		out = append(out, c.Image)
	}
	return out
}

func (f *fakeChecker) requests() []registry.Request {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]registry.Request(nil), f.calls...)
}

func notFound(image, detail string) registry.Verdict {
	return registry.Verdict{Outcome: registry.NotPullable, Class: registry.ClassTagNotFound, Image: image, Detail: detail}
}

// env is one handler over fakes.
type env struct {
	h        *Handler
	checker  *fakeChecker
	gets     *getCounter
	registry *prometheus.Registry
}

type getCounter struct {
	mu   sync.Mutex
	n    map[string]int
	fail map[string]error // by kind/namespace/name
}

func (g *getCounter) count(key string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.n[key]
}

func (g *getCounter) total(kind string) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	t := 0
	for k, v := range g.n {
		if len(k) > len(kind) && k[:len(kind)+1] == kind+"/" {
			t += v
		}
	}
	return t
}

// newEnv builds a handler whose API reader and metadata reader serve objs (Secrets,
// ServiceAccounts, Namespaces, Nodes), counting API reader GETs by kind/namespace/name.
func newEnv(t testing.TB, cfg Config, checker *fakeChecker, objs ...client.Object) *env {
	t.Helper()
	if checker == nil {
		checker = &fakeChecker{}
	}
	if checker.release == nil {
		checker.release = make(chan struct{})
		t.Cleanup(func() { close(checker.release) })
	}
	gets := &getCounter{n: map[string]int{}, fail: map[string]error{}}
	base := fake.NewClientBuilder().WithScheme(clientgoscheme.Scheme).WithObjects(objs...).Build()
	apiReader := interceptor.NewClient(base, interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			gvk, err := apiutil.GVKForObject(obj, clientgoscheme.Scheme)
			if err != nil {
				return err
			}
			k := gvk.Kind + "/" + key.Namespace + "/" + key.Name
			gets.mu.Lock()
			gets.n[k]++
			failure := gets.fail[k]
			gets.mu.Unlock()
			if failure != nil {
				return failure
			}
			return c.Get(ctx, key, obj, opts...)
		},
	})
	reg := prometheus.NewRegistry()
	m, err := NewMetrics(reg)
	if err != nil {
		t.Fatal(err)
	}
	h, err := NewHandler(cfg, checker, apiReader, base, m)
	if err != nil {
		t.Fatal(err)
	}
	return &env{h: h, checker: checker, gets: gets, registry: reg}
}

func testContext(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return logf.IntoContext(ctx, zap.New(zap.WriteTo(testWriter{t}), zap.UseDevMode(true), zap.Level(zapcore.Level(-2))))
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

var uidCounter atomic.Int64

// review builds an AdmissionRequest for obj (and old on UPDATE) as the API server would.
func review(t testing.TB, op admissionv1.Operation, obj, old runtime.Object) admission.Request {
	t.Helper()
	gvk, err := apiutil.GVKForObject(obj, clientgoscheme.Scheme)
	if err != nil {
		t.Fatal(err)
	}
	req := admission.Request{AdmissionRequest: admissionv1.AdmissionRequest{
		UID:       types.UID(fmt.Sprintf("uid-%06d", uidCounter.Add(1))),
		Kind:      metav1.GroupVersionKind(gvk),
		Namespace: testNS,
		Operation: op,
		UserInfo:  authenticationv1.UserInfo{Username: "alice", Groups: []string{"system:authenticated"}},
		Object:    runtime.RawExtension{Raw: mustJSON(t, obj)},
	}}
	if m, ok := obj.(metav1.Object); ok {
		req.Name = m.GetName()
	}
	if old != nil {
		req.OldObject = runtime.RawExtension{Raw: mustJSON(t, old)}
	}
	return req
}

func mustJSON(t testing.TB, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func pod(mutate ...func(*corev1.Pod)) *corev1.Pod {
	p := &corev1.Pod{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNS},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.25"}}},
	}
	for _, m := range mutate {
		m(p)
	}
	return p
}

func deployment(mutate ...func(*appsv1.Deployment)) *appsv1.Deployment {
	d := &appsv1.Deployment{
		TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: testNS},
		Spec: appsv1.DeploymentSpec{Template: corev1.PodTemplateSpec{
			Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "nginx:1.25"}}},
		}},
	}
	for _, m := range mutate {
		m(d)
	}
	return d
}

// kindObjects is one object of every kind the webhook checks, named by kind, each with meta and
// the pod template tmpl (a Pod gets tmpl's metadata and spec).
func kindObjects(meta metav1.ObjectMeta, tmpl corev1.PodTemplateSpec) map[string]client.Object {
	podMeta := meta
	podMeta.Labels, podMeta.Annotations = tmpl.Labels, tmpl.Annotations
	return map[string]client.Object{
		"Pod":                   &corev1.Pod{ObjectMeta: podMeta, Spec: tmpl.Spec},
		"Deployment":            &appsv1.Deployment{ObjectMeta: meta, Spec: appsv1.DeploymentSpec{Template: tmpl}},
		"StatefulSet":           &appsv1.StatefulSet{ObjectMeta: meta, Spec: appsv1.StatefulSetSpec{Template: tmpl}},
		"DaemonSet":             &appsv1.DaemonSet{ObjectMeta: meta, Spec: appsv1.DaemonSetSpec{Template: tmpl}},
		"ReplicaSet":            &appsv1.ReplicaSet{ObjectMeta: meta, Spec: appsv1.ReplicaSetSpec{Template: tmpl}},
		"ReplicationController": &corev1.ReplicationController{ObjectMeta: meta, Spec: corev1.ReplicationControllerSpec{Template: &tmpl}},
		"Job":                   &batchv1.Job{ObjectMeta: meta, Spec: batchv1.JobSpec{Template: tmpl}},
		"CronJob":               &batchv1.CronJob{ObjectMeta: meta, Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: tmpl}}}},
	}
}

func namespace(name string, labels map[string]string) *corev1.Namespace {
	return &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}}
}

func node(name, os, arch string, labels map[string]string) *corev1.Node {
	l := map[string]string{corev1.LabelOSStable: os, corev1.LabelArchStable: arch}
	for k, v := range labels {
		l[k] = v
	}
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: l}}
}

// pullSecret is a kubernetes.io/dockerconfigjson secret for host.
func pullSecret(ns, name, host string) *corev1.Secret {
	auth := base64.StdEncoding.EncodeToString([]byte("user-" + name + ":pw"))
	doc := fmt.Sprintf(`{"auths":{%q:{"auth":%q}}}`, host, auth)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Type:       corev1.SecretTypeDockerConfigJson,
		Data:       map[string][]byte{corev1.DockerConfigJsonKey: []byte(doc)},
	}
}

func serviceAccount(ns, name string, secrets ...string) *corev1.ServiceAccount {
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	for _, s := range secrets {
		sa.ImagePullSecrets = append(sa.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
	}
	return sa
}

func refs(names ...string) []corev1.LocalObjectReference {
	var out []corev1.LocalObjectReference
	for _, n := range names {
		out = append(out, corev1.LocalObjectReference{Name: n})
	}
	return out
}

// secretNames returns the imagePullSecrets the keyring holds a credential from for repo.
func secretNames(req registry.Request, repo string) []string {
	var out []string
	for _, c := range req.Keyring.Lookup(keyring.ParseRepo(repo)) {
		out = append(out, c.Secret)
	}
	return out
}

// causes lists a status's causes as "field: message".
func causes(status *metav1.Status) []string {
	if status == nil || status.Details == nil {
		return nil
	}
	var out []string
	for _, c := range status.Details.Causes {
		out = append(out, c.Field+": "+c.Message)
	}
	return out
}

func testConfig(mutate ...func(*Config)) Config {
	c := DefaultConfig()
	for _, m := range mutate {
		m(&c)
	}
	return c
}

func badChecker() *fakeChecker {
	return &fakeChecker{verdicts: map[string]registry.Verdict{badImage: notFound(badImage, badDetail)}}
}

func enforce(c *Config) { c.DefaultMode = ModeEnforce }
