package reverify

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8stypes "k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/keyring"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// passwordEngine answers Pullable when the first credential for the image's repository has
// the password "good", NotPullable (unauthorized) otherwise, and counts its calls.
type passwordEngine struct {
	mu    sync.Mutex
	calls int
}

func (e *passwordEngine) Check(_ context.Context, req registry.Request) registry.Verdict {
	e.mu.Lock()
	e.calls++
	e.mu.Unlock()
	ref, err := reference.Parse(req.Image)
	if err != nil {
		return registry.Verdict{Outcome: registry.Unverifiable, Image: req.Image}
	}
	if creds := req.Keyring.Lookup(keyring.ParseRepo(ref.Repository)); len(creds) > 0 && creds[0].Password == "good" {
		return registry.Verdict{Outcome: registry.Pullable, Class: registry.ClassOK, Image: req.Image}
	}
	return registry.Verdict{Outcome: registry.NotPullable, Class: registry.ClassUnauthorized, Image: req.Image, Detail: "unauthorized"}
}

func (e *passwordEngine) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

func pullSecret(name, password string) *corev1.Secret {
	return &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "app", UID: k8stypes.UID("uid-" + name)},
		Type: corev1.SecretTypeDockerConfigJson,
		Data: map[string][]byte{corev1.DockerConfigJsonKey: []byte(`{"auths":{"reg.example.com":{"username":"u","password":"` + password + `"}}}`)}}
}

func withSecrets(names ...string) func(*appsv1.Deployment) {
	return func(d *appsv1.Deployment) {
		for _, n := range names {
			d.Spec.Template.Spec.ImagePullSecrets = append(d.Spec.Template.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: n})
		}
	}
}

// credentialCluster: web and api run the same image with pull-a, other uses pull-b, plain uses the default
// ServiceAccount's pull-sa, nightly (a CronJob) runs as builder, which has none.
func credentialCluster() []client.Object {
	return []client.Object{
		&corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "app"}},
		pullSecret("pull-a", "good"), pullSecret("pull-b", "good"), pullSecret("pull-sa", "good"),
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "app", UID: "sa-default"},
			ImagePullSecrets: []corev1.LocalObjectReference{{Name: "pull-sa"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "app", UID: "sa-builder"}},
		deployment("web", withSecrets("pull-a")), deployment("api", withSecrets("pull-a"), func(d *appsv1.Deployment) { d.Spec.Template = deployment("web", withSecrets("pull-a")).Spec.Template }),
		deployment("other", withSecrets("pull-b")), deployment("plain"),
		&batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "app", UID: "c1"},
			Spec: batchv1.CronJobSpec{JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: func() corev1.PodTemplateSpec {
				t := template("reg.example.com/nightly:1")
				t.Spec.ServiceAccountName = "builder"
				return t
			}()}}}},
	}
}

// noSecretCache: the handler's short Secret cache off, so that a check reads what the test wrote.
func noSecretCache() admission.Config {
	c := admission.DefaultConfig()
	c.SecretCacheTTL = 0
	return c
}

// pollEnv scans credentialCluster once and returns a poller over the fake API server.
func pollEnv(t *testing.T, acfg admission.Config) (*scanEnv, *passwordEngine, func() []string) {
	t.Helper()
	engine := &passwordEngine{}
	e := newScanEnvWith(t, engine, acfg, credentialCluster()...)
	if err := e.s.Scan(context.Background(), 0); err != nil {
		t.Fatal(err)
	}
	p := secretPoller{s: e.s, reader: e.c}
	budget := newHostBudget(e.clock, Rate{QPS: float64(e.s.cfg.SecretPollQPS), Burst: 1}, nil)
	poll := func() []string {
		q := &recordingQueue{}
		p.poll(context.Background(), q, budget)
		keys := slices.Clone(q.added)
		got := q.take()
		// The triggered checks, as the controller would run them.
		for _, k := range keys {
			if _, err := e.s.reconcile(context.Background(), k); err != nil {
				t.Fatal(err)
			}
		}
		return got
	}
	return e, engine, poll
}

func TestCredentialChangesRecheckExactlyTheWorkloadsUsingThem(t *testing.T) {
	ctx := context.Background()
	tests := map[string]struct {
		change func(t *testing.T, c client.Client)
		want   []string
	}{
		"nothing changed": {change: func(*testing.T, client.Client) {}},
		"pull-a rotated": {change: func(t *testing.T, c client.Client) { update(t, c, pullSecret("pull-a", "new")) },
			want: []string{"Deployment app/api", "Deployment app/web"}},
		"pull-b deleted": {change: func(t *testing.T, c client.Client) { del(t, c, pullSecret("pull-b", "")) },
			want: []string{"Deployment app/other"}},
		"pull-b deleted and created again": {change: func(t *testing.T, c client.Client) {
			del(t, c, pullSecret("pull-b", ""))
			s := pullSecret("pull-b", "good")
			s.UID = "uid-pull-b-2"
			if err := c.Create(ctx, s); err != nil {
				t.Fatal(err)
			}
		}, want: []string{"Deployment app/other"}},
		"the ServiceAccount's secret rotated": {change: func(t *testing.T, c client.Client) { update(t, c, pullSecret("pull-sa", "new")) },
			want: []string{"Deployment app/plain"}},
		// Every template's check reads the ServiceAccount it runs as (a template with secrets of
		// its own gets a note about the ServiceAccount's), so all but nightly use default.
		"the default ServiceAccount's pull secrets changed": {change: func(t *testing.T, c client.Client) {
			sa := &corev1.ServiceAccount{}
			get(t, c, "default", sa)
			sa.ImagePullSecrets = nil
			update(t, c, sa)
		}, want: []string{"Deployment app/api", "Deployment app/other", "Deployment app/plain", "Deployment app/web"}},
		"builder deleted": {change: func(t *testing.T, c client.Client) {
			del(t, c, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "app"}})
		}, want: []string{"CronJob app/nightly"}},
		"an unused secret created": {change: func(t *testing.T, c client.Client) {
			if err := c.Create(ctx, pullSecret("unused", "x")); err != nil {
				t.Fatal(err)
			}
		}},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			e, _, poll := pollEnv(t, noSecretCache())
			if got := poll(); len(got) != 0 {
				t.Fatalf("the first poll after a scan queued %q", got)
			}
			tc.change(t, e.c)
			if got := poll(); !slices.Equal(got, tc.want) {
				t.Errorf("queued %q, want %q", got, tc.want)
			}
			if got := poll(); len(got) != 0 {
				t.Errorf("the poll after the re-checks queued %q again", got)
			}
		})
	}
}

func TestRotatedSecretIsCheckedAfreshWithinAScan(t *testing.T) {
	e, engine, poll := pollEnv(t, noSecretCache())
	before := engine.total()
	e.events() // nightly's first Report fails (builder has no secrets)
	if r := e.report(t, "app", "pullguard-deployment-web"); r.Summary.Pass != 1 {
		t.Fatalf("web before the rotation: %+v", r.Summary)
	}
	update(t, e.c, pullSecret("pull-a", "wrong"))
	if got := poll(); len(got) != 2 {
		t.Fatalf("queued %q", got)
	}
	// The scan's de-duplication still holds web's image with pull-a's old credentials: the
	// new ones are another key, so the engine is asked again, once for both workloads.
	if got := engine.total() - before; got != 1 {
		t.Errorf("%d engine calls after the rotation, want 1", got)
	}
	for _, name := range []string{"web", "api"} {
		if r := e.report(t, "app", "pullguard-deployment-"+name); r.Summary.Fail != 1 {
			t.Errorf("%s after the rotation to a wrong password: %+v", name, r.Summary)
		}
	}
	if ev := e.events(); len(ev) != 2 {
		t.Errorf("events %q, want one Warning per workload", ev)
	}
}

func TestAStaleSecretReadIsFoundByTheNextPoll(t *testing.T) {
	acfg := admission.DefaultConfig()
	acfg.SecretCacheTTL = time.Hour // the check reads the handler's cached copy
	e, _, poll := pollEnv(t, acfg)
	update(t, e.c, pullSecret("pull-b", "wrong"))
	for i := range 2 {
		if got := poll(); !slices.Equal(got, []string{"Deployment app/other"}) {
			t.Errorf("poll %d queued %q: a check that read the old secret must be queued again", i, got)
		}
	}
}

func update(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	cur := obj.DeepCopyObject().(client.Object)
	get(t, c, obj.GetName(), cur)
	obj.SetResourceVersion(cur.GetResourceVersion())
	obj.SetUID(cur.GetUID())
	if err := c.Update(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func del(t *testing.T, c client.Client, obj client.Object) {
	t.Helper()
	if err := c.Delete(context.Background(), obj); err != nil {
		t.Fatal(err)
	}
}

func get(t *testing.T, c client.Client, name string, obj client.Object) {
	t.Helper()
	if err := c.Get(context.Background(), client.ObjectKey{Namespace: "app", Name: name}, obj); err != nil {
		t.Fatal(err)
	}
}
