package installcheck

import (
	"reflect"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
)

// checkSelfManaged: with self-managed certificates (--self-managed-certs), the webhook's flags
// name its Secret, its webhook configuration and the Service's DNS names; the Secret is
// rendered empty, for the webhook to fill; a Role and a ClusterRole grant list, watch and update
// on those two objects by name and nothing else. Without, none of it.
func checkSelfManaged(t *testing.T, o Objects, in Install) {
	role := in.Name + "-certs"
	flags := Flags(t, Container(t, o, in))
	if !in.SelfManaged {
		_, flag := flags["--self-managed-certs"]
		_, cr := o[Key{Kind: "ClusterRole", Name: role}]
		_, r := o[Key{Kind: "Role", Namespace: in.Namespace, Name: role}]
		_, rb := o[Key{Kind: "RoleBinding", Namespace: in.Namespace, Name: role}]
		if flag || cr || r || rb || len(All[*corev1.Secret](o)) > 0 {
			t.Errorf("self-managed flags or objects (Secret, Role, ClusterRole %s) in an install whose certificate comes from elsewhere", role)
		}
		return
	}
	ref := Webhook(t, o, in).ClientConfig.Service
	svc := ref.Name + "." + ref.Namespace + ".svc"
	for flag, want := range map[string]string{
		"--self-managed-certs": "true", "--cert-secret-namespace": in.Namespace, "--cert-secret-name": in.Secret,
		"--cert-webhook-configuration": in.WebhookConfiguration, "--cert-dns-names": svc + "," + svc + ".cluster.local",
	} {
		if flags[flag] != want {
			t.Errorf("%s=%q, want %q", flag, flags[flag], want)
		}
	}
	// Created empty: no key material in the manifests.
	if s := Get[*corev1.Secret](t, o, "Secret", in.Namespace, in.Secret); len(s.Data)+len(s.StringData) > 0 || s.Type != corev1.SecretTypeOpaque {
		t.Errorf("Secret %s: %d keys, type %s; want an empty Opaque Secret", in.Secret, len(s.Data)+len(s.StringData), s.Type)
	}
	byName := func(group, resource, object string) []rbacv1.PolicyRule {
		return []rbacv1.PolicyRule{{APIGroups: []string{group}, Resources: []string{resource}, ResourceNames: []string{object}, Verbs: []string{"list", "watch", "update"}}}
	}
	if got, want := Get[*rbacv1.Role](t, o, "Role", in.Namespace, role).Rules, byName("", "secrets", in.Secret); !reflect.DeepEqual(got, want) {
		t.Errorf("Role %s rules %+v, want %+v", role, got, want)
	}
	cr := Get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", role)
	if want := byName("admissionregistration.k8s.io", "validatingwebhookconfigurations", in.WebhookConfiguration); !reflect.DeepEqual(cr.Rules, want) || cr.AggregationRule != nil {
		t.Errorf("ClusterRole %s rules %+v, want %+v", role, cr.Rules, want)
	}
	subjects := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: in.Name, Namespace: in.Namespace}}
	if rb := Get[*rbacv1.RoleBinding](t, o, "RoleBinding", in.Namespace, role); rb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "Role", Name: role}) || !slices.Equal(rb.Subjects, subjects) {
		t.Errorf("RoleBinding %s: roleRef %+v subjects %+v", role, rb.RoleRef, rb.Subjects)
	}
	if crb := Get[*rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding", "", role); crb.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: role}) || !slices.Equal(crb.Subjects, subjects) {
		t.Errorf("ClusterRoleBinding %s: roleRef %+v subjects %+v", role, crb.RoleRef, crb.Subjects)
	}
}
