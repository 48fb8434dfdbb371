package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/spf13/pflag"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"sigs.k8s.io/controller-runtime/pkg/client"

	"github.com/pullguard/pullguard/pkg/admission"
	"github.com/pullguard/pullguard/pkg/config"
	"github.com/pullguard/pullguard/pkg/nodeerror"
	"github.com/pullguard/pullguard/pkg/registry"
)

// explainOptions is every setting of `pullguard explain`.
type explainOptions struct {
	// Target is pod/NAME or deploy/NAME; "" with AllNamespaces.
	Target        string
	Namespace     string
	AllNamespaces bool
	Cluster       clusterOptions
	Timeout       time.Duration
	ConfigFile    string

	Registry registry.Options
}

func defaultExplainOptions() explainOptions {
	return explainOptions{Namespace: "default", Timeout: 2 * time.Minute, Registry: defaultCheckOptions().Registry}
}

func newExplainFlagSet(o *explainOptions) *pflag.FlagSet {
	fs := pflag.NewFlagSet("explain", pflag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.SortFlags = false
	fs.StringVarP(&o.Namespace, "namespace", "n", o.Namespace, "Namespace of the pod or Deployment.")
	fs.BoolVarP(&o.AllNamespaces, "all-namespaces", "A", o.AllNamespaces,
		"Every pod of the cluster with a container waiting in ErrImagePull, ImagePullBackOff, InvalidImageName, ErrImageNeverPull or ImageInspectError, as a table.")
	o.Cluster.addFlags(fs)
	fs.DurationVar(&o.Timeout, "timeout", o.Timeout, "Longest the whole explanation may take.")
	fs.StringVar(&o.ConfigFile, "config", o.ConfigFile,
		"A "+configKind+" file (apiVersion "+config.APIVersion+") with the registry engine's settings under \"registry\", as in the webhook's file. Flags given on the command line win.")
	o.Registry.AddFlags(fs)
	fs.BoolP("help", "h", false, "Print this help and exit.")
	return fs
}

func parseExplainArgs(args []string) (explainOptions, error) {
	o := defaultExplainOptions()
	if err := newExplainFlagSet(&o).Parse(args); err != nil {
		return o, err
	}
	if o.ConfigFile != "" {
		file := o.ConfigFile
		o = defaultExplainOptions()
		if err := config.LoadFile(file, configKind, newExplainFlagSet(&o)); err != nil {
			return o, fmt.Errorf("--config: %w", err)
		}
	}
	fs := newExplainFlagSet(&o)
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if help, _ := fs.GetBool("help"); help {
		return o, pflag.ErrHelp
	}
	switch {
	case fs.NArg() > 1:
		return o, fmt.Errorf("one pod/NAME or deploy/NAME, got %q", fs.Args())
	case fs.NArg() == 1 && o.AllNamespaces:
		return o, errors.New("give pod/NAME, deploy/NAME or -A, not both")
	case fs.NArg() == 0 && !o.AllNamespaces:
		return o, errors.New("nothing to explain: give pod/NAME, deploy/NAME or -A")
	case o.Timeout <= 0:
		return o, fmt.Errorf("--timeout must be positive, got %s", o.Timeout)
	case o.Namespace == "":
		return o, errors.New("--namespace must not be empty")
	}
	if fs.NArg() == 1 {
		o.Target = fs.Arg(0)
		if _, _, err := parseTarget(o.Target); err != nil {
			return o, err
		}
	}
	if errs := o.Registry.Validate(); len(errs) > 0 {
		d := defaultExplainOptions()
		return o, config.Explain(errs, newExplainFlagSet(&d))
	}
	return o, nil
}

// parseTarget accepts kubectl's spellings of a pod or a Deployment.
func parseTarget(s string) (kind, name string, err error) {
	kind, name, ok := strings.Cut(s, "/")
	if !ok || name == "" {
		return "", "", fmt.Errorf("%q is not pod/NAME or deploy/NAME", s)
	}
	switch strings.ToLower(kind) {
	case "pod", "pods", "po":
		return "Pod", name, nil
	case "deploy", "deployment", "deployments", "deployment.apps":
		return "Deployment", name, nil
	}
	return "", "", fmt.Errorf("%q: explain takes pod/NAME or deploy/NAME, not %s", s, kind)
}

func explain(ctx context.Context, args []string, streams IO) int {
	o, err := parseExplainArgs(args)
	switch {
	case errors.Is(err, pflag.ErrHelp):
		d := defaultExplainOptions()
		fmt.Fprint(streams.Out, "Usage:\n  pullguard explain pod/NAME|deploy/NAME [-n NS] | -A [flags]\n\nFlags:\n"+newExplainFlagSet(&d).FlagUsages())
		return exitOK
	case err != nil:
		fmt.Fprintf(streams.ErrOut, "pullguard explain: %v\n", err)
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	c, err := o.Cluster.client()
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard explain: %v\n", err)
		return exitUsage
	}
	ropts := o.Registry
	ropts.UserAgent = "pullguard-cli/" + version
	checker, err := registry.New(ropts)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard explain: %v\n", err)
		return exitUsage
	}
	ds, err := runExplain(ctx, o, c, checker)
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard explain: %v\n", err)
		return exitUsage
	}
	if o.AllNamespaces {
		err = writeExplainTable(streams.Out, ds)
	} else {
		err = writeExplainText(streams.Out, ds)
	}
	if err != nil {
		fmt.Fprintf(streams.ErrOut, "pullguard explain: writing the report: %v\n", err)
		return exitUsage
	}
	for _, d := range ds {
		if d.Outcome == registry.NotPullable || d.Reason != "" {
			return exitNotPullable
		}
	}
	return exitOK
}

// diagnosis is what explain found for one image of one pod.
type diagnosis struct {
	Namespace, Pod, Container, FieldPath, Image string
	// Owner is what `kubectl set image` should change: deploy/NAME, or the pod itself.
	Owner string
	// Reason and Message are the container's waiting state ("" when it is not waiting on its image).
	Reason, Message string
	// Events are the kubelet's image Event messages for the container, newest first.
	Events    []string
	NodeCause nodeerror.Cause
	Platforms string
	// Outcome, Verdict and EngineMessage are what the registry answered now, in the webhook's words.
	Outcome       registry.Outcome
	Verdict       registry.Verdict
	EngineMessage string
	Notes         []string
	// Cause is the explanation in plain words, Fix the commands or steps that fit.
	Cause string
	Fix   []string
}

// runExplain reads the target pods and explains each of their images.
func runExplain(ctx context.Context, o explainOptions, c client.Reader, checker admission.Checker) ([]diagnosis, error) {
	pods, owner, err := targetPods(ctx, o, c)
	if err != nil {
		return nil, err
	}
	var out []diagnosis
	for i := range pods {
		ds, err := explainPod(ctx, c, checker, &pods[i], owner, o.AllNamespaces)
		if err != nil {
			return nil, err
		}
		out = append(out, ds...)
	}
	return out, nil
}

// targetPods returns the pods to explain and, for deploy/NAME, the owner to fix.
func targetPods(ctx context.Context, o explainOptions, c client.Reader) ([]corev1.Pod, string, error) {
	if o.AllNamespaces {
		var list corev1.PodList
		if err := c.List(ctx, &list); err != nil {
			return nil, "", fmt.Errorf("listing pods: %w", err)
		}
		var failing []corev1.Pod
		for _, p := range list.Items {
			if slices.ContainsFunc(allStatuses(&p), func(s corev1.ContainerStatus) bool {
				return s.State.Waiting != nil && nodeerror.IsImageReason(s.State.Waiting.Reason)
			}) {
				failing = append(failing, p)
			}
		}
		slices.SortFunc(failing, func(a, b corev1.Pod) int {
			return strings.Compare(a.Namespace+"/"+a.Name, b.Namespace+"/"+b.Name)
		})
		return failing, "", nil
	}
	kind, name, err := parseTarget(o.Target)
	if err != nil {
		return nil, "", err
	}
	key := client.ObjectKey{Namespace: o.Namespace, Name: name}
	if kind == "Pod" {
		var p corev1.Pod
		if err := c.Get(ctx, key, &p); err != nil {
			return nil, "", fmt.Errorf("reading pod %s: %w", key, err)
		}
		return []corev1.Pod{p}, "", nil
	}
	var d appsv1.Deployment
	if err := c.Get(ctx, key, &d); err != nil {
		return nil, "", fmt.Errorf("reading deployment %s: %w", key, err)
	}
	sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
	if err != nil {
		return nil, "", fmt.Errorf("deployment %s: its selector: %w", key, err)
	}
	var list corev1.PodList
	if err := c.List(ctx, &list, client.InNamespace(o.Namespace), client.MatchingLabelsSelector{Selector: sel}); err != nil {
		return nil, "", fmt.Errorf("listing the pods of deployment %s: %w", key, err)
	}
	if len(list.Items) == 0 {
		return nil, "", fmt.Errorf("deployment %s has no pods", key)
	}
	slices.SortFunc(list.Items, func(a, b corev1.Pod) int { return strings.Compare(a.Name, b.Name) })
	return list.Items, "deploy/" + name, nil
}

func allStatuses(p *corev1.Pod) []corev1.ContainerStatus {
	return slices.Concat(p.Status.InitContainerStatuses, p.Status.ContainerStatuses, p.Status.EphemeralContainerStatuses)
}

// podContainer is a container of the pod spec: its status and the field path of the kubelet's
// Event about it (kubecontainer.GenerateContainerRef: spec.containers{NAME}).
type podContainer struct {
	name, eventPath string
	status          *corev1.ContainerStatus
}

// containersByImagePath maps each container's image field path, as admission.Images names
// it, to the container.
func containersByImagePath(p *corev1.Pod) map[string]podContainer {
	status := map[string]*corev1.ContainerStatus{}
	for _, s := range allStatuses(p) {
		status[s.Name] = &s
	}
	out := map[string]podContainer{}
	add := func(field string, i int, name string) {
		out[fmt.Sprintf("spec.%s[%d].image", field, i)] = podContainer{name: name, eventPath: fmt.Sprintf("spec.%s{%s}", field, name), status: status[name]}
	}
	for i, c := range p.Spec.InitContainers {
		add("initContainers", i, c.Name)
	}
	for i, c := range p.Spec.Containers {
		add("containers", i, c.Name)
	}
	for i, c := range p.Spec.EphemeralContainers {
		add("ephemeralContainers", i, c.Name)
	}
	return out
}

// explainPod runs the webhook's own credential resolution and platform rule on the pod as
// admitted (its imagePullSecrets already hold the ServiceAccount's), with the node it runs on.
func explainPod(ctx context.Context, c client.Reader, checker admission.Checker, pod *corev1.Pod, owner string, failingOnly bool) ([]diagnosis, error) {
	data, err := json.Marshal(pod)
	if err != nil {
		return nil, err
	}
	w, _, err := admission.DecodeWorkload(corev1.SchemeGroupVersion.WithKind("Pod"), data)
	if err != nil {
		return nil, fmt.Errorf("pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	// The node the pod was scheduled to is its only candidate; before scheduling, the
	// cluster's Nodes are, narrowed by the pod's selectors as at admission.
	var nodes client.Reader = c
	if pod.Spec.NodeName != "" {
		var n corev1.Node
		switch err := c.Get(ctx, client.ObjectKey{Name: pod.Spec.NodeName}, &n); {
		case err == nil:
			nodes = platformNodes{nodes: []corev1.Node{n}}
		case !apierrors.IsNotFound(err):
			return nil, fmt.Errorf("reading node %s: %w", pod.Spec.NodeName, err)
		}
	}
	cfg := admission.DefaultConfig()
	// The CLI's user holds the credentials it reads: it hears everything they reveal.
	cfg.TrustUnauthenticatedCallers = true
	cfg.SecretCacheTTL = 0
	h, err := admission.NewHandler(cfg, checker, c, nodes, nil)
	if err != nil {
		return nil, err
	}
	creds := h.Credentials(ctx, w, pod.Namespace)
	plats, err := h.CandidatePlatforms(ctx, w)
	if err != nil {
		return nil, err
	}
	events, err := imageEvents(ctx, c, pod)
	if err != nil {
		return nil, err
	}
	if owner == "" {
		owner = ownerOf(ctx, c, pod)
	}
	containers := containersByImagePath(pod)
	var out []diagnosis
	for _, im := range w.Images() {
		ct := containers[im.Path]
		d := diagnosis{Namespace: pod.Namespace, Pod: pod.Name, Container: ct.name, FieldPath: im.Path, Image: im.Image, Owner: owner, Platforms: platformsKey(plats)}
		if s := ct.status; s != nil && s.State.Waiting != nil && nodeerror.IsImageReason(s.State.Waiting.Reason) {
			d.Reason, d.Message = s.State.Waiting.Reason, s.State.Waiting.Message
		}
		if failingOnly && d.Reason == "" {
			continue
		}
		d.Events = events[ct.eventPath]
		d.NodeCause = nodeerror.Classify(d.Reason, d.Message, d.Events...)
		d.Notes = append(d.Notes, creds.Notes...)
		switch {
		case im.PullPolicy == corev1.PullNever:
			d.Outcome, d.EngineMessage = registry.Unverifiable, admission.PullNeverNote
		case len(creds.Unreadable) > 0:
			d.Outcome, d.EngineMessage = registry.Unverifiable, admission.UnreadableMessage(creds.Unreadable)
		default:
			d.Verdict = checker.Check(ctx, registry.Request{Image: im.Image, Keyring: creds.Keyring, Platforms: plats,
				// Whoever may read the pod's secrets may learn what they reveal.
				TrustedCaller: true})
			d.Outcome, d.EngineMessage = admission.VerdictMessage(im.Image, d.Verdict)
			for _, n := range d.Verdict.Notes {
				d.Notes = append(d.Notes, admission.Attributed(im.Path, n))
			}
		}
		d.Cause, d.Fix = diagnose(&d, pod)
		out = append(out, d)
	}
	return out, nil
}

// imageEvents returns the kubelet's image Event messages for the pod, by the container field
// path they are about, newest first. Events are listed by the pod's name (the one field
// selector every API server indexes for Events) and kept when they are about this pod's UID.
func imageEvents(ctx context.Context, c client.Reader, pod *corev1.Pod) (map[string][]string, error) {
	var list corev1.EventList
	if err := c.List(ctx, &list, client.InNamespace(pod.Namespace),
		client.MatchingFieldsSelector{Selector: fields.OneTermEqualSelector("involvedObject.name", pod.Name)}); err != nil {
		return nil, fmt.Errorf("listing the events of pod %s/%s: %w", pod.Namespace, pod.Name, err)
	}
	var evs []corev1.Event
	for _, e := range list.Items {
		if e.InvolvedObject.Kind != "Pod" || (e.InvolvedObject.UID != "" && e.InvolvedObject.UID != pod.UID) {
			continue
		}
		switch e.Reason {
		case nodeerror.EventFailed, nodeerror.EventBackOff, nodeerror.EventInspectFailed, nodeerror.EventErrImageNeverPull:
			evs = append(evs, e)
		}
	}
	slices.SortStableFunc(evs, func(a, b corev1.Event) int { return eventTime(b).Compare(eventTime(a)) })
	out := map[string][]string{}
	for _, e := range evs {
		if !slices.Contains(out[e.InvolvedObject.FieldPath], e.Message) {
			out[e.InvolvedObject.FieldPath] = append(out[e.InvolvedObject.FieldPath], e.Message)
		}
	}
	return out, nil
}

// eventTime is when an Event last happened, in whichever field its writer filled.
func eventTime(e corev1.Event) time.Time {
	switch {
	case e.Series != nil && !e.Series.LastObservedTime.IsZero():
		return e.Series.LastObservedTime.Time
	case !e.LastTimestamp.IsZero():
		return e.LastTimestamp.Time
	case !e.EventTime.IsZero():
		return e.EventTime.Time
	}
	return e.CreationTimestamp.Time
}

// ownerOf is the workload `kubectl set image` should change: the Deployment of the pod's
// ReplicaSet, else the pod's controller, else the pod. Failing reads fall back to the pod.
func ownerOf(ctx context.Context, c client.Reader, pod *corev1.Pod) string {
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return "pod/" + pod.Name
	}
	if ref.Kind == "ReplicaSet" {
		var rs appsv1.ReplicaSet
		if err := c.Get(ctx, client.ObjectKey{Namespace: pod.Namespace, Name: ref.Name}, &rs); err == nil {
			if d := metav1.GetControllerOf(&rs); d != nil && d.Kind == "Deployment" {
				return "deploy/" + d.Name
			}
		}
	}
	return strings.ToLower(ref.Kind) + "/" + ref.Name
}
