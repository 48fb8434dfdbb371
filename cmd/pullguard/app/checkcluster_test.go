package app

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"sigs.k8s.io/controller-runtime/pkg/client"
	"sigs.k8s.io/controller-runtime/pkg/client/fake"
	"sigs.k8s.io/controller-runtime/pkg/client/interceptor"
)

// readLog records what check asked the cluster: GETs by kind/namespace/name, Lists by type.
type readLog struct {
	mu    sync.Mutex
	gets  map[string]int
	lists []string
}

func (l *readLog) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.gets[key]
}

// checkCluster is a fake cluster with a pull secret for the test registry in namespace team,
// a ServiceAccount that carries it, and one linux/amd64 Node.
func checkCluster(t *testing.T, reg *testRegistry) (client.Reader, *readLog) {
	t.Helper()
	scheme := runtime.NewScheme()
	if err := corev1.AddToScheme(scheme); err != nil {
		t.Fatal(err)
	}
	auth := base64.StdEncoding.EncodeToString([]byte(testUser + ":" + testPassword))
	objs := []client.Object{
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-amd64", Labels: map[string]string{corev1.LabelOSStable: "linux", corev1.LabelArchStable: "amd64"}}},
		&corev1.Secret{
			ObjectMeta: metav1.ObjectMeta{Name: "regcred", Namespace: "team"},
			Type:       corev1.SecretTypeDockerConfigJson,
			Data:       map[string][]byte{corev1.DockerConfigJsonKey: fmt.Appendf(nil, `{"auths":{%q:{"auth":%q}}}`, reg.host, auth)},
		},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder", Namespace: "team"}, ImagePullSecrets: []corev1.LocalObjectReference{{Name: "regcred"}}},
		&corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "default", Namespace: "team"}},
	}
	log := &readLog{gets: map[string]int{}}
	c := fake.NewClientBuilder().WithScheme(scheme).WithObjects(objs...).WithInterceptorFuncs(interceptor.Funcs{
		Get: func(ctx context.Context, c client.WithWatch, key client.ObjectKey, obj client.Object, opts ...client.GetOption) error {
			log.mu.Lock()
			log.gets[fmt.Sprintf("%T %s", obj, key)]++
			log.mu.Unlock()
			return c.Get(ctx, key, obj, opts...)
		},
		List: func(ctx context.Context, c client.WithWatch, list client.ObjectList, opts ...client.ListOption) error {
			log.mu.Lock()
			log.lists = append(log.lists, fmt.Sprintf("%T", list))
			log.mu.Unlock()
			return c.List(ctx, list, opts...)
		},
	}).Build()
	return c, log
}

// runCluster runs check with the fake cluster standing in for --kubeconfig.
func runCluster(t *testing.T, cluster client.Reader, stdin string, args ...string) (int, string) {
	t.Helper()
	o, err := parseCheckArgs(append([]string{"-f", "-"}, args...))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code := checkAndReport(t.Context(), o, IO{In: strings.NewReader(stdin), Out: &out, ErrOut: &out}, cluster)
	return code, out.String()
}

func TestCheckWithCluster(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "private/api:1.0")
	reg.pushIndex(t, "private/arm64-only:1.0", "linux/arm64")
	image := reg.host + "/private/api:1.0"
	inTeam := func(doc string) string {
		return strings.Replace(doc, "metadata:\n", "metadata:\n  namespace: team\n", 1)
	}
	wrongSecret := strings.Replace(reg.pullSecretYAML("regcred"), base64.StdEncoding.EncodeToString([]byte(testUser+":"+testPassword)),
		base64.StdEncoding.EncodeToString([]byte(testUser+":not-the-password")), 1)
	cases := map[string]struct {
		docs []string
		code int
		want []string
	}{
		"the cluster's ServiceAccount and its secret": {
			docs: []string{inTeam(deploymentYAML("api", image, "      serviceAccountName: builder\n"))},
			code: exitOK,
			want: []string{`[checked with imagePullSecret "regcred"`, "pullguard: read from the cluster: Secret team/regcred, ServiceAccount team/builder", "1 pullable"},
		},
		"a secret in neither: the kubelet pulls without it": {
			docs: []string{inTeam(deploymentYAML("api", image, "      imagePullSecrets: [{name: missing}]\n"))},
			code: exitNotPullable,
			want: []string{`imagePullSecret "missing" not found in namespace "team"; the kubelet will pull without it`, "[checked with anonymous]", "Secret team/missing (not found)"},
		},
		"the input's secret wins over the cluster's": {
			docs: []string{inTeam(wrongSecret), inTeam(deploymentYAML("api", image, "      imagePullSecrets: [{name: regcred}]\n"))},
			code: exitNotPullable,
			want: []string{`refused imagePullSecret "regcred"`, "1 not pullable"},
		},
		"the cluster's default ServiceAccount has no secrets: known, not unverifiable": {
			docs: []string{inTeam(deploymentYAML("api", image))},
			code: exitNotPullable,
			want: []string{"[checked with anonymous]", "ServiceAccount team/default"},
		},
		"platforms from the cluster's Nodes": {
			docs: []string{inTeam(deploymentYAML("api", reg.host+"/private/arm64-only:1.0", "      serviceAccountName: builder\n"))},
			code: exitNotPullable,
			want: []string{"image has no linux/amd64 manifest"},
		},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			cluster, log := checkCluster(t, reg)
			code, out := runCluster(t, cluster, strings.Join(c.docs, "---\n"), append(reg.flags(), "-v")...)
			if code != c.code {
				t.Errorf("exit %d, want %d\n%s", code, c.code, out)
			}
			for _, w := range c.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
			if strings.Contains(out, "platforms not checked") {
				t.Errorf("the cluster's Nodes were not used for platforms:\n%s", out)
			}
			if strings.Contains(out, testPassword) {
				t.Errorf("a credential was printed:\n%s", out)
			}
			for _, l := range log.lists {
				if l != "*v1.NodeList" {
					t.Errorf("check listed %s; it reads only Nodes by list, everything else by name", l)
				}
			}
		})
	}
}

// TestCheckWithClusterReadsOnce: many workloads of one namespace read its ServiceAccount and
// secret once, and Nodes are listed once.
func TestCheckWithClusterReadsOnce(t *testing.T) {
	reg := newTestRegistry(t)
	reg.push(t, "private/api:1.0")
	var docs []string
	for i := range 20 {
		docs = append(docs, strings.Replace(deploymentYAML(fmt.Sprintf("api%d", i), reg.host+"/private/api:1.0", "      serviceAccountName: builder\n"), "metadata:\n", "metadata:\n  namespace: team\n", 1))
	}
	cluster, log := checkCluster(t, reg)
	code, out := runCluster(t, cluster, strings.Join(docs, "---\n"), reg.flags()...)
	if code != exitOK || !strings.Contains(out, "20 images: 20 pullable") {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if n := log.count("*v1.Secret team/regcred"); n != 1 {
		t.Errorf("%d GETs of the secret, want 1", n)
	}
	if n := log.count("*v1.ServiceAccount team/builder"); n != 1 {
		t.Errorf("%d GETs of the ServiceAccount, want 1", n)
	}
	if len(log.lists) != 1 {
		t.Errorf("lists: %q, want one of Nodes", log.lists)
	}
}
