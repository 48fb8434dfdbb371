package installcheck

import (
	"maps"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// egress is what the webhook may and may not reach: DNS, registries on their usual ports and the
// API server, but no private registry (allowed per install), no metadata service, no other port.
var egress = map[string]egressCase{
	"cluster DNS":                     {"10.96.0.10", 53, corev1.ProtocolUDP, true},
	"cluster DNS over TCP":            {"10.96.0.10", 53, corev1.ProtocolTCP, true},
	"NodeLocal DNSCache":              {"169.254.20.10", 53, corev1.ProtocolUDP, true},
	"public registry":                 {"203.0.113.10", 443, corev1.ProtocolTCP, true},
	"public registry on 5000":         {"203.0.113.10", 5000, corev1.ProtocolTCP, true},
	"public registry over IPv6":       {"2001:db8::10", 443, corev1.ProtocolTCP, true},
	"API server endpoint (kubeadm)":   {"10.0.0.5", 6443, corev1.ProtocolTCP, true},
	"API server endpoint (EKS)":       {"192.168.12.34", 443, corev1.ProtocolTCP, true},
	"private registry on 5000":        {"10.1.2.3", 5000, corev1.ProtocolTCP, false},
	"private registry IPv6 on 5000":   {"fd12::3", 5000, corev1.ProtocolTCP, false},
	"cloud metadata":                  {"169.254.169.254", 80, corev1.ProtocolTCP, false},
	"cloud metadata on 443":           {"169.254.169.254", 443, corev1.ProtocolTCP, false},
	"ECS credentials":                 {"169.254.170.2", 443, corev1.ProtocolTCP, false},
	"Alibaba metadata":                {"100.100.100.200", 443, corev1.ProtocolTCP, false},
	"AWS metadata over IPv6":          {"fd00:ec2::254", 443, corev1.ProtocolTCP, false},
	"IPv6 link-local":                 {"fe80::1", 443, corev1.ProtocolTCP, false},
	"public host on another port":     {"203.0.113.10", 22, corev1.ProtocolTCP, false},
	"public host on plain HTTP":       {"203.0.113.10", 80, corev1.ProtocolTCP, false},
	"private host on 6443 over IPv6":  {"fd12::1", 6443, corev1.ProtocolTCP, true},
	"metadata on the API server port": {"169.254.169.254", 6443, corev1.ProtocolTCP, false},
}

type egressCase struct {
	ip    string
	port  int32
	proto corev1.Protocol
	want  bool
}

// NetworkPolicy returns the policy of the webhook's pods.
func NetworkPolicy(t testing.TB, o Objects, in Install) *networkingv1.NetworkPolicy {
	t.Helper()
	return Get[*networkingv1.NetworkPolicy](t, o, "NetworkPolicy", in.Namespace, in.Name)
}

func checkPolicySelector(t *testing.T, o Objects, in Install) {
	np := NetworkPolicy(t, o, in)
	if !selects(&np.Spec.PodSelector, Deployment(t, o, in)) {
		t.Errorf("podSelector %v does not select the webhook pods", np.Spec.PodSelector)
	}
	types := slices.Sorted(slices.Values(np.Spec.PolicyTypes))
	if !slices.Equal(types, []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}) {
		t.Errorf("policyTypes %q, want Ingress and Egress", np.Spec.PolicyTypes)
	}
}

// checkIngress: only the webhook and metrics ports are open, and the webhook port only to the
// sources the install names (the control plane), or to anyone when it names none.
func checkIngress(t *testing.T, o Objects, in Install) {
	np := NetworkPolicy(t, o, in)
	c := Container(t, o, in)
	var open []int32
	var webhookFrom []networkingv1.NetworkPolicyPeer
	for _, rule := range np.Spec.Ingress {
		if len(rule.Ports) == 0 {
			t.Fatalf("ingress rule %+v opens every port", rule)
		}
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.Type != intstr.String {
				t.Fatalf("ingress port %v is not a named container port", p.Port)
			}
			port := containerPort(t, c, p.Port.StrVal)
			open = append(open, port)
			if p.Port.StrVal == "https" {
				webhookFrom = rule.From
			}
		}
	}
	slices.Sort(open)
	if want := []int32{8080, 9443}; !slices.Equal(open, want) {
		t.Errorf("ingress open on %v, want %v", open, want)
	}
	if !equality.Semantic.DeepEqual(webhookFrom, in.IngressFrom) {
		t.Errorf("webhook port from %+v, want %+v", webhookFrom, in.IngressFrom)
	}
}

// cloudEgress is what an enabled cloud identity opens on top of egress: the node-local
// endpoint its SDK gets the webhook's credentials from, and nothing else of the metadata range.
func cloudEgress(c CloudIdentities) map[string]egressCase {
	return map[string]egressCase{
		"cloud metadata":                {"169.254.169.254", 80, corev1.ProtocolTCP, c.GCP},
		"GKE metadata server":           {"169.254.169.252", 988, corev1.ProtocolTCP, c.GCP},
		"EKS Pod Identity agent":        {"169.254.170.23", 80, corev1.ProtocolTCP, c.ECR},
		"EKS Pod Identity agent (IPv6)": {"fd00:ec2::23", 80, corev1.ProtocolTCP, c.ECR},
		"EKS Pod Identity agent on 443": {"169.254.170.23", 443, corev1.ProtocolTCP, false},
		"GKE metadata server on 80":     {"169.254.169.252", 80, corev1.ProtocolTCP, false},
		"AWS metadata over IPv6 on 80":  {"fd00:ec2::254", 80, corev1.ProtocolTCP, false},
		"ECS credentials on 80":         {"169.254.170.2", 80, corev1.ProtocolTCP, false},
	}
}

// egressCases is egress with what in's cloud identities open.
func egressCases(in Install) map[string]egressCase {
	cases := maps.Clone(egress)
	maps.Copy(cases, cloudEgress(in.Cloud))
	return cases
}

func checkEgress(t *testing.T, o Objects, in Install) {
	np := NetworkPolicy(t, o, in)
	for what, tc := range egressCases(in) {
		ip := netip.MustParseAddr(tc.ip)
		if got := egressAllows(t, np, ip, tc.port, tc.proto); got != tc.want {
			t.Errorf("%s: %s %s allowed = %v, want %v", what, tc.proto, netip.AddrPortFrom(ip, uint16(tc.port)), got, tc.want)
		}
	}
}

// egressAllows reports whether the policy lets the selected pods open a connection to ip:port.
// It evaluates numeric ports and ipBlock peers only, which is all the shipped egress rules use.
func egressAllows(t *testing.T, np *networkingv1.NetworkPolicy, ip netip.Addr, port int32, proto corev1.Protocol) bool {
	t.Helper()
	for _, rule := range np.Spec.Egress {
		if len(rule.Ports) == 0 {
			t.Fatalf("egress rule %+v opens every port", rule)
		}
		portOK := false
		for _, p := range rule.Ports {
			if p.Port == nil || p.Port.Type != intstr.Int {
				t.Fatalf("egress port %+v is not numeric", p)
			}
			protocol := corev1.ProtocolTCP
			if p.Protocol != nil {
				protocol = *p.Protocol
			}
			portOK = portOK || (p.Port.IntVal == port && protocol == proto)
		}
		if !portOK {
			continue
		}
		if len(rule.To) == 0 {
			return true
		}
		for _, peer := range rule.To {
			if peer.IPBlock == nil {
				t.Fatalf("egress peer %+v is not an ipBlock", peer)
			}
			if ipBlockContains(t, peer.IPBlock, ip) {
				return true
			}
		}
	}
	return false
}

func ipBlockContains(t *testing.T, block *networkingv1.IPBlock, ip netip.Addr) bool {
	t.Helper()
	cidr, err := netip.ParsePrefix(block.CIDR)
	if err != nil {
		t.Fatalf("ipBlock cidr %q: %v", block.CIDR, err)
	}
	if !cidr.Contains(ip) {
		return false
	}
	for _, except := range block.Except {
		p, err := netip.ParsePrefix(except)
		// The API server rejects an except outside its cidr; keep the files valid.
		if err != nil || !cidr.Contains(p.Addr()) {
			t.Fatalf("ipBlock except %q invalid or outside %s", except, block.CIDR)
		}
		if p.Contains(ip) {
			return false
		}
	}
	return true
}
