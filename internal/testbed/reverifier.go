package testbed

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	openreports "github.com/openreports/reports-api/apis/openreports.io/v1alpha1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/pullguard/pullguard/cmd/webhook/app"
	"github.com/pullguard/pullguard/pkg/reverify"
)

// ReverifierDeployment is the re-verifier's Deployment (and ServiceAccount) in the shipped
// install (manifests/components/reverifier).
const ReverifierDeployment = "pullguard-reverify"

// InstallReverifier server-side applies the re-verifier's component
// (manifests/components/reverifier: its objects and the openreports.io CRDs, what
// overlays/reverifier adds to the default install) with the real kubectl and waits until the CRDs
// are established. The component is applied alone, on the install the bed applied already:
// applying the whole overlay again would give the webhook configuration back its service
// clientConfig next to the bed's URL. The re-verifier's Deployment is only read back: the bed has
// no kubelet, so StartReverifier runs it in this process.
func (b *Bed) InstallReverifier(ctx context.Context) error {
	dir, err := os.MkdirTemp(b.Dir, "reverifier-install-")
	if err != nil {
		return fmt.Errorf("creating the re-verifier install directory: %w", err)
	}
	// kustomize takes components by relative path only.
	component, err := filepath.Rel(dir, filepath.Join(b.Root, "manifests", "components", "reverifier"))
	if err != nil {
		return fmt.Errorf("locating the re-verifier component: %w", err)
	}
	k := "apiVersion: kustomize.config.k8s.io/v1beta1\nkind: Kustomization\ncomponents:\n  - " + component + "\n"
	if err := os.WriteFile(filepath.Join(dir, "kustomization.yaml"), []byte(k), 0o600); err != nil {
		return fmt.Errorf("writing the re-verifier kustomization: %w", err)
	}
	res, err := b.Kubectl.Run(ctx, nil, "apply", "--server-side", "--field-manager="+FieldManager, "-k", dir)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kubectl apply -k manifests/components/reverifier exited %d:\n%s", res.ExitCode, res.Output)
	}
	return b.waitReportCRDs(ctx)
}

// InstallReportCRDs server-side applies the chart's crds/ (the openreports.io CRDs), as Helm
// installs them before a release, and waits until they are established: for a bed installed from
// the chart (Options.Chart), whose rendering, as helm template's, leaves crds/ out.
func (b *Bed) InstallReportCRDs(ctx context.Context) error {
	dir := filepath.Join(b.Root, "charts", "pullguard", "crds")
	res, err := b.Kubectl.Run(ctx, nil, "apply", "--server-side", "--field-manager=helm", "-f", dir)
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("kubectl apply -f %s exited %d:\n%s", dir, res.ExitCode, res.Output)
	}
	return b.waitReportCRDs(ctx)
}

func (b *Bed) waitReportCRDs(ctx context.Context) error {
	res, err := b.Kubectl.Run(ctx, nil, "wait", "--for=condition=Established", "--timeout=60s",
		"crd/reports.openreports.io", "crd/clusterreports.openreports.io")
	if err != nil {
		return err
	}
	if res.ExitCode != 0 {
		return fmt.Errorf("the openreports.io CRDs were not established:\n%s", res.Output)
	}
	return nil
}

// WaitReport waits until the Report of the workload kind/name in ns says want (pass: every
// result passes; warn: some warn, none fails; fail: some fail), reading it with the real kubectl.
func (b *Bed) WaitReport(ctx context.Context, ns, kind, name, want string) error {
	ctx, cancel := context.WithTimeout(ctx, 90*time.Second)
	defer cancel()
	report := reverify.ReportName(kind, name)
	last := "no Report"
	for {
		res, err := b.Kubectl.Run(ctx, nil, "get", "report", report, "-n", ns, "-o", "json")
		var r openreports.Report
		if err == nil && res.ExitCode == 0 && json.Unmarshal([]byte(res.Output), &r) == nil {
			last = fmt.Sprintf("%d/%d/%d", r.Summary.Pass, r.Summary.Warn, r.Summary.Fail)
			if string(Worst(&r)) == want {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("the Report %s/%s did not turn %s (last pass/warn/fail: %s): %w", ns, report, want, last, ctx.Err())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Worst is a Report's overall result as its summary counts it: fail if any result fails, else
// warn if any warns, else pass if any passes; "" for a nil or empty Report.
func Worst(r *openreports.Report) openreports.Result {
	switch {
	case r == nil:
		return ""
	case r.Summary.Fail > 0:
		return "fail"
	case r.Summary.Warn > 0:
		return "warn"
	case r.Summary.Pass > 0:
		return "pass"
	}
	return ""
}

// ReverifierOptions configures StartReverifier.
type ReverifierOptions struct {
	// User runs the re-verifier as this user instead of its ServiceAccount (RBAC must bind it).
	User string
	// Args are appended to the shipped args and the bed's local flags (later flags win).
	Args []string
}

// StartReverifier runs `webhook reverify` in process with the shipped Deployment's args
// ($(VAR) references to its downward-API env expanded, as the kubelet does), as its
// ServiceAccount (so the shipped RBAC is exactly what it gets), the loopback registries
// allowlisted and their CA trusted, and waits for /readyz. Its /metrics token is the webhook's
// scraper's. Stop it with Stop; the bed does not.
func (b *Bed) StartReverifier(ctx context.Context, opts ReverifierOptions) (*InProcess, error) {
	d, err := b.Client.AppsV1().Deployments(b.Deployed.Namespace).Get(ctx, ReverifierDeployment, metav1.GetOptions{})
	if err != nil {
		return nil, fmt.Errorf("reading the re-verifier's Deployment (InstallReverifier first): %w", err)
	}
	if len(d.Spec.Template.Spec.Containers) == 0 {
		return nil, fmt.Errorf("the re-verifier's Deployment has no container")
	}
	c := d.Spec.Template.Spec.Containers[0]
	user, groups := opts.User, []string(nil)
	if user == "" {
		user, groups = serviceAccount(d.Namespace, d.Spec.Template.Spec.ServiceAccountName)
	}
	local, err := b.localArgs(user, groups)
	if err != nil {
		return nil, err
	}
	if len(c.Args) == 0 || c.Args[0] != app.ReverifyCommand {
		return nil, fmt.Errorf("the re-verifier's container runs %q, not %s", c.Args, app.ReverifyCommand)
	}
	args := expandEnvRefs(c.Args, c.Env, d.Namespace)
	args = append(append(args, local...), "--graceful-shutdown-timeout=5s")
	dir, err := os.MkdirTemp(b.Dir, "reverifier-")
	if err != nil {
		return nil, fmt.Errorf("creating the re-verifier directory: %w", err)
	}
	p, err := startInProcess(ctx, "re-verifier", append(args, opts.Args...), filepath.Join(dir, "reverifier.log"))
	if err != nil {
		return nil, err
	}
	if b.Webhook != nil {
		p.MetricsToken = b.Webhook.MetricsToken
	}
	return p, nil
}

// expandEnvRefs replaces $(NAME) in args with the value the kubelet would give NAME: a plain
// value, or the pod's namespace from the downward API.
func expandEnvRefs(args []string, env []corev1.EnvVar, namespace string) []string {
	var pairs []string
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			pairs = append(pairs, "$("+e.Name+")", e.Value)
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.namespace":
			pairs = append(pairs, "$("+e.Name+")", namespace)
		}
	}
	r := strings.NewReplacer(pairs...)
	out := make([]string, len(args))
	for i, a := range args {
		out[i] = r.Replace(a)
	}
	return out
}
