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
	// Named separately because it matters most: list or watch on secrets would cache every
	// Secret of the cluster in the webhook.
	if slices.ContainsFunc(got["secrets"], func(v string) bool { return v == "list" || v == "watch" }) {
		t.Errorf("secrets verbs %q include list or watch", got["secrets"])
	}
	if !maps.EqualFunc(got, granted, slices.Equal) {
		t.Errorf("granted %v, want %v", got, granted)
	}
}

func checkMetricsReader(t *testing.T, o Objects, in Install) {
	role := Get[*rbacv1.ClusterRole](t, o, "ClusterRole", "", in.MetricsReader)
	want := []rbacv1.PolicyRule{{NonResourceURLs: []string{"/metrics"}, Verbs: []string{"get"}}}
	if !reflect.DeepEqual(role.Rules, want) {
		t.Errorf("rules %+v, want %+v", role.Rules, want)
	}
}

func checkBinding(t *testing.T, o Objects, in Install) {
	b := Get[*rbacv1.ClusterRoleBinding](t, o, "ClusterRoleBinding", "", in.Name)
	if b.RoleRef != (rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: in.Name}) {
		t.Errorf("roleRef %+v, want ClusterRole %s", b.RoleRef, in.Name)
	}
	if want := []rbacv1.Subject{{Kind: rbacv1.ServiceAccountKind, Name: in.Name, Namespace: in.Namespace}}; !slices.Equal(b.Subjects, want) {
		t.Errorf("subjects %+v, want %+v", b.Subjects, want)
	}
}
