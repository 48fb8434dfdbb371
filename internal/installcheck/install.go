package installcheck

import (
	"testing"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	appsv1 "k8s.io/api/apps/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// Names and values every install shares, whatever renders it.
const (
	// WebhookName is the webhook's name in its configuration.
	WebhookName = "images.pullguard.io"
	// CertDir is controller-runtime's default --cert-dir, where the serving Secret is mounted.
	CertDir = "/tmp/k8s-webhook-server/serving-certs"
)

// Install is what one rendering must hold: its names and the values it was rendered with.
type Install struct {
	// Namespace holds every namespaced object.
	Namespace string
	// Name is the Deployment's, and that of its ServiceAccount, Service, PodDisruptionBudget,
	// NetworkPolicy, ClusterRole and ClusterRoleBinding.
	Name string
	// WebhookConfiguration and MetricsReader name the cluster-scoped objects.
	WebhookConfiguration, MetricsReader string
	// Image is the webhook container's image.
	Image string
	// Secret is the serving certificate's Secret, mounted at CertDir.
	Secret string

	Replicas, MinAvailable int32
	FailurePolicy          admissionregistrationv1.FailurePolicyType
	Mode                   string

	// CertManager: Issuers and Certificates are rendered and cert-manager injects the CA bundle.
	CertManager bool
	// SelfManaged: the webhook makes its own certificate in Secret and writes caBundle itself.
	SelfManaged bool
	// CABundle is the clientConfig.caBundle rendered (provided certificates); empty for none.
	CABundle string
	// IngressFrom are the only sources allowed to the webhook port; nil means anyone.
	IngressFrom []networkingv1.NetworkPolicyPeer
	// Cloud is which of the webhook's own cloud identities (registry.cloud) are enabled.
	Cloud CloudIdentities
}

// CloudIdentities are the cloud identities an install enables: each opens the node-local
// credential endpoint its SDK asks, and ACR labels the pods for AKS's workload identity webhook.
type CloudIdentities struct{ ECR, GCP, ACR bool }

// Run runs every check on the rendering, each as a subtest named after what it checks.
func Run(t *testing.T, o Objects, in Install) {
	t.Helper()
	for name, check := range map[string]func(*testing.T, Objects, Install){
		"namespaces":                                   checkNamespaces,
		"deployment/replicas":                          checkReplicas,
		"deployment/image and args":                    checkArgs,
		"deployment/probes":                            checkProbes,
		"deployment/resources and GOMEMLIMIT":          checkResources,
		"deployment/restricted security context":       checkSecurityContext,
		"deployment/dns":                               checkDNS,
		"deployment/serving certificate mount":         checkCertMount,
		"deployment/topology spread":                   checkTopologySpread,
		"pod disruption budget":                        checkPodDisruptionBudget,
		"service routes 443 to the webhook port":       checkService,
		"rbac/least privilege":                         checkClusterRole,
		"rbac/metrics reader grants GET /metrics only": checkMetricsReader,
		"rbac/bound to the webhook's service account":  checkBinding,
		"webhook configuration":                        checkWebhook,
		"webhook configuration/calls the Service":      checkClientConfig,
		"webhook configuration/rules":                  checkRules,
		"webhook configuration/namespace selector":     checkNamespaceSelector,
		"certificates":                                 checkCertificates,
		"certificates/self-managed":                    checkSelfManaged,
		"network policy/selects the webhook pods":      checkPolicySelector,
		"network policy/ingress":                       checkIngress,
		"network policy/egress":                        checkEgress,
		"deployment/cloud identity pod label": func(t *testing.T, o Objects, in Install) {
			checkWorkloadIdentityLabel(t, Deployment(t, o, in), in)
		},
	} {
		t.Run(name, func(t *testing.T) { check(t, o, in) })
	}
}

// checkNamespaces: namespaced objects live in the install's namespace, cluster-scoped ones in none.
func checkNamespaces(t *testing.T, o Objects, in Install) {
	for key := range o {
		if ClusterScoped[key.Kind] != (key.Namespace == "") {
			t.Errorf("%s: namespace %q for a kind that is cluster-scoped=%v", key, key.Namespace, ClusterScoped[key.Kind])
		}
		if !ClusterScoped[key.Kind] && key.Namespace != in.Namespace {
			t.Errorf("%s is outside %s", key, in.Namespace)
		}
	}
}

// checkWorkloadIdentityLabel: with ACR's workload identity the pods of d carry
// azure.workload.identity/use, without which AKS's webhook injects neither the token file nor
// AZURE_*; without it they do not.
func checkWorkloadIdentityLabel(t *testing.T, d *appsv1.Deployment, in Install) {
	if got := d.Spec.Template.Labels["azure.workload.identity/use"] == "true"; got != in.Cloud.ACR {
		t.Errorf("pod label azure.workload.identity/use=true = %v, want %v", got, in.Cloud.ACR)
	}
}
