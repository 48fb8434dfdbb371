package installcheck

import (
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	rbacv1 "k8s.io/api/rbac/v1"
)

// granted is exactly what the webhook's ClusterRole grants, per resource (resource.group):
// anything more is a privilege the webhook does not use. The reviews are how the secure metrics
// endpoint checks who scrapes it.
var granted = map[string][]string{
	"secrets":                            {"get"},
	"serviceaccounts":                    {"get"},
	"nodes":                              {"get", "list", "watch"},
	"namespaces":                         {"get", "list", "watch"},
	"tokenreviews.authentication.k8s.io": {"create"},
	"subjectaccessreviews.authorization.k8s.io": {"create"},
}

func checkClusterRole(t *testing.T, o Objects, in Install) {
	role := Get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", in.Name)
	if got := grants(t, role); !maps.EqualFunc(got, granted, slices.Equal) {
		t.Errorf("granted %v, want %v", got, granted)
	}
}

// grants flattens a ClusterRole into its verbs per resource (resource.group, verbs sorted),
// failing on wildcards, resourceNames, non-resource URLs, aggregation, and above all list or
// watch on secrets, which would cache every Secret of the cluster in the pod.
func grants(t *testing.T, role *rbacv1.ClusterRole) map[string][]string {
	t.Helper()
	got := map[string][]string{}
	for _, rule := range role.Rules {
		if len(rule.ResourceNames) > 0 || len(rule.NonResourceURLs) > 0 || role.AggregationRule != nil {
			t.Errorf("rule %+v: unexpected resourceNames, nonResourceURLs or aggregation", rule)
		}
		for _, group := range rule.APIGroups {
			if group == rbacv1.APIGroupAll {
				t.Errorf("wildcard API group in %+v", rule)
			}
			for _, res := range rule.Resources {
				key := res
				if group != "" {
					key += "." + group
				}
				got[key] = append(got[key], rule.Verbs...)
			}
		}
	}
	for res, verbs := range got {
		slices.Sort(verbs)
		if strings.HasPrefix(res, rbacv1.ResourceAll) || slices.Contains(verbs, rbacv1.VerbAll) {
			t.Errorf("wildcard in %s: %q", res, verbs)
		}
	}
	if slices.ContainsFunc(got["secrets"], func(v string) bool { return v == "list" || v == "watch" }) {
		t.Errorf("secrets verbs %q include list or watch", got["secrets"])
	}
	return got
}

func checkMetricsReader(t *testing.T, o Objects, in Install) {
	role := Get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", in.MetricsReader)
	want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("rules %+v, want %+v", role.Rules, want)
	}
}

func checkBinding(t *testing.T, o Objects, in Install) {
	checkBoundTo(t, o, "ClusterRoleBinding", "", in.Name, in.Namespace)
}

// checkBoundTo: the binding of that kind and name grants the role of the same name (and kind
// ClusterRole or Role) to the ServiceAccount sa of namespace ns, and to no one else.
func checkBoundTo(t *testing.T, o Objects, kind, namespace, name, ns string) {
	t.Helper()
	var ref rbacv1.RoleRef
	var subjects []rbacv1.Subject
	switch kind {
	case "ClusterRoleBinding":
		b := Get[*rbacv1.ClusterRoleBinding](t, o, kind, namespace, name)
		ref, subjects = b.RoleRef, b.Subjects
	default:
		b := Get[*rbacv1.RoleBinding](t, o, kind, namespace, name)
		ref, subjects = b.RoleRef, b.Subjects
	}
	roleKind := strings.TrimSuffix(kind, "Binding")
	if ref != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: roleKind, Name: name}) {
		t.Errorf("%s %s roleRef %+v, want %s %s", kind, name, ref, roleKind, name)
	}
	sa := strings.TrimSuffix(name, "-leader-election")
	if want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: sa, Namespace: ns}}; !slices.Equal(subjects, want) {
		t.Errorf("%s %s subjects %+v, want %+v", kind, name, subjects, want)
	}
}
