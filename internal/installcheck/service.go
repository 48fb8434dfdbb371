package installcheck

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func checkPodDisruptionBudget(t *testing.T, o Objects, in Install) {
	pdb := Get[*policyv1.PodDisruptionBudget](t, o, "PodDisruptionBudget", in.Namespace, in.Name)
	d := Deployment(t, o, in)
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() != int(in.MinAvailable) {
		t.Fatalf("minAvailable %v, want %d", pdb.Spec.MinAvailable, in.MinAvailable)
	}
	// minAvailable equal to replicas would block every drain for good.
	if int32(pdb.Spec.MinAvailable.IntValue()) >= *d.Spec.Replicas {
		t.Errorf("minAvailable %s leaves no pod evictable out of %d", pdb.Spec.MinAvailable.String(), *d.Spec.Replicas)
	}
	if !selects(pdb.Spec.Selector, d) {
		t.Errorf("selector %v does not select the webhook pods", pdb.Spec.Selector)
	}
}

func checkService(t *testing.T, o Objects, in Install) {
	svc := Get[*corev1.Service](t, o, "Service", in.Namespace, in.Name)
	d := Deployment(t, o, in)
	if len(svc.Spec.Selector) == 0 || !labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(d.Spec.Template.Labels)) {
		t.Errorf("selector %v does not select the webhook pods", svc.Spec.Selector)
	}
	i := slices.IndexFunc(svc.Spec.Ports, func(p corev1.ServicePort) bool { return p.Name == "https" })
	if i < 0 || svc.Spec.Ports[i].Port != 443 || svc.Spec.Ports[i].TargetPort != intstr.FromString("https") {
		t.Fatalf("ports %+v, want https 443 → https", svc.Spec.Ports)
	}
	containerPort(t, Container(t, o, in), svc.Spec.Ports[i].TargetPort.StrVal)
}
