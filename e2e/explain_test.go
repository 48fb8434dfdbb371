package e2e

import (
	"bytes"
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/cmd/pullguard/app"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
)

// TestExplain runs `pullguard explain` against the bed's API server on pods a warn namespace
// admitted with a warning, whose status and Events are written as the kubelet writes them
// (testbed.FailPull), the runtime's text being containerd's. It runs as a user bound to the README's pullguard-explain ClusterRole
// (manifests/cli/rbac.yaml) and nothing more.
func TestExplain(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "explain", admission.ModeWarn)
	kubeconfig := rbacUser(t, "pullguard-explain")
	ctx := t.Context()
	cases := map[string]struct {
		image, runtimeErr string
		want              []string
	}{
		"typo tag": {
			image:      bed.Images.TypoTag,
			runtimeErr: testbed.ContainerdNotFound(bed.Images.TypoTag),
			want:       []string{"not_pullable", "kubectl set image pod/typo-tag app=" + bed.Images.Public},
		},
		"rate limit on the node": {
			image:      bed.Images.Public,
			runtimeErr: fmt.Sprintf("rpc error: code = Unknown desc = failed to pull and unpack image %q: failed to resolve reference %q: unexpected status from HEAD request to https://%s/v2/x/manifests/1.0: 429 Too Many Requests", bed.Images.Public, bed.Images.Public, bed.Registry.Host),
			want:       []string{"pullable", "rate-limited the node's address"},
		},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			podName := strings.ReplaceAll(name, " ", "-")
			pod, err := bed.Client.CoreV1().Pods(ns).Create(ctx, &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: podName},
				Spec: corev1.PodSpec{
					NodeName:   "node-amd64-a",
					Containers: []corev1.Container{{Name: "app", Image: tc.image}},
				},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if err := testbed.FailPull(ctx, bed.Client, pod, "app", tc.runtimeErr); err != nil {
				t.Fatal(err)
			}

			var out, errOut bytes.Buffer
			code := app.Main(ctx, []string{"explain", "pod/" + podName, "-n", ns,
				"--kubeconfig", kubeconfig,
				"--allow-private-registries=127.0.0.1,localhost", "--registry-ca-file=" + bed.LoopbackCAFile(),
			}, app.IO{In: strings.NewReader(""), Out: &out, ErrOut: &errOut})
			t.Logf("$ pullguard explain pod/%s -n %s\n%s%s[exit %d]", podName, ns, out.String(), errOut.String(), code)
			if code != 1 {
				t.Errorf("exit %d, want 1 (a container waits on its image)", code)
			}
			for _, w := range append(tc.want, "kubelet:  Failed to pull image", "platform: linux/amd64") {
				if !strings.Contains(out.String(), w) {
					t.Errorf("output does not hold %q", w)
				}
			}
		})
	}
}
