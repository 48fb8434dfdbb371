package app

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/pullguard/pullguard/pkg/nodeerror"
	"github.com/pullguard/pullguard/pkg/registry"
	"github.com/pullguard/pullguard/pkg/registry/reference"
)

// diagnose words what the registry answered now against what the node said, and the fix as
// commands where one fits. The engine's verdict decides when it is definite; when the image
// pulls now and the node failed, the node's own text says which side the failure is on.
func diagnose(d *diagnosis, pod *corev1.Pod) (cause string, fix []string) {
	retry := fmt.Sprintf("kubectl delete pod %s -n %s   # retry now; its controller recreates it (else the kubelet retries with back-off)", d.Pod, d.Namespace)
	if strings.HasPrefix(d.Owner, "pod/") {
		// A bare pod is gone once deleted: the kubelet's back-off retry is the way.
		retry = "wait for the kubelet's next retry (back-off up to 5 minutes), or recreate the pod"
	}
	switch d.Outcome {
	case registry.NotPullable:
		// The engine's Detail is the cause; its Fix becomes the fix lines.
		cause = d.EngineMessage
		if d.Verdict.Detail != "" {
			cause = d.Verdict.Detail
		}
		return cause, notPullableFix(d, pod)
	case registry.Pullable:
		if d.Reason == "" {
			return "the image pulls with the pod's credentials" + onPlatforms(d), nil
		}
		return pullsNow(d, retry)
	}
	// Unverifiable: the engine cannot tell; the node's text is the best evidence there is.
	cause = d.EngineMessage
	switch {
	case d.NodeCause == nodeerror.CauseNeverPull:
		return d.NodeCause.Describe(), []string{"pre-load the image on the node, or set imagePullPolicy: IfNotPresent"}
	case d.Reason != "":
		cause = d.NodeCause.Describe() + "; " + d.EngineMessage
	}
	return cause, nil
}

func onPlatforms(d *diagnosis) string {
	if d.Platforms == "" {
		return ""
	}
	return " for " + d.Platforms
}

// pullsNow is the explanation of a failure the registry does not reproduce: the node's side.
func pullsNow(d *diagnosis, retry string) (string, []string) {
	now := "the image pulls now with the pod's credentials" + onPlatforms(d) + ", but the node failed: "
	switch d.NodeCause {
	case nodeerror.CauseDNS:
		return now + "the node's DNS did not resolve the registry (node side: its resolver, or a registry mirror the node is configured with)",
			[]string{"check the node's resolver and containerd's registry host configuration (hosts.toml) for the registry", retry}
	case nodeerror.CauseTLS:
		return now + "the node did not accept the registry's TLS (node side: the node's CA bundle, or a mirror the node is configured with)",
			[]string{"install the registry's CA on the node (containerd hosts.toml ca = ...), or fix the mirror's certificate", retry}
	case nodeerror.CauseConnection:
		return now + "the node could not connect (node side: its network, egress firewall, proxy or mirror; or the registry has since recovered)",
			[]string{"check the node's route to the registry (egress policy, proxy, mirror)", retry}
	case nodeerror.CauseUnauthorized:
		return now + "the node's credentials were refused (node side: a node credential provider or the node's containerd config sent other credentials, or the pull secret was fixed since)",
			[]string{"check the kubelet's image credential provider and containerd's registry auth on the node", retry}
	case nodeerror.CauseRateLimited:
		return now + "the registry rate-limited the node's address (registries count pulls per client address; this check was not limited)",
			[]string{"pull with an authenticated pull secret or through a pull-through mirror, so the node's address is not rate-limited", retry}
	case nodeerror.CauseNotFound, nodeerror.CausePlatform:
		return now + "the image has been pushed since the node tried", []string{retry}
	case nodeerror.CauseNeverPull:
		return now + "imagePullPolicy is Never and the image is not on the node",
			[]string{"pre-load the image on the node, or set imagePullPolicy: IfNotPresent"}
	}
	return now + "the registry has since recovered, or the node's side failed (" + d.NodeCause.Describe() + ")", []string{retry}
}

// notPullableFix turns the engine's fix into commands where one fits.
func notPullableFix(d *diagnosis, pod *corev1.Pod) []string {
	v := d.Verdict
	ref, err := reference.Parse(d.Image)
	if err != nil {
		return fixText(v)
	}
	switch v.Class {
	case registry.ClassTagNotFound:
		var out []string
		for _, t := range v.SimilarTags {
			out = append(out, fmt.Sprintf("kubectl set image %s %s=%s -n %s", d.Owner, d.Container, withTag(ref, t), d.Namespace))
		}
		if len(out) > 0 {
			return out
		}
	case registry.ClassUnauthorized, registry.ClassRepositoryNotFound:
		if len(pod.Spec.ImagePullSecrets) > 0 {
			break
		}
		// No pull secret at all: create one and give it to the ServiceAccount, whose secrets
		// the API server copies into every new pod.
		sa := pod.Spec.ServiceAccountName
		if sa == "" {
			sa = "default"
		}
		out := []string{
			fmt.Sprintf("kubectl create secret docker-registry regcred --docker-server=%s --docker-username=USER --docker-password=PASSWORD -n %s", ref.Domain, d.Namespace),
			fmt.Sprintf(`kubectl patch serviceaccount %s -n %s -p '{"imagePullSecrets":[{"name":"regcred"}]}'`, sa, d.Namespace),
		}
		if strings.HasPrefix(d.Owner, "pod/") {
			return append(out, "recreate the pod: its imagePullSecrets were set when it was admitted")
		}
		return append(out, fmt.Sprintf("kubectl rollout restart %s -n %s   # new pods get the ServiceAccount's secret", d.Owner, d.Namespace))
	case registry.ClassCredentialsRejected, registry.ClassForbidden:
		name := "SECRET"
		if len(pod.Spec.ImagePullSecrets) == 1 {
			name = pod.Spec.ImagePullSecrets[0].Name
		}
		return append(fixText(v), fmt.Sprintf("kubectl create secret docker-registry %s --docker-server=%s --docker-username=USER --docker-password=PASSWORD -n %s --dry-run=client -o yaml | kubectl apply -f -", name, ref.Domain, d.Namespace))
	}
	return fixText(v)
}

func fixText(v registry.Verdict) []string {
	if v.Fix == "" {
		return nil
	}
	return []string{v.Fix}
}

// withTag is the image as written with its tag replaced (or added, for an implicit latest).
func withTag(ref *reference.Reference, tag string) string {
	if ref.Tag == "" {
		return ref.Original + ":" + tag
	}
	return strings.TrimSuffix(ref.Original, ":"+ref.Tag) + ":" + tag
}
