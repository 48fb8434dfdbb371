package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	authorizationv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/charts/render"
	"github.com/pullguard/pullguard/internal/testbed"
)

// testReverifier installs the chart's CRDs and the re-verifier's objects (reverifier.enabled)
// on the bed and asks the API server's own authorizer what the re-verifier's ServiceAccount may
// do: the grants the re-verifier needs, and none of the ones it must not have (list or watch of
// secrets, leases outside its namespace). Then, impersonating that ServiceAccount, it creates a
// Report the way the re-verifier will: the CRD accepts it and RBAC allows it.
//
// Running the re-verifier itself (`/webhook reverify`, the Deployment Available, a Report
// appearing for a Deployment of the bed) needs the subcommand, which is built on another
// branch; that test is left to the merge.
func testReverifier(t *testing.T, bed *testbed.Bed, chartDir string, apply func(t *testing.T, file []byte, extra ...string)) {
	ctx := t.Context()
	const ns, sa = "pullguard-system", "pullguard-reverify"
	crds, err := filepath.Glob(filepath.Join(chartDir, "crds", "*.yaml"))
	if err != nil || len(crds) == 0 {
		t.Fatalf("the chart's CRDs: %v %v", crds, err)
	}
	for _, crd := range crds {
		b, err := os.ReadFile(crd)
		if err != nil {
			t.Fatal(err)
		}
		apply(t, b)
	}
	for _, name := range []string{"reports.openreports.io", "clusterreports.openreports.io"} {
		res, err := bed.Kubectl.Run(ctx, nil, "wait", "--for=condition=Established", "--timeout=60s", "crd/"+name)
		if err != nil || res.ExitCode != 0 {
			t.Fatalf("CRD %s not established: %v %s", name, err, res.Output)
		}
	}

	templates, err := render.RenderDir(chartDir, render.Options{Values: map[string]any{"reverifier": map[string]any{"enabled": true}}})
	if err != nil {
		t.Fatal(err)
	}
	var mine []render.Template
	for _, tpl := range templates {
		if strings.HasPrefix(tpl.Name, "templates/reverifier/") {
			mine = append(mine, tpl)
		}
	}
	if len(mine) == 0 {
		t.Fatal("reverifier.enabled rendered no templates/reverifier/")
	}
	apply(t, render.Manifest(mine))

	user := "system:serviceaccount:" + ns + ":" + sa
	for what, tc := range map[string]struct {
		attrs authorizationv1.ResourceAttributes
		want  bool
	}{
		"list deployments":         {authorizationv1.ResourceAttributes{Group: "apps", Resource: "deployments", Verb: "list"}, true},
		"watch cronjobs":           {authorizationv1.ResourceAttributes{Group: "batch", Resource: "cronjobs", Verb: "watch"}, true},
		"watch pods":               {authorizationv1.ResourceAttributes{Resource: "pods", Verb: "watch"}, true},
		"list nodes":               {authorizationv1.ResourceAttributes{Resource: "nodes", Verb: "list"}, true},
		"get a secret":             {authorizationv1.ResourceAttributes{Namespace: "team-a", Resource: "secrets", Verb: "get", Name: "pull"}, true},
		"list secrets":             {authorizationv1.ResourceAttributes{Namespace: "team-a", Resource: "secrets", Verb: "list"}, false},
		"watch secrets":            {authorizationv1.ResourceAttributes{Resource: "secrets", Verb: "watch"}, false},
		"update a secret":          {authorizationv1.ResourceAttributes{Namespace: "team-a", Resource: "secrets", Verb: "update", Name: "pull"}, false},
		"list serviceaccounts":     {authorizationv1.ResourceAttributes{Resource: "serviceaccounts", Verb: "list"}, false},
		"update a deployment":      {authorizationv1.ResourceAttributes{Namespace: "team-a", Group: "apps", Resource: "deployments", Verb: "update", Name: "web"}, false},
		"create a report":          {authorizationv1.ResourceAttributes{Namespace: "team-a", Group: "openreports.io", Resource: "reports", Verb: "create"}, true},
		"update a report":          {authorizationv1.ResourceAttributes{Namespace: "team-a", Group: "openreports.io", Resource: "reports", Verb: "update", Name: "r"}, true},
		"list reports":             {authorizationv1.ResourceAttributes{Namespace: "team-a", Group: "openreports.io", Resource: "reports", Verb: "list"}, false},
		"create a cluster report":  {authorizationv1.ResourceAttributes{Group: "openreports.io", Resource: "clusterreports", Verb: "create"}, false},
		"create an event":          {authorizationv1.ResourceAttributes{Namespace: "team-a", Resource: "events", Verb: "create"}, true},
		"create an events.k8s.io":  {authorizationv1.ResourceAttributes{Namespace: "team-a", Group: "events.k8s.io", Resource: "events", Verb: "create"}, true},
		"update its lease":         {authorizationv1.ResourceAttributes{Namespace: ns, Group: "coordination.k8s.io", Resource: "leases", Verb: "update", Name: "pullguard-reverify"}, true},
		"update a lease elsewhere": {authorizationv1.ResourceAttributes{Namespace: "kube-system", Group: "coordination.k8s.io", Resource: "leases", Verb: "update", Name: "kube-scheduler"}, false},
		"delete its lease":         {authorizationv1.ResourceAttributes{Namespace: ns, Group: "coordination.k8s.io", Resource: "leases", Verb: "delete", Name: "pullguard-reverify"}, false},
	} {
		t.Run(what, func(t *testing.T) {
			if got := allowed(ctx, t, bed, user, tc.attrs); got != tc.want {
				t.Errorf("%s may %s %s/%s = %v, want %v", sa, tc.attrs.Verb, tc.attrs.Group, tc.attrs.Resource, got, tc.want)
			}
		})
	}

	// A Report of the shape the re-verifier writes, created as its ServiceAccount.
	report := `apiVersion: openreports.io/v1alpha1
kind: Report
metadata:
  name: deployment-web
  namespace: ` + ns + `
scope:
  apiVersion: apps/v1
  kind: Deployment
  name: web
  namespace: ` + ns + `
summary: {pass: 0, fail: 1, warn: 0, error: 0, skip: 0}
results:
  - source: pullguard
    policy: image-pullable
    result: fail
    message: the tag does not exist
`
	res, err := bed.Kubectl.Run(ctx, []byte(report), "create", "--as="+user, "-f", "-")
	if err != nil || res.ExitCode != 0 {
		t.Fatalf("creating a Report as %s: %v %s", user, err, res.Output)
	}
	res, err = bed.Kubectl.Run(ctx, nil, "get", "reports", "-n", ns, "deployment-web", "-o", "jsonpath={.summary.fail}")
	if err != nil || res.ExitCode != 0 || strings.TrimSpace(res.Output) != "1" {
		t.Errorf("reading the Report back: %v %q", err, res.Output)
	}
}

// allowed asks the API server's authorizer whether user may do attrs.
func allowed(ctx context.Context, t *testing.T, bed *testbed.Bed, user string, attrs authorizationv1.ResourceAttributes) bool {
	t.Helper()
	sar, err := bed.Client.AuthorizationV1().SubjectAccessReviews().Create(ctx, &authorizationv1.SubjectAccessReview{
		Spec: authorizationv1.SubjectAccessReviewSpec{
			User: user, Groups: []string{"system:serviceaccounts", "system:authenticated"},
			ResourceAttributes: &attrs,
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return sar.Status.Allowed
}
