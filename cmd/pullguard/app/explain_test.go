package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"

	"github.com/pullguard/pullguard/pkg/nodeerror"
	"github.com/pullguard/pullguard/pkg/registry"
)

// The pods' status and Events below are written as the kubelet writes them:
// pkg/kubelet/images/image_manager.go records Event reason "Failed" with `Failed to pull image
// %q: %v`, "BackOff" with `Back-off pulling image %q`, "ErrImageNeverPull" with `Container
// image %q is not present with pull policy of Never`, "InspectFailed" for InvalidImageName; the
// container waits with the reason of pkg/kubelet/images/types.go and, for ErrImagePull, the
// runtime's error text as message; the Event's involvedObject is the pod with fieldPath
// spec.containers{NAME} (kubecontainer.GenerateContainerRef). The runtime's text is
// containerd's (internal/cri/server/images/image_pull.go, core/remotes/docker/resolver.go).

const testNode = "node-amd64"

// kubeletFailure is what the node left for one container.
type kubeletFailure struct {
	reason, message string
	// events are Event reason → message, oldest first.
	events [][2]string
}

func containerdErr(image, cause string) string {
	return fmt.Sprintf(`rpc error: code = Unknown desc = failed to pull and unpack image %q: failed to resolve reference %q: %s`, image, image, cause)
}

// failedPull is the ErrImagePull state and its Failed and BackOff Events for the runtime error.
func failedPull(image, runtimeErr string) kubeletFailure {
	return kubeletFailure{
		reason:  nodeerror.ReasonImagePullBackOff,
		message: fmt.Sprintf("Back-off pulling image %q", image),
		events: [][2]string{
			{nodeerror.EventFailed, fmt.Sprintf("Failed to pull image %q: %s", image, runtimeErr)},
			{nodeerror.EventFailed, "Error: ErrImagePull"},
			{nodeerror.EventBackOff, fmt.Sprintf("Back-off pulling image %q", image)},
		},
	}
}

type podSpec struct {
	name, image string
	secrets     []string
	policy      corev1.PullPolicy
	failure     *kubeletFailure
	labels      map[string]string
	ownerRS     string
}

// explainCluster builds the fake cluster's objects for pods of one namespace.
func explainCluster(t *testing.T, reg *testRegistry, pods ...podSpec) client.Reader {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	if err := appsv1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	objs := []client.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: testNode, Labels: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "default"},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, reg.host, auth)},
		},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "default"}},
		&appsv1.ReplicaSet{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8", Namespace: "default", OwnerReferences: []metav1.OwnerReference{
			{APIVersion: "apps/v1", Kind: "Deployment", Name: "web", UID: "d-uid", Controller: ptr(true)},
		}}},
		&appsv1.Deployment{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"}, Spec: appsv1.DeploymentSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
		}},
	}
	base := time.Date(2026, 12, 2, 7, 0, 0, 0, time.UTC)
	for i, p := range pods {
		uid := types.UID(fmt.Sprintf("uid-%d", i))
		pod := &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: p.name, Namespace: "default", UID: uid, Labels: p.labels},
			Spec: corev1.PodSpec{
				NodeName:           testNode,
				ServiceAccountName: "default",
				Containers:         []corev1.Container{{Name: "app", Image: p.image, ImagePullPolicy: p.policy}},
			},
		}
		if p.ownerRS != "" {
			pod.OwnerReferences = []metav1.OwnerReference{{APIVersion: "apps/v1", Kind: "ReplicaSet", Name: p.ownerRS, UID: "rs-uid", Controller: ptr(true)}}
		}
		for _, s := range p.secrets {
			pod.Spec.ImagePullSecrets = append(pod.Spec.ImagePullSecrets, corev1.LocalObjectReference{Name: s})
		}
		status := corev1.ContainerStatus{Name: "app", Image: p.image, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}
		if f := p.failure; f != nil {
			status.State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: f.reason, Message: f.message}}
			for j, e := range f.events {
				ts := metav1.NewTime(base.Add(time.Duration(j) * time.Second))
				objs = append(objs, &corev1.Event{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%d", p.name, j), Namespace: "default"},
					InvolvedObject: corev1.ObjectReference{
						Kind: "Pod", Namespace: "default", Name: p.name, UID: uid, APIVersion: "v1",
						FieldPath: "spec.containers{app}",
					},
					Reason: e[0], Message: e[1], Type: corev1.EventTypeWarning,
					Source:         corev1.EventSource{Component: "kubelet", Host: testNode},
					FirstTimestamp: ts, LastTimestamp: ts, Count: 1,
				})
			}
			// An Event of another pod of the same name, from before: never evidence.
			objs = append(objs, &corev1.Event{
				ObjectMeta:     metav1.ObjectMeta{Name: p.name + ".old", Namespace: "default"},
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: p.name, UID: "an-older-pod", FieldPath: "spec.containers{app}"},
				Reason:         nodeerror.EventFailed, Message: "Failed to pull image \"x\": dial tcp: lookup x: no such host",
			})
		}
		pod.Status.ContainerStatuses = []corev1.ContainerStatus{status}
		objs = append(objs, pod)
	}
	return fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).
		WithIndex(&corev1.Event{}, "involvedObject.name", func(o client.Object) []string {
			return []string{o.(*corev1.Event).InvolvedObject.Name}
		}).Build()
}

func ptr[T any](v T) *T { return &v }

func explainChecker(t *testing.T, reg *testRegistry, args ...string) (explainOptions, registry.Options) {
	t.Helper()
	o, err := parseExplainArgs(append(args, reg.flags()...))
	if err != nil {
		t.Fatal(err)
	}
	return o, o.Registry
}

func runExplainTest(t *testing.T, reg *testRegistry, c client.Reader, args ...string) []diagnosis {
	t.Helper()
	o, ropts := explainChecker(t, reg, args...)
	checker, err := registry.New(ropts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ds, err := runExplain(ctx, o, c, checker)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func TestExplainCauses(t *testing.T) {
	reg := newTestRegistry(t, "pub/app", "pub/arm")
	reg.push(t, "team/app:1.0", "pub/app:1.0")
	reg.pushIndex(t, "pub/arm:1.0", "linux/arm64")
	h := reg.host
	private, public := h+"/team/app:1.0", h+"/pub/app:1.0"

	cases := map[string]struct {
		pod         podSpec
		outcome     registry.Outcome
		nodeCause   nodeerror.Cause
		cause, fix  string
		noEvidences bool
	}{
		"tag a typo away": {
			pod: podSpec{image: h + "/team/app:1.O", secrets: []string{"regcred"}, ownerRS: "web-5d4f8",
				failure: ptr(failedPull(h+"/team/app:1.O", containerdErr(h+"/team/app:1.O", h+"/team/app:1.O: not found")))},
			outcome: registry.NotPullable, nodeCause: nodeerror.CauseNotFound,
			cause: `"1.O"`, fix: fmt.Sprintf("kubectl set image deploy/web app=%s/team/app:1.0 -n default", h),
		},
		"no pull secret for a private image": {
			pod: podSpec{image: private,
				failure: ptr(failedPull(private, containerdErr(private, "failed to authorize: failed to fetch anonymous token: unexpected status from GET request to https://"+h+"/token: 401 Unauthorized")))},
			outcome: registry.NotPullable, nodeCause: nodeerror.CauseUnauthorized,
			fix: "kubectl create secret docker-registry regcred --docker-server=" + h,
		},
		"no platform for the node": {
			pod: podSpec{image: h + "/pub/arm:1.0",
				failure: ptr(failedPull(h+"/pub/arm:1.0", `rpc error: code = NotFound desc = failed to pull and unpack image "`+h+`/pub/arm:1.0": no match for platform in manifest: not found`))},
			outcome: registry.NotPullable, nodeCause: nodeerror.CausePlatform, cause: "linux/amd64",
		},
		"invalid name": {
			pod: podSpec{image: h + "/Team/App:1.0", failure: &kubeletFailure{
				reason:  nodeerror.ReasonInvalidImageName,
				message: fmt.Sprintf(`Failed to apply default image tag %q: couldn't parse image reference %q: invalid reference format: repository name (Team/App) must be lowercase`, h+"/Team/App:1.0", h+"/Team/App:1.0"),
				events:  [][2]string{{nodeerror.EventInspectFailed, fmt.Sprintf(`Failed to apply default image tag %q: couldn't parse image reference %q: invalid reference format: repository name (Team/App) must be lowercase`, h+"/Team/App:1.0", h+"/Team/App:1.0")}},
			}},
			outcome: registry.NotPullable, nodeCause: nodeerror.CauseInvalidName, cause: "lowercase",
		},
		"never pull": {
			pod: podSpec{image: public, policy: corev1.PullNever, failure: &kubeletFailure{
				reason:  nodeerror.ReasonErrImageNeverPull,
				message: fmt.Sprintf("Container image %q is not present with pull policy of Never", public),
				events:  [][2]string{{nodeerror.EventErrImageNeverPull, fmt.Sprintf("Container image %q is not present with pull policy of Never", public)}},
			}},
			outcome: registry.Unverifiable, nodeCause: nodeerror.CauseNeverPull, fix: "pre-load the image",
		},
		"rate limit on the node's address": {
			pod:     podSpec{image: public, failure: ptr(failedPull(public, containerdErr(public, "unexpected status from HEAD request to https://"+h+"/v2/pub/app/manifests/1.0: 429 Too Many Requests")))},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseRateLimited, cause: "rate-limited the node's address",
		},
		"node DNS": {
			pod:     podSpec{image: public, failure: ptr(failedPull(public, containerdErr(public, `failed to do request: Head "https://`+h+`/v2/pub/app/manifests/1.0": dial tcp: lookup registry on 10.96.0.10:53: no such host`)))},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseDNS, cause: "node's DNS",
		},
		"node TLS trust": {
			pod:     podSpec{image: public, failure: ptr(failedPull(public, containerdErr(public, `failed to do request: Head "https://`+h+`/v2/pub/app/manifests/1.0": tls: failed to verify certificate: x509: certificate signed by unknown authority`)))},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseTLS, cause: "TLS",
		},
		"node network or recovered registry": {
			pod:     podSpec{image: public, failure: ptr(failedPull(public, containerdErr(public, `failed to do request: Head "https://`+h+`/v2/pub/app/manifests/1.0": dial tcp 10.0.0.5:443: connect: connection refused`)))},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseConnection, cause: "since recovered",
		},
		"node credentials refused, the secret works now": {
			pod: podSpec{image: private, secrets: []string{"regcred"},
				failure: ptr(failedPull(private, containerdErr(private, "pull access denied, repository does not exist or may require authorization: authorization failed")))},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseUnauthorized, cause: "credential provider",
		},
		"image pushed since": {
			pod:     podSpec{image: public, failure: ptr(failedPull(public, containerdErr(public, public+": not found")))},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseNotFound, cause: "pushed since", fix: "recreate the pod",
		},
		"running pod, predicted only": {
			pod:     podSpec{image: private, secrets: []string{"regcred"}},
			outcome: registry.Pullable, nodeCause: nodeerror.CauseUnknown, cause: "pulls with the pod's credentials for linux/amd64", noEvidences: true,
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			tc.pod.name = "p"
			c := explainCluster(t, reg, tc.pod)
			ds := runExplainTest(t, reg, c, "pod/p")
			if len(ds) != 1 {
				t.Fatalf("got %d diagnoses, want 1: %+v", len(ds), ds)
			}
			d := ds[0]
			var out bytes.Buffer
			if err := writeExplainText(&out, ds); err != nil {
				t.Fatal(err)
			}
			t.Log(out.String())
			if d.Outcome != tc.outcome || d.NodeCause != tc.nodeCause {
				t.Errorf("outcome %s, node cause %s; want %s, %s", d.Outcome, d.NodeCause, tc.outcome, tc.nodeCause)
			}
			if !strings.Contains(d.Cause, tc.cause) {
				t.Errorf("cause %q does not say %q", d.Cause, tc.cause)
			}
			if tc.fix != "" && !strings.Contains(strings.Join(d.Fix, "\n"), tc.fix) {
				t.Errorf("fix %q does not hold %q", d.Fix, tc.fix)
			}
			if got := len(d.Events) > 0; got == tc.noEvidences {
				t.Errorf("events %q", d.Events)
			}
			if strings.Contains(out.String(), "an-older-pod") || strings.Contains(out.String(), "lookup x") {
				t.Errorf("another pod's Event is shown as evidence:\n%s", out.String())
			}
			if strings.Contains(out.String(), testPassword) {
				t.Errorf("the output holds the password:\n%s", out.String())
			}
		})
	}
}

func TestExplainAllNamespacesAndDeployment(t *testing.T) {
	reg := newTestRegistry(t, "pub/app")
	reg.push(t, "pub/app:1.0")
	h := reg.host
	bad := h + "/pub/app:2.0"
	c := explainCluster(t, reg,
		podSpec{name: "web-5d4f8-a", image: bad, labels: map[string]string{"app": "web"}, ownerRS: "web-5d4f8",
			failure: ptr(failedPull(bad, containerdErr(bad, bad+": not found")))},
		podSpec{name: "web-5d4f8-b", image: h + "/pub/app:1.0", labels: map[string]string{"app": "web"}, ownerRS: "web-5d4f8"},
		podSpec{name: "other", image: h + "/pub/app:1.0", labels: map[string]string{"app": "other"}},
	)

	ds := runExplainTest(t, reg, c, "-A")
	if len(ds) != 1 || ds[0].Pod != "web-5d4f8-a" || ds[0].Outcome != registry.NotPullable {
		t.Fatalf("-A: %+v", ds)
	}
	var out bytes.Buffer
	if err := writeExplainTable(&out, ds); err != nil {
		t.Fatal(err)
	}
	t.Log(out.String())
	if !strings.HasPrefix(out.String(), "NAMESPACE") || !strings.Contains(out.String(), "web-5d4f8-a") {
		t.Errorf("table:\n%s", out.String())
	}

	ds = runExplainTest(t, reg, c, "deploy/web")
	if len(ds) != 2 || ds[0].Pod != "web-5d4f8-a" || ds[1].Pod != "web-5d4f8-b" || ds[0].Owner != "deploy/web" {
		t.Fatalf("deploy/web: %+v", ds)
	}
	if ds[1].Outcome != registry.Pullable || ds[1].Reason != "" {
		t.Errorf("the running pod: %+v", ds[1])
	}
}

func TestParseExplainArgs(t *testing.T) {
	cases := map[string]struct {
		args []string
		err  string
	}{
		"pod":            {args: []string{"pod/web", "-n", "prod"}},
		"deploy":         {args: []string{"deployment/web"}},
		"all":            {args: []string{"-A"}},
		"nothing":        {err: "nothing to explain"},
		"both":           {args: []string{"-A", "pod/x"}, err: "not both"},
		"other kind":     {args: []string{"svc/x"}, err: "not svc"},
		"no name":        {args: []string{"pod/"}, err: "is not pod/NAME"},
		"two targets":    {args: []string{"pod/a", "pod/b"}, err: "one pod/NAME"},
		"empty ns":       {args: []string{"pod/a", "-n", ""}, err: "--namespace"},
		"unknown flag":   {args: []string{"pod/a", "--nope"}, err: "unknown flag"},
		"zero timeout":   {args: []string{"pod/a", "--timeout=0s"}, err: "--timeout"},
		"bad kubeconfig": {args: []string{"pod/a", "--kubeconfig"}, err: "needs an argument"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			_, err := parseExplainArgs(tc.args)
			switch {
			case tc.err == "" && err != nil:
				t.Fatalf("unexpected error: %v", err)
			case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
				t.Fatalf("error %v, want %q", err, tc.err)
			}
		})
	}
}

func TestExplainMainUsage(t *testing.T) {
	cases := map[string]struct {
		args []string
		want int
		out  string
	}{
		"help":          {args: []string{"explain", "--help"}, want: exitOK, out: "--all-namespaces"},
		"no target":     {args: []string{"explain"}, want: exitUsage},
		"bad target":    {args: []string{"explain", "svc/x"}, want: exitUsage},
		"no kubeconfig": {args: []string{"explain", "pod/x", "--kubeconfig", "/nonexistent/kubeconfig"}, want: exitUsage},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if got := Main(context.Background(), tc.args, IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut}); got != tc.want {
				t.Fatalf("exit %d, want %d; stderr %s", got, tc.want, errOut.String())
			}
			if !strings.Contains(out.String(), tc.out) {
				t.Errorf("stdout %q does not hold %q", out.String(), tc.out)
			}
		})
	}
}
