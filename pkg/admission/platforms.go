package admission

import (
	"context"
	"fmt"
	"slices"
	"strings"

	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	corev1helpers "k8s.io/component-helpers/scheduling/corev1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"
	"k8s.io/klog/v2"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/registry"
)

// candidatePlatforms is CandidatePlatforms for the handler: the Nodes from the informer cache,
// the configured autoscaled platforms.
func (h *Handler) candidatePlatforms(ctx context.Context, spec *corev1.PodSpec) ([]ocispec.Platform, error) {
	return CandidatePlatforms(ctx, spec, h.informers, h.autoscaledPlatforms)
}

// CandidatePlatforms returns the platforms of the nodes a pod with spec may land on, in
// registry.UniquePlatforms form, for registry.Request.Platforms. When the pod's own constraints
// pin both the OS and the architecture, they are the answer without looking at Nodes (the pod
// may target nodes an autoscaler has yet to add). Otherwise the answer is the distinct
// platforms of the Nodes listed from nodes (nil: none known) that the pod's required affinity
// matches and whose lasting taints it tolerates (see schedulingTaint), plus the autoscaled
// platforms the pod's constraints allow. Nil means unknown, and the engine then skips the
// platform check rather than guess.
func CandidatePlatforms(ctx context.Context, spec *corev1.PodSpec, nodes client.Reader, autoscaled []ocispec.Platform) ([]ocispec.Platform, error) {
	oses := pinnedValues(spec, corev1.LabelOSStable)
	if spec.OS != nil && spec.OS.Name != "" {
		oses = intersect(oses, sets.New(string(spec.OS.Name)))
	}
	arches := pinnedValues(spec, corev1.LabelArchStable)
	if oses != nil && arches != nil {
		var out []ocispec.Platform
		for _, osName := range sets.List(oses) {
			for _, arch := range sets.List(arches) {
				out = append(out, ocispec.Platform{OS: osName, Architecture: arch})
			}
		}
		return registry.UniquePlatforms(out), nil
	}
	if nodes == nil {
		return nil, nil
	}

	list := &corev1.NodeList{}
	// The informer cache would otherwise deep-copy every Node on every admission; nothing
	// here modifies them.
	if err := nodes.List(ctx, list, client.UnsafeDisableDeepCopy); err != nil {
		return nil, fmt.Errorf("listing nodes: %w", err)
	}
	// Without a nodeSelector or a required node affinity every node matches: no matcher to build
	// (it takes a copy of the whole pod spec).
	var affinity *nodeaffinity.RequiredNodeAffinity
	if len(spec.NodeSelector) > 0 || (spec.Affinity != nil && spec.Affinity.NodeAffinity != nil &&
		spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution != nil) {
		a := nodeaffinity.GetRequiredNodeAffinity(&corev1.Pod{Spec: *spec})
		affinity = &a
	}
	logger := klog.FromContext(ctx)
	var out []ocispec.Platform
	for i := range list.Items {
		n := &list.Items[i]
		p, ok := NodePlatform(n)
		if !ok || (spec.NodeName != "" && spec.NodeName != n.Name) ||
			(oses != nil && !oses.Has(p.OS)) || (arches != nil && !arches.Has(p.Architecture)) {
			continue
		}
		// Match reads labels and metadata.name, which slimNode keeps.
		if affinity != nil {
			if ok, err := affinity.Match(n); err != nil || !ok {
				continue
			}
		}
		if _, untolerated := corev1helpers.FindMatchingUntoleratedTaint(logger, n.Spec.Taints, spec.Tolerations, schedulingTaint, true); untolerated {
			continue
		}
		// Most clusters have a few platforms and many nodes: keep each once here rather than
		// sort them all by their formatted names.
		if !slices.ContainsFunc(out, func(q ocispec.Platform) bool { return samePlatform(p, q) }) {
			out = append(out, p)
		}
	}
	if len(out) > 0 {
		// Only a widening of what the Nodes say: more candidates can turn a refusal into a
		// warning, never the other way round.
		for _, p := range autoscaled {
			if (oses == nil || oses.Has(p.OS)) && (arches == nil || arches.Has(p.Architecture)) {
				out = append(out, p)
			}
		}
	}
	return registry.UniquePlatforms(out), nil
}

// samePlatform reports whether a and b are the same platform, field by field.
func samePlatform(a, b ocispec.Platform) bool {
	return a.OS == b.OS && a.Architecture == b.Architecture && a.Variant == b.Variant &&
		a.OSVersion == b.OSVersion && slices.Equal(a.OSFeatures, b.OSFeatures)
}

// NodePlatform is the platform a Node runs, read from its well-known labels; false when the Node
// does not name both its OS and its architecture, so that nothing can be concluded from it.
func NodePlatform(n *corev1.Node) (ocispec.Platform, bool) {
	osName, arch := n.Labels[corev1.LabelOSStable], n.Labels[corev1.LabelArchStable]
	if osName == "" || arch == "" {
		return ocispec.Platform{}, false
	}
	p := ocispec.Platform{OS: osName, Architecture: arch}
	if osName == "windows" {
		// The build decides which Windows images run there (containerd's Windows matcher).
		p.OSVersion = n.Labels[corev1.LabelWindowsBuild]
	}
	return p, true
}

// schedulingTaint reports whether a taint keeps pods that do not tolerate it off the node for
// good, as the scheduler's TaintToleration filter does for NoSchedule and NoExecute. The taints
// the node lifecycle controller and cloud providers set for a node's passing conditions
// (node.kubernetes.io/not-ready, unreachable, unschedulable, disk-pressure, ...;
// node.cloudprovider.kubernetes.io/uninitialized, shutdown) do not count: the node comes back, and
// DaemonSet pods tolerate most of them anyway. Leaving such a node out would hide a platform
// the pod can still land on, which could turn a partial platform match into a refusal.
func schedulingTaint(t *corev1.Taint) bool {
	if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
		return false
	}
	return !strings.HasPrefix(t.Key, "node.kubernetes.io/") && !strings.HasPrefix(t.Key, "node.cloudprovider.kubernetes.io/")
}

// pinnedValues returns the values the pod's nodeSelector and required node affinity allow for a
// node label, or nil when they do not restrict it to a finite set. Affinity terms are ORed, so
// the affinity pins the label only when every term does (with an In requirement).
func pinnedValues(spec *corev1.PodSpec, key string) sets.Set[string] {
	var out sets.Set[string]
	if v, ok := spec.NodeSelector[key]; ok {
		out = sets.New(v)
	}
	a := spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return out
	}
	terms := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
	if len(terms) == 0 {
		return out
	}
	union := sets.New[string]()
	for _, t := range terms {
		var term sets.Set[string]
		for _, r := range t.MatchExpressions {
			if r.Key == key && r.Operator == corev1.NodeSelectorOpIn {
				term = intersect(term, sets.New(r.Values...))
			}
		}
		if term == nil {
			return out
		}
		union = union.Union(term)
	}
	return intersect(out, union)
}

// intersect treats nil as "unrestricted".
func intersect(a, b sets.Set[string]) sets.Set[string] {
	switch {
	case a == nil:
		return b
	case b == nil:
		return a
	}
	return a.Intersection(b)
}
