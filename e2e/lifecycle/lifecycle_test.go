package lifecycle

import (
	"context"
	"strings"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"

	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/internal/testbed/bedtest"
	"github.com/pullguard/pullguard/pkg/admission"
)

// TestUpdatesWithoutImageChangesDoNotReachRegistry: rollout restart, scale, label and env edits
// are answered by the webhook without a registry request, even for an image whose tag has since
// been deleted; changing the image is checked again.
func TestUpdatesWithoutImageChangesDoNotReachRegistry(t *testing.T) {
	ns := namespace(t, "enforce-updates", admission.ModeEnforce)
	mustSucceed(t, deployment(t, ns, "web", bed.Images.Public), []string{"apply", "-f", "-"}, "deployment.apps/web created")
	mustSucceed(t, deployment(t, ns, "gone", bed.Images.ToDelete), []string{"apply", "-f", "-"}, "deployment.apps/gone created")
	if err := bed.Registry.DeleteTag(t.Context(), bed.Images.ToDelete, testbed.Pusher); err != nil {
		t.Fatal(err)
	}
	// A fresh webhook has an empty verdict cache: a re-check would have to ask the registry.
	restartWebhook(t)

	registryBefore := bed.Registry.Requests(testbed.RepoWeb)
	decisionsBefore := decisions(t)
	mustSucceed(t, nil, []string{"rollout", "restart", "deployment/web", "deployment/gone", "-n", ns},
		"deployment.apps/web restarted", "deployment.apps/gone restarted")
	mustSucceed(t, nil, []string{"scale", "deployment/web", "--replicas=3", "-n", ns}, "deployment.apps/web scaled")
	mustSucceed(t, nil, []string{"label", "deployment/gone", "tier=backend", "-n", ns}, "deployment.apps/gone labeled")
	mustSucceed(t, nil, []string{"set", "env", "deployment/gone", "MODE=restarted", "-n", ns}, "deployment.apps/gone env updated")
	if got := bed.Registry.Requests(testbed.RepoWeb); got != registryBefore {
		t.Errorf("updates that change no image reached the registry: before %+v, after %+v", registryBefore, got)
	}
	// rollout restart (2 deployments), label and set env are UPDATEs the webhook answers; the
	// scale subresource is not in the webhook's rules.
	if got := decisions(t) - decisionsBefore; got < 4 {
		t.Errorf("the webhook answered %v of the 4 updates; they did not all reach it", got)
	}

	res := kubectl(t, nil, "set", "image", "deployment/gone", "app="+bed.Images.TypoTag, "-n", ns)
	if res.ExitCode == 0 || !strings.Contains(res.Output, `tag "1.O" not found`) {
		t.Errorf("changing the image to a missing tag: want refused naming the tag, got exit %d:\n%s", res.ExitCode, res.Output)
	}
	res = kubectl(t, deployment(t, ns, "gone-again", bed.Images.ToDelete), "apply", "-f", "-")
	if res.ExitCode == 0 || !strings.Contains(res.Output, `tag "to-delete" not found`) {
		t.Errorf("a new deployment with the deleted tag: want refused, got exit %d:\n%s", res.ExitCode, res.Output)
	}
	if got := bed.Registry.Requests(testbed.RepoWeb); got.Manifests <= registryBefore.Manifests {
		t.Errorf("changed images were not checked at the registry: before %+v, after %+v", registryBefore, got)
	}
}

// TestWebhookDown: with the webhook stopped, the shipped failurePolicy (Ignore) admits; the
// enforce overlay's (Fail) refuses, except in the excluded namespaces, which proves the API
// server never calls the webhook for them.
func TestWebhookDown(t *testing.T) {
	ns := namespace(t, "enforce-down", admission.ModeEnforce)
	shipped := failurePolicy(t)
	if shipped != admissionregistrationv1.Ignore {
		t.Fatalf("manifests/base ships failurePolicy %s, want Ignore", shipped)
	}
	if err := bed.StopWebhook(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		// t.Context() is already cancelled when cleanups run.
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		setFailurePolicy(ctx, t, shipped)
		if err := bed.StartWebhook(ctx); err != nil {
			t.Error(err)
		}
	})

	mustSucceed(t, deployment(t, ns, "typo", bed.Images.TypoTag), []string{"apply", "--dry-run=server", "-f", "-"},
		"deployment.apps/typo created (server dry run)")

	setFailurePolicy(t.Context(), t, overlayFailurePolicy(t))
	var res testbed.KubectlResult
	deadline := time.Now().Add(15 * time.Second)
	for time.Now().Before(deadline) {
		res = kubectl(t, deployment(t, ns, "typo", bed.Images.TypoTag), "apply", "--dry-run=server", "-f", "-")
		if res.ExitCode != 0 {
			break
		}
		time.Sleep(300 * time.Millisecond)
	}
	if res.ExitCode == 0 || !strings.Contains(res.Output, `failed calling webhook "`+testbed.WebhookName+`"`) {
		t.Errorf("failurePolicy Fail with the webhook down: want refused with failed calling webhook, got exit %d:\n%s", res.ExitCode, res.Output)
	}

	for _, excluded := range []string{"kube-system", "kube-node-lease", bed.Deployed.Namespace} {
		mustSucceed(t, bedtest.Pod(t, excluded, "typo", bedtest.Restricted(testbed.PodSpec(bed.Images.TypoTag))),
			[]string{"apply", "--dry-run=server", "-f", "-"}, "pod/typo created (server dry run)")
	}
}

func failurePolicy(t *testing.T) admissionregistrationv1.FailurePolicyType {
	t.Helper()
	vwc, err := bed.Client.AdmissionregistrationV1().ValidatingWebhookConfigurations().Get(t.Context(), testbed.WebhookConfigurationName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return *vwc.Webhooks[0].FailurePolicy
}

// overlayFailurePolicy renders manifests/overlays/enforce with the real kubectl and returns the
// failurePolicy it ships.
func overlayFailurePolicy(t *testing.T) admissionregistrationv1.FailurePolicyType {
	t.Helper()
	res, err := bed.Kubectl.Run(t.Context(), nil, "kustomize", bed.Root+"/manifests/overlays/enforce")
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("kubectl kustomize manifests/overlays/enforce: exit %d:\n%s", res.ExitCode, res.Output)
	}
	for _, doc := range strings.Split(res.Stdout, "\n---\n") {
		var vwc admissionregistrationv1.ValidatingWebhookConfiguration
		if err := yaml.Unmarshal([]byte(doc), &vwc); err != nil {
			t.Fatal(err)
		}
		if vwc.Kind == "ValidatingWebhookConfiguration" && len(vwc.Webhooks) > 0 && vwc.Webhooks[0].FailurePolicy != nil {
			return *vwc.Webhooks[0].FailurePolicy
		}
	}
	t.Fatal("manifests/overlays/enforce renders no ValidatingWebhookConfiguration with a failurePolicy")
	return ""
}

func setFailurePolicy(ctx context.Context, t *testing.T, p admissionregistrationv1.FailurePolicyType) {
	t.Helper()
	patch := `[{"op":"replace","path":"/webhooks/0/failurePolicy","value":"` + string(p) + `"}]`
	res, err := bed.Kubectl.Run(ctx, nil, "patch", "validatingwebhookconfiguration", testbed.WebhookConfigurationName, "--type=json", "-p", patch)
	if err != nil {
		t.Fatal(err)
	}
	if res.ExitCode != 0 {
		t.Fatalf("setting failurePolicy %s: exit %d:\n%s", p, res.ExitCode, res.Output)
	}
}
