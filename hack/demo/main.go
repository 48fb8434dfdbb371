// Command demo is `make demo`: it starts the local test bed (control plane, registries, the
// webhook installed from the Helm chart: charts/cmd/template's rendering, server-side applied
// with kubectl, with the bed's CA as certificates.caBundle), applies every file of examples/ in a warn and an enforce
// namespace with the real kubectl, shows exactly what kubectl prints, and stops everything on exit
// or Ctrl-C. It ends with what `pullguard check` says of the same files, `pullguard explain`
// on a pod of one the warn namespace admitted, and the re-verifier turning a running workload's
// Report to fail once its tag is deleted from the registry.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"text/tabwriter"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pullguard "github.com/pullguard/pullguard/cmd/pullguard/app"
	"github.com/pullguard/pullguard/internal/testbed"
	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/reverify"
)

func main() {
	chartTemplate := flag.String("chart-template", filepath.Join("bin", "chart-template"),
		"charts/cmd/template built (make demo builds it): the Helm SDK lives in the charts module")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	go func() {
		<-ctx.Done()
		// A second Ctrl-C kills at once; the children die with us (see testbed's Pdeathsig).
		stop()
	}()
	if err := run(ctx, os.Stdout, *chartTemplate); err != nil {
		if ctx.Err() != nil {
			fmt.Fprintln(os.Stderr, "demo: interrupted; everything it started is stopped")
			os.Exit(130)
		}
		fmt.Fprintf(os.Stderr, "demo: %v\n", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, out io.Writer, chartTemplate string) (retErr error) {
	fmt.Fprintln(out, ">> starting the local control plane, registries and webhook...")
	startCtx, cancel := context.WithTimeout(ctx, 3*time.Minute)
	bed, err := testbed.Start(startCtx, testbed.Options{Progress: out, Chart: &testbed.Chart{
		Namespace: releaseNamespace,
		Render: func(ctx context.Context, caBundle []byte) ([]byte, error) {
			return renderChart(ctx, chartTemplate, caBundle)
		},
	}})
	cancel()
	if err != nil {
		return err
	}
	defer func() {
		fmt.Fprintln(out, ">> stopping the webhook, registries and control plane...")
		start := time.Now()
		retErr = errors.Join(retErr, bed.Stop())
		fmt.Fprintf(out, ">> stopped in %s\n", time.Since(start).Round(10*time.Millisecond))
	}()

	examples, err := testbed.LoadExamples(bed.Root, bed.Registry.Host)
	if err != nil {
		return err
	}
	modes := []admission.Mode{admission.ModeWarn, admission.ModeEnforce}
	namespaces := map[admission.Mode]string{}
	for _, m := range modes {
		if namespaces[m], err = bed.Namespace(ctx, "demo-"+string(m), m); err != nil {
			return err
		}
	}
	fmt.Fprintf(out, "\nNodes: %s. Registry: %s (demo/* public, private/* needs credentials).\n",
		nodeList(), bed.Registry.Host)
	fmt.Fprintf(out, "Namespaces: %s (%s=warn) and %s (%s=enforce).\n",
		namespaces[admission.ModeWarn], admission.ModeLabel, namespaces[admission.ModeEnforce], admission.ModeLabel)

	outcomes := map[string]map[admission.Mode]testbed.Outcome{}
	step, steps := 0, len(examples)*len(modes)
	for _, ex := range examples {
		outcomes[ex.File] = map[admission.Mode]testbed.Outcome{}
		for _, m := range modes {
			step++
			ns := namespaces[m]
			fmt.Fprintf(out, "\n=== [%d/%d] examples/%s in the %s namespace: %s\n", step, steps, ex.File, m, ex.Summary)
			fmt.Fprintf(out, "$ sed 's|%s|%s|' examples/%s | kubectl apply -n %s -f -\n",
				testbed.RegistryPlaceholder, bed.Registry.Host, ex.File, ns)
			res, err := bed.Kubectl.Run(ctx, ex.Manifest, "apply", "-n", ns, "-f", "-")
			if err != nil {
				return err
			}
			fmt.Fprint(out, res.Output)
			outcomes[ex.File][m] = testbed.OutcomeOf(res)
		}
	}

	fmt.Fprintln(out, "\n=== Summary")
	tw := tabwriter.NewWriter(out, 0, 0, 3, ' ', 0)
	fmt.Fprintln(tw, "example\twarn namespace\tenforce namespace")
	for _, ex := range examples {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", ex.File, outcomes[ex.File][admission.ModeWarn], outcomes[ex.File][admission.ModeEnforce])
	}
	if err := tw.Flush(); err != nil {
		return fmt.Errorf("writing the summary: %w", err)
	}
	fmt.Fprintln(out)
	if err := check(ctx, out, bed, examples); err != nil {
		return err
	}
	if err := explain(ctx, out, bed, namespaces[admission.ModeWarn]); err != nil {
		return err
	}
	return reverifyDemo(ctx, out, bed, namespaces[admission.ModeWarn])
}

// reverifyDemo runs the chart's re-verifier (in process, as its ServiceAccount: the bed has no
// kubelet) and shows a running Deployment's Report turn from pass to fail, with its Warning
// Event, once its tag is deleted from the registry: what admission could not see coming.
func reverifyDemo(ctx context.Context, out io.Writer, bed *testbed.Bed, ns string) (retErr error) {
	fmt.Fprintf(out, "=== the re-verifier: running workloads checked again every %s (reverifier.scanInterval)\n", demoScanInterval)
	fmt.Fprintln(out, "$ kubectl apply --server-side -f charts/pullguard/crds/   # the openreports.io CRDs, as helm installs crds/")
	if err := bed.InstallReportCRDs(ctx); err != nil {
		return err
	}
	rv, err := bed.StartReverifier(ctx, testbed.ReverifierOptions{})
	if err != nil {
		return err
	}
	defer func() { retErr = errors.Join(retErr, rv.Stop()) }()
	shipped := rv.Args
	for i, a := range rv.Args {
		if strings.HasPrefix(a, "--kubeconfig=") {
			shipped = rv.Args[:i]
			break
		}
	}
	fmt.Fprintf(out, "(the re-verifier runs as the ServiceAccount %s/%s with the chart's args: /webhook %s)\n",
		releaseNamespace, testbed.ReverifierDeployment, strings.Join(shipped, " "))

	const name = "nightly"
	manifest, err := testbed.DeploymentYAML(ns, name, testbed.PodSpec(bed.Images.ToDelete))
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "$ kubectl apply -n %s -f nightly.yaml   # a Deployment of %s\n", ns, bed.Images.ToDelete)
	if err := kubectl(ctx, out, bed, manifest, "apply", "-n", ns, "-f", "-"); err != nil {
		return err
	}
	if err := bed.WaitReport(ctx, ns, "Deployment", name, "pass"); err != nil {
		return err
	}
	fmt.Fprintf(out, "$ kubectl get reports -n %s\n", ns)
	if err := kubectl(ctx, out, bed, nil, "get", "reports", "-n", ns); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n(the registry's retention policy deletes the tag: DELETE /v2/%s/manifests/to-delete)\n", testbed.RepoWeb)
	if err := bed.Registry.DeleteTag(ctx, bed.Images.ToDelete, testbed.Pusher); err != nil {
		return err
	}
	if err := bed.WaitReport(ctx, ns, "Deployment", name, "fail"); err != nil {
		return err
	}
	report := reverify.ReportName("Deployment", name)
	fmt.Fprintf(out, "$ kubectl get report %s -n %s\n", report, ns)
	if err := kubectl(ctx, out, bed, nil, "get", "report", report, "-n", ns); err != nil {
		return err
	}
	fmt.Fprintf(out, "$ kubectl get report %s -n %s -o jsonpath='{.results[*].message}'\n", report, ns)
	if err := kubectl(ctx, out, bed, nil, "get", "report", report, "-n", ns, "-o", "jsonpath={.results[*].message}"); err != nil {
		return err
	}
	fmt.Fprintf(out, "\n$ kubectl get events -n %s --field-selector reason=%s\n", ns, reverify.ReasonWillNotPull)
	if err := kubectl(ctx, out, bed, nil, "get", "events", "-n", ns, "--field-selector", "reason="+reverify.ReasonWillNotPull); err != nil {
		return err
	}
	fmt.Fprintln(out, "(its next pod start, a scale-up, a drain, a rollout, would end in ImagePullBackOff: the Report and the Event say so first)")
	fmt.Fprintln(out)
	return nil
}

// kubectl runs the real kubectl and prints what it printed; a non-zero exit is an error.
func kubectl(ctx context.Context, out io.Writer, bed *testbed.Bed, stdin []byte, args ...string) error {
	res, err := bed.Kubectl.Run(ctx, stdin, args...)
	if err != nil {
		return err
	}
	fmt.Fprint(out, res.Output)
	if res.ExitCode != 0 {
		return fmt.Errorf("kubectl %s: exit %d", strings.Join(args, " "), res.ExitCode)
	}
	return nil
}

// check shows `pullguard check` on the same files before any cluster sees them: the answer a CI
// job gets, with the same engine and messages, the nodes' platforms given as flags.
func check(ctx context.Context, out io.Writer, bed *testbed.Bed, examples []testbed.Example) error {
	dir := filepath.Join(bed.Dir, "examples")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("writing the examples for pullguard check: %w", err)
	}
	for _, ex := range examples {
		if err := os.WriteFile(filepath.Join(dir, ex.File), ex.Manifest, 0o644); err != nil {
			return fmt.Errorf("writing the examples for pullguard check: %w", err)
		}
	}
	// From the bed's directory, so the findings name examples/<file> as a CI job's would.
	wd, err := os.Getwd()
	if err != nil {
		return err
	}
	if err := os.Chdir(bed.Dir); err != nil {
		return err
	}
	defer func() { _ = os.Chdir(wd) }()
	args := []string{"check", "-f", "examples", "--platform", "linux/amd64",
		"--registry-ca-file", bed.LoopbackCAFile(), "--allow-private-registries", "127.0.0.1,localhost"}
	fmt.Fprintf(out, "=== pullguard check: the same files in CI, before the cluster\n")
	fmt.Fprintf(out, "$ pullguard check -f examples/ --platform linux/amd64\n")
	status := pullguard.Main(ctx, args, pullguard.IO{In: strings.NewReader(""), Out: out, ErrOut: out})
	fmt.Fprintf(out, "(exit status %d: 1 means an image the nodes cannot pull)\n\n", status)
	if status == 2 {
		return fmt.Errorf("pullguard check failed with exit status %d", status)
	}
	return nil
}

// explain shows `pullguard explain` on a pod the warn namespace admitted with a warning, once
// its node has failed to pull: the bed has no controller manager to turn the Deployments into
// pods, nor a kubelet, so the demo creates the pod web-typo's ReplicaSet would create, on an
// amd64 node, and writes the status and Event its kubelet would (testbed.FailPull).
func explain(ctx context.Context, out io.Writer, bed *testbed.Bed, ns string) error {
	const name = "web-typo-7c9d8-x2x9q"
	spec := testbed.PodSpec(bed.Images.TypoTag)
	spec.NodeName = testbed.DefaultNodes[0].Name
	manifest, err := testbed.PodYAML(ns, name, spec)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "=== pullguard explain: a pod of web-typo's image in the warn namespace, as its ReplicaSet would create it on %s\n", spec.NodeName)
	fmt.Fprintf(out, "$ kubectl apply -n %s -f pod.yaml\n", ns)
	if err := kubectl(ctx, out, bed, manifest, "apply", "-n", ns, "-f", "-"); err != nil {
		return fmt.Errorf("applying the pod to explain: %w", err)
	}
	created, err := bed.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return fmt.Errorf("reading the pod to explain: %w", err)
	}
	if err := testbed.FailPull(ctx, bed.Client, created, "app", testbed.ContainerdNotFound(bed.Images.TypoTag)); err != nil {
		return err
	}
	fmt.Fprintf(out, "(its kubelet's ErrImagePull status and Failed Event are written as a kubelet writes them: the bed has none)\n")
	fmt.Fprintf(out, "$ pullguard explain pod/%s -n %s\n", name, ns)
	args := []string{"explain", "pod/" + name, "-n", ns, "--kubeconfig", bed.ControlPlane.KubeconfigPath,
		"--registry-ca-file", bed.LoopbackCAFile(), "--allow-private-registries", "127.0.0.1,localhost"}
	status := pullguard.Main(ctx, args, pullguard.IO{In: strings.NewReader(""), Out: out, ErrOut: out})
	fmt.Fprintf(out, "(exit status %d: 1 means a container waits on its image)\n\n", status)
	if status == 2 {
		return fmt.Errorf("pullguard explain failed with exit status %d", status)
	}
	return nil
}

// releaseNamespace is the namespace the demo installs the chart into, the README's.
const releaseNamespace = "pullguard-system"

// demoScanInterval is the re-verifier's scan interval in the demo.
const demoScanInterval = "5s"

// renderChart runs charts/cmd/template, as `helm template` would run: the chart with the user's
// certificates (certificates.mode provided, the CA given as certificates.caBundle), the values
// on stdin so the PEM needs no quoting.
func renderChart(ctx context.Context, binary string, caBundle []byte) ([]byte, error) {
	root, err := testbed.RepoRoot(ctx)
	if err != nil {
		return nil, err
	}
	values, err := json.Marshal(map[string]any{
		"certificates": map[string]any{"mode": "provided", "caBundle": string(caBundle)},
		// The re-verifier with a scan interval a demo can wait for. Its default mode off
		// scans only the demo's labelled namespaces: the release's own Deployments name
		// ghcr.io images, which the demo does not ask about.
		"reverifier": map[string]any{"enabled": true, "scanInterval": demoScanInterval, "extraArgs": []string{"--default-mode=off"}},
	})
	if err != nil {
		return nil, err
	}
	cmd := exec.CommandContext(ctx, binary, "-chart", filepath.Join(root, "charts", "pullguard"),
		"-name", "pullguard", "-namespace", releaseNamespace, "-f", "-")
	cmd.Stdin = bytes.NewReader(values)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	manifest, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("%s: %w: %s", binary, err, bytes.TrimSpace(stderr.Bytes()))
	}
	return manifest, nil
}

func nodeList() string {
	var s []string
	for _, n := range testbed.DefaultNodes {
		desc := n.OS + "/" + n.Arch
		for _, t := range n.Taints {
			desc += ", taint " + t.ToString()
		}
		s = append(s, n.Name+" ("+desc+")")
	}
	return strings.Join(s, ", ")
}
