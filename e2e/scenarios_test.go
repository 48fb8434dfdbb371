package e2e

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
	"github.com/pullguard/pullguard/internal/testregistry"
	"github.com/pullguard/pullguard/pkg/admission"
)

func TestTypoTagWarnNamespaceDryRun(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "warn-typo", admission.ModeWarn)

	res := kubectl(t, bedtest.Deployment(t, ns, "web", testbed.PodSpec(bed.Images.TypoTag)), "apply", "--dry-run=server", "-f", "-")
	expect{contains: []string{
		warning + templateImage + ": pullguard: " + tag("1.O"),
		testbed.RepoWeb,
		"deployment.apps/web created (server dry run)",
	}}.check(t, res)

	res = kubectl(t, nil, "get", "deployment", "web", "-n", ns)
	expect{refused: true, contains: []string{"NotFound"}}.check(t, res)
}

func TestTypoTagEnforceNamespace(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "enforce-typo", admission.ModeEnforce)

	for _, dryRun := range []string{"--dry-run=server", "--dry-run=none"} {
		res := kubectl(t, bedtest.Deployment(t, ns, "web", testbed.PodSpec(bed.Images.TypoTag)), "apply", dryRun, "-f", "-")
		expect{refused: true, contains: []string{invalid("Deployment", "web") + templateImage, tag("1.O"), testbed.RepoWeb, `did you mean "1.0"?`}}.check(t, res)
	}
	res := kubectl(t, nil, "get", "deployment", "web", "-n", ns)
	expect{refused: true, contains: []string{"NotFound"}}.check(t, res)

	res = kubectl(t, bedtest.Deployment(t, ns, "web", testbed.PodSpec(bed.Images.Public)), "apply", "-f", "-")
	expect{contains: []string{"deployment.apps/web created"}, absent: []string{warning}}.check(t, res)
	res = kubectl(t, nil, "get", "deployment", "web", "-n", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}")
	expect{contains: []string{bed.Images.Public}}.check(t, res)
}

// TestKubectlCreateCommands covers the other kinds through the commands users type, each
// refused naming the field path of its kind. `kubectl create` prints the API server's status
// message (with the webhook's name); `kubectl run` and `apply` print the causes of a 422.
func TestKubectlCreateCommands(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "enforce-kinds", admission.ModeEnforce)
	image := "--image=" + bed.Images.TypoTag
	createDenied := `admission webhook "` + testbed.WebhookName + `" denied the request: `
	tests := map[string]struct {
		args []string
		want string
	}{
		"run pod": {
			args: []string{"run", "web", image},
			want: invalid("Pod", "web") + containerImage,
		},
		"create deployment": {
			args: []string{"create", "deployment", "web", image},
			want: createDenied + `Deployment.apps "web" is invalid: ` + templateImage,
		},
		"create job": {
			args: []string{"create", "job", "web", image},
			want: createDenied + `Job.batch "web" is invalid: spec.template.spec.containers[0].image`,
		},
		"create cronjob": {
			args: []string{"create", "cronjob", "web", image, "--schedule=*/5 * * * *"},
			want: createDenied + `CronJob.batch "web" is invalid: spec.jobTemplate.spec.template.spec.containers[0].image`,
		},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			res := kubectl(t, nil, append(tc.args, "-n", ns, "--dry-run=server")...)
			expect{refused: true, contains: []string{tc.want + ": Invalid value", tag("1.O")}}.check(t, res)
		})
	}
}

func TestPrivateImageTokenAuth(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "enforce-private", admission.ModeEnforce)
	private := bed.Images.Private

	t.Run("no pull secret", func(t *testing.T) {
		res := kubectl(t, bedtest.Pod(t, ns, "no-secret", testbed.PodSpec(private)), "apply", "-f", "-")
		expect{refused: true, contains: []string{invalid("Pod", "no-secret") + containerImage, testbed.RepoPrivate}}.check(t, res)
	})

	createPullSecret(t, ns, "regcred", bed.Registry.Host, testbed.Reader)

	t.Run("pod-level pull secret", func(t *testing.T) {
		spec := testbed.PodSpec(private)
		spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		res := kubectl(t, bedtest.Pod(t, ns, "pod-secret", spec), "apply", "-f", "-")
		expect{contains: []string{"pod/pod-secret created"}, absent: []string{warning}}.check(t, res)
	})

	kubectl(t, nil, "create", "serviceaccount", "builder", "-n", ns)
	res := kubectl(t, nil, "patch", "serviceaccount", "builder", "-n", ns, "-p", `{"imagePullSecrets":[{"name":"regcred"}]}`)
	expect{contains: []string{"serviceaccount/builder patched"}}.check(t, res)

	t.Run("deployment through its service account", func(t *testing.T) {
		spec := testbed.PodSpec(private)
		spec.ServiceAccountName = "builder"
		res := kubectl(t, bedtest.Deployment(t, ns, "api", spec), "apply", "-f", "-")
		expect{contains: []string{"deployment.apps/api created"}, absent: []string{warning}}.check(t, res)
	})

	t.Run("deployment with the default service account", func(t *testing.T) {
		res := kubectl(t, bedtest.Deployment(t, ns, "api-default-sa", testbed.PodSpec(private)), "apply", "-f", "-")
		expect{refused: true, contains: []string{invalid("Deployment", "api-default-sa") + templateImage, testbed.RepoPrivate}}.check(t, res)
	})

	// The ServiceAccount admission plugin copies the account's pull secrets into a pod that has
	// none, before any webhook sees it.
	t.Run("pod through its service account", func(t *testing.T) {
		spec := testbed.PodSpec(private)
		spec.ServiceAccountName = "builder"
		res := kubectl(t, bedtest.Pod(t, ns, "pod-sa", spec), "apply", "-f", "-")
		expect{contains: []string{"pod/pod-sa created"}, absent: []string{warning}}.check(t, res)
	})

	t.Run("secret from another namespace never helps", func(t *testing.T) {
		other := namespace(t, "enforce-private-other", admission.ModeEnforce)
		spec := testbed.PodSpec(private)
		spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: "regcred"}}
		res := kubectl(t, bedtest.Pod(t, other, "borrowed-secret", spec), "apply", "-f", "-")
		expect{refused: true, contains: []string{
			warning + `spec.imagePullSecrets: pullguard: imagePullSecret "regcred" not found in namespace "` + other + `"`,
			invalid("Pod", "borrowed-secret") + containerImage, testbed.RepoPrivate,
		}}.check(t, res)

		spec.ImagePullSecrets = nil
		spec.ServiceAccountName = "builder"
		kubectl(t, nil, "create", "serviceaccount", "builder", "-n", other)
		res = kubectl(t, bedtest.Deployment(t, other, "borrowed-sa-name", spec), "apply", "-f", "-")
		expect{refused: true, contains: []string{invalid("Deployment", "borrowed-sa-name") + templateImage, testbed.RepoPrivate}}.check(t, res)
	})
}

func TestPrivateImageBasicAuth(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "enforce-basic", admission.ModeEnforce)
	createPullSecret(t, ns, "good", bed.BasicRegistry.Host, testbed.Reader)
	createPullSecret(t, ns, "wrong-password", bed.BasicRegistry.Host, testbed.Account{Username: testbed.Reader.Username, Password: "not-the-password"})

	tests := map[string]struct {
		secret  string
		refused bool
	}{
		"no pull secret": {refused: true},
		"right password": {secret: "good"},
		"wrong password": {secret: "wrong-password", refused: true},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			spec := testbed.PodSpec(bed.BasicImages.Private)
			podName := strings.ReplaceAll(name, " ", "-")
			if tc.secret != "" {
				spec.ImagePullSecrets = []corev1.LocalObjectReference{{Name: tc.secret}}
			}
			res := kubectl(t, bedtest.Pod(t, ns, podName, spec), "apply", "--dry-run=server", "-f", "-")
			if tc.refused {
				expect{refused: true, contains: []string{invalid("Pod", podName) + containerImage, testbed.RepoPrivate}}.check(t, res)
				return
			}
			expect{contains: []string{"pod/" + podName + " created (server dry run)"}, absent: []string{warning}}.check(t, res)
		})
	}
}

// createPullSecret creates a kubernetes.io/dockerconfigjson secret the way users do.
func createPullSecret(t *testing.T, ns, name, server string, a testbed.Account) {
	t.Helper()
	res := kubectl(t, nil, "create", "secret", "docker-registry", name, "-n", ns,
		"--docker-server="+server, "--docker-username="+a.Username, "--docker-password="+a.Password)
	expect{contains: []string{"secret/" + name + " created"}}.check(t, res)
}

// TestPlatforms: the bed's schedulable nodes are linux/amd64; its arm64 node carries a
// NoSchedule taint. A nodeSelector on kubernetes.io/arch replaces the nodes as the candidate
// platforms (what the scheduler would do), so the arm64-only image is admitted with it: the pod
// would wait for a node it can use, a scheduling matter, not a pull failure. A pod that tolerates
// the taint may land on either architecture, so the arm64-only image is a warning, not a refusal.
func TestPlatforms(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "enforce-platform", admission.ModeEnforce)

	res := kubectl(t, bedtest.Deployment(t, ns, "arm-only", testbed.PodSpec(bed.Images.ARM64Only)), "apply", "--dry-run=server", "-f", "-")
	expect{refused: true, contains: []string{invalid("Deployment", "arm-only") + templateImage, testbed.RepoARM64Only, "linux/amd64"}}.check(t, res)

	spec := testbed.PodSpec(bed.Images.ARM64Only)
	spec.NodeSelector = map[string]string{corev1.LabelArchStable: "arm64"}
	res = kubectl(t, bedtest.Deployment(t, ns, "arm-only-selector", spec), "apply", "--dry-run=server", "-f", "-")
	expect{contains: []string{"deployment.apps/arm-only-selector created (server dry run)"}, absent: []string{warning}}.check(t, res)

	spec = testbed.PodSpec(bed.Images.ARM64Only)
	spec.Tolerations = []corev1.Toleration{{Key: testbed.ARM64Taint.Key, Operator: corev1.TolerationOpEqual, Value: testbed.ARM64Taint.Value, Effect: testbed.ARM64Taint.Effect}}
	res = kubectl(t, bedtest.Deployment(t, ns, "arm-only-tolerated", spec), "apply", "--dry-run=server", "-f", "-")
	expect{contains: []string{"deployment.apps/arm-only-tolerated created (server dry run)",
		warning + templateImage + ": pullguard: ", "no linux/amd64 manifest", "kubernetes.io/arch"}}.check(t, res)

	// A single-platform arm64 image pulls on amd64 nodes and then crashes: a warning, even in
	// enforce mode, since it is no ImagePullBackOff.
	res = kubectl(t, bedtest.Deployment(t, ns, "arm-single", testbed.PodSpec(bed.Images.ARM64Image)), "apply", "--dry-run=server", "-f", "-")
	expect{contains: []string{"deployment.apps/arm-single created (server dry run)",
		warning + templateImage + ": pullguard: image is built for linux/arm64/v8 only but the candidate nodes are linux/amd64", "exec format error"}}.check(t, res)

	res = kubectl(t, bedtest.Deployment(t, ns, "multi", testbed.PodSpec(bed.Images.Multi)), "apply", "--dry-run=server", "-f", "-")
	expect{contains: []string{"deployment.apps/multi created (server dry run)"}, absent: []string{warning}}.check(t, res)
}

func TestAuditModeAnnotations(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "audit", admission.ModeAudit)

	res := kubectl(t, bedtest.Deployment(t, ns, "web", testbed.PodSpec(bed.Images.TypoTag)), "apply", "-f", "-")
	expect{contains: []string{"deployment.apps/web created"}, absent: []string{warning}}.check(t, res)

	prefix := testbed.WebhookName + "/"
	var annotations map[string]string
	deadline := time.Now().Add(15 * time.Second)
	for annotations == nil && time.Now().Before(deadline) {
		events, err := bed.ControlPlane.AuditEvents()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range events {
			if ev.ObjectRef != nil && ev.ObjectRef.Namespace == ns && ev.ObjectRef.Resource == "deployments" &&
				ev.Verb == "create" && ev.Annotations[prefix+"mode"] != "" {
				annotations = ev.Annotations
			}
		}
		time.Sleep(200 * time.Millisecond)
	}
	if annotations == nil {
		t.Fatalf("no audit event for the deployment create in %s carries %s* annotations", ns, prefix)
	}
	t.Logf("audit annotations: %v", annotations)
	if got := annotations[prefix+"mode"]; got != string(admission.ModeAudit) {
		t.Errorf("annotation %smode = %q, want %q", prefix, got, admission.ModeAudit)
	}
	if got := annotations[prefix+"image-0"]; !strings.Contains(got, templateImage) || !strings.Contains(got, "1.O") {
		t.Errorf("annotation %simage-0 = %q, want the field path and the tag", prefix, got)
	}
}

func TestEphemeralContainers(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "enforce-debug", admission.ModeEnforce)
	res := kubectl(t, bedtest.Pod(t, ns, "app", testbed.PodSpec(bed.Images.Public)), "apply", "-f", "-")
	expect{contains: []string{"pod/app created"}}.check(t, res)

	res = kubectl(t, nil, "debug", "pod/app", "-n", ns, "--image="+bed.Images.TypoTag, "--container=debugger")
	expect{refused: true, contains: []string{invalid("Pod", "app") + "spec.ephemeralContainers[0].image", tag("1.O")}}.check(t, res)

	res = kubectl(t, nil, "debug", "pod/app", "-n", ns, "--image="+bed.Images.Public, "--container=debugger")
	expect{absent: []string{warning}}.check(t, res)
	res = kubectl(t, nil, "get", "pod", "app", "-n", ns, "-o", "jsonpath={.spec.ephemeralContainers[0].image}")
	expect{contains: []string{bed.Images.Public}}.check(t, res)
}

// TestRegistryOutage: an unreachable registry is the webhook's decision, made within its own
// budget (allowed with a warning by default), never an API-server call timeout: with
// failurePolicy Ignore a timeout would admit silently, so the warning proves who answered.
func TestRegistryOutage(t *testing.T) {
	t.Parallel()
	budget := webhookTimeout(t)

	stopped, stoppedImages, err := bed.StartRegistry(t.Context(), testbed.AuthToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := stopped.Stop(); err != nil {
		t.Fatal(err)
	}
	hanging, err := testregistry.NewSilent()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hanging.Close)

	tests := map[string]struct {
		host  string
		image string
	}{
		"registry stopped": {host: stopped.Host, image: stoppedImages.Public},
		"registry hanging": {host: hanging.Addr, image: hanging.Addr + "/" + testbed.RepoWeb + ":1.0"},
	}
	for name, tc := range tests {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			ns := namespace(t, "enforce-outage", admission.ModeEnforce)
			res := kubectl(t, bedtest.Deployment(t, ns, "web", testbed.PodSpec(tc.image)), "apply", "-f", "-")
			expect{
				contains: []string{warning + templateImage, tc.host, "deployment.apps/web created"},
				absent:   []string{"failed calling webhook", "deadline exceeded"},
			}.check(t, res)
			if res.Duration >= budget {
				t.Errorf("kubectl took %s, not within the webhook's timeoutSeconds (%s)", res.Duration, budget)
			}
		})
	}
	t.Cleanup(func() {
		if n := hanging.Accepted(); n == 0 {
			t.Errorf("the webhook never connected to the hanging registry")
		}
	})
}

// webhookTimeout is the shipped timeoutSeconds.
func webhookTimeout(t *testing.T) time.Duration {
	t.Helper()
	vwc, err := bed.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), testbed.WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(vwc.Webhooks) == 0 || vwc.Webhooks[0].TimeoutSeconds == nil {
		t.Fatalf("webhook configuration %s has no timeoutSeconds", vwc.Name)
	}
	return time.Duration(*vwc.Webhooks[0].TimeoutSeconds) * time.Second
}

// TestExcludedNamespaces: the shipped namespaceSelector keeps the API server from calling the
// webhook for these namespaces even when they are labelled enforce. (e2e/lifecycle proves the
// call is never made, with the webhook down and failurePolicy Fail.)
func TestExcludedNamespaces(t *testing.T) {
	t.Parallel()
	for _, ns := range []string{"kube-system", "kube-node-lease", bed.Deployed.Namespace} {
		t.Run(ns, func(t *testing.T) {
			kubectl(t, nil, "label", "namespace", ns, admission.ModeLabel+"="+string(admission.ModeEnforce), "--overwrite")
			res := kubectl(t, bedtest.Pod(t, ns, "typo", bedtest.Restricted(testbed.PodSpec(bed.Images.TypoTag))), "apply", "--dry-run=server", "-f", "-")
			expect{contains: []string{"pod/typo created (server dry run)"}, absent: []string{warning}}.check(t, res)
		})
	}
}

func TestDefaultModeIsWarn(t *testing.T) {
	t.Parallel()
	ns := namespace(t, "unlabelled", "")
	res := kubectl(t, bedtest.Deployment(t, ns, "web", testbed.PodSpec(bed.Images.TypoTag)), "apply", "--dry-run=server", "-f", "-")
	expect{contains: []string{warning + templateImage, tag("1.O"), "created (server dry run)"}}.check(t, res)
}
